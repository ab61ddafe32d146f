"""Every bad input gets one clear error line, a non-zero exit, and no output file is touched."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf
from engine_helpers import run_cli

from bridge.cli import main
from diffmusic_engine.audio import read_audio

SR = 22050


def bad_file(tmp_path, kind: str):
    path = tmp_path / f"{kind}.wav"
    if kind == "unreadable":
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    elif kind == "zero bytes":
        path.write_bytes(b"")
    elif kind == "empty":
        sf.write(path, np.zeros((0, 1)), SR, subtype="FLOAT")
    elif kind == "nan":
        data = np.zeros((100, 1), np.float32)
        data[10] = np.nan
        sf.write(path, data, SR, subtype="FLOAT")
    elif kind == "folder":
        path.mkdir()
    return path


CASES = {
    "gap outside the file": (["--task", "inpaint", "--gap", "0.5:3.0"], "ends after the audio"),
    "end before start": (["--task", "inpaint", "--gap", "0.5:0.4"], "end must be after start"),
    "cutoff above Nyquist": (["--task", "super-resolution", "--cutoff", "12000"], "Nyquist"),
    "missing impulse response": (["--task", "dereverb", "--rir", "nope.wav"], "no such file"),
    "impulse response a folder": (["--task", "dereverb", "--rir", "."], "a folder, not a file"),
    "no task": ([], "no task: give --task or --preset"),
    "flags of two tasks": (
        ["--gap", "0.4:0.5", "--cutoff", "4000"],
        "no task, and the flags given belong to inpaint and super-resolution: give --task",
    ),
    # a value beginning with "-" and a digit had been taken for an unknown flag ("argument
    # --gap: expected one argument") unless written --gap=-1:2
    "gap before 0 after a space": (
        ["--task", "inpaint", "--gap", "-1:2"],
        "gap -1:2: starts before 0 s; give a START of 0 or later",
    ),
    "gap before 0 after =": (["--task", "inpaint", "--gap=-1:2"], "gap -1:2: starts before 0 s"),
    "second gap before 0": (
        ["--task", "inpaint", "--gap", "0.1:0.2", "--gap", "-.5:0.3"],
        "gap -0.5:0.3: starts before 0 s",
    ),
    "click before 0": (["--task", "declick", "--click", "-1:-0.99"], "expected finite times >= 0"),
    "negative weight": (
        ["--task", "separate", "--sources", "2", "--weights", "-0.5,1.5"],
        "each must be > 0",
    ),
    "crossfade below 0 in exponent form": (
        ["--task", "inpaint", "--gap", "0.5:0.6", "--crossfade", "-1e-3"],
        "crossfade -0.001 s: must be within",
    ),
    "weights not summing to one": (
        ["--task", "separate", "--sources", "2", "--weights", "0.9,0.9"],
        "sum to 1",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_damage_is_refused_before_anything_is_written(tmp_path, capsys, clip, case):
    flags, message = CASES[case]
    out = tmp_path / "out.wav"
    out.write_bytes(b"previous render")
    code, err = run_cli(capsys, ["restore", str(clip), "-o", str(out), "--quiet", *flags])
    assert code != 0
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert out.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "out.wav"]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unreadable", "; check that it is a whole audio file, or convert it to WAV or FLAC"),
        (
            "zero bytes",
            "cannot read audio (the file is empty); check that it is a whole audio file, "
            "or convert it to WAV or FLAC",
        ),
        ("empty", "empty audio (no samples); render or export the file again"),
        (
            "nan",
            "1 non-finite samples (NaN/Inf), the first in channel 1 of 1 at sample 10; "
            "render or export the file again, or as 16- or 24-bit integers",
        ),
        ("missing", "no such file"),
        ("folder", "a folder, not a file"),
    ],
)
def test_bad_audio_is_refused(tmp_path, capsys, kind, message):
    source = bad_file(tmp_path, kind)
    out = tmp_path / "out.wav"
    for argv in (
        ["restore", str(source), "-o", str(out), "--task", "inpaint", "--gap", "0:0.001"],
        ["degrade", str(source), "-o", str(out), "--task", "inpaint", "--gap", "0:0.001"],
    ):
        code, err = run_cli(capsys, argv)
        assert code != 0 and len(err) == 1 and message in err[0] and str(source.name) in err[0]
        assert not out.exists()


def test_output_may_not_overwrite_the_input(tmp_path, capsys, clip):
    before = clip.read_bytes()
    code, err = run_cli(
        capsys, ["restore", str(clip), "-o", str(clip), "--task", "phase-retrieval"]
    )
    assert code != 0 and "overwrite the input" in err[0]
    assert clip.read_bytes() == before


@pytest.mark.parametrize(
    ("frames", "channels", "rate", "said"),
    [(16000, 2, 16000, "sample rates differ: 22050 Hz (reference) vs 16000 Hz (estimate); "
      "resample the estimate to 22050 Hz, or score it against a reference at its own rate"),
     (SR, 1, SR, "channel counts differ: 2 (reference) vs 1 (estimate); score the estimate "
      "restored from this reference's damaged copy (a restoration keeps its input's channels)"),
     # 10 ms is 220.5 samples: 221 more is past it; 220 more is scored (below)
     (SR + 221, 2, SR, "lengths differ by more than 10 ms: 1.000 s (reference) vs 1.010 s "
      "(estimate); score the estimate restored from this reference's damaged copy (a "
      "restoration keeps its input's length), or cut both to the same span"),
     (SR // 2, 2, SR, "lengths differ by more than 10 ms: 1.000 s (reference) vs 0.500 s "
      "(estimate); score the estimate restored from this reference's damaged copy (a "
      "restoration keeps its input's length), or cut both to the same span")],
)  # fmt: skip
def test_eval_refuses_mismatched_files_with_the_remedy(
    tmp_path, capsys, clip, frames, channels, rate, said
):
    """Each had named the mismatch alone ("lengths differ: 22050 vs 11025 samples (> 10 ms)")."""
    other = tmp_path / "other.wav"
    sf.write(other, np.zeros((frames, channels)), rate)
    code, err = run_cli(capsys, ["eval", "--reference", str(clip), "--estimate", str(other)])
    assert (code, err) == (1, [f"error: {said}"])
    sf.write(other, np.zeros((SR + 220, 2)), SR)  # within the 10 ms a codec may pad
    assert main(["eval", "--reference", str(clip), "--estimate", str(other), "--quiet"]) == 0


def test_eval_scores_known_values(capsys, clip):
    assert main(["eval", "--reference", str(clip), "--estimate", str(clip), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["lsd"] == 0.0 and metrics["spectral_convergence"] == 0.0
    assert metrics["snr"] == 150.0  # identical signals: the documented cap


def test_eval_log_mel_distance_ignores_a_gain_that_lsd_counts(tmp_path, capsys, clip):
    """Half the amplitude: every power bin 6.02 dB down, so the LSD (RMS over bins of the
    log10 power ratio) is log10(4) = 0.602, and the gain-compensated log-mel distance is 0."""
    audio, rate = sf.read(clip, always_2d=True)
    half = tmp_path / "half.wav"
    sf.write(half, 0.5 * audio, rate, subtype="FLOAT")
    assert main(["eval", "--reference", str(clip), "--estimate", str(half), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    # (a little under: the floor in LSD's log keeps a pure tone's emptiest bins from 6.02 dB)
    assert metrics["lsd"] == pytest.approx(np.log10(4), abs=2e-3)
    assert metrics["log_mel_distance"] == pytest.approx(0.0, abs=1e-3)


def test_process_exit_code_and_json_error_line(tmp_path, clip, cli_command):
    out = tmp_path / "out.wav"
    result = subprocess.run(
        [*cli_command, "restore", str(clip), "-o", str(out), "--task", "inpaint"]
        + ["--gap", "0.9:1.5", "--json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["event"] == "error"
    assert result.stderr.strip().startswith("error: gap 0.9:1.5: ends after the audio")
    assert not out.exists()


def test_degrade_writes_the_operator_output(tmp_path, capsys, clip):
    out = tmp_path / "damaged.wav"
    argv = ["degrade", str(clip), "-o", str(out), "--task", "inpaint", "--gap", "0.25:0.5"]
    assert main(argv) == 0
    damaged, rate = sf.read(out, always_2d=True)
    clean, _ = sf.read(clip, always_2d=True)
    assert rate == SR
    assert np.all(damaged[int(0.25 * SR) : int(0.5 * SR)] == 0)
    np.testing.assert_array_equal(damaged[: int(0.25 * SR)], clean[: int(0.25 * SR)])


@pytest.mark.parametrize("where", ["folder.wav", "clip.wav/out.wav"])
def test_an_output_path_that_cannot_be_written_is_one_error_line(tmp_path, capsys, clip, where):
    """A folder where the output should be, or the input file where its folder should be: one
    line naming the path, exit 1, nothing written (was a traceback from os.replace/mkdir)."""
    (tmp_path / "folder.wav").mkdir()
    target = clip.parent / where if where.startswith("clip") else tmp_path / where
    before = sorted(p.name for p in clip.parent.iterdir())
    code, err = run_cli(capsys, ["restore", str(clip), "-o", str(target), "--quiet",
                                 "--task", "phase-retrieval"])  # fmt: skip
    assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and str(target) in err[0]
    assert sorted(p.name for p in clip.parent.iterdir()) == before


def test_separate_into_a_file_says_to_give_a_folder(tmp_path, capsys, clip):
    """It had named the problem and no remedy; the file is left as it was."""
    taken = tmp_path / "mix.wav"
    taken.write_bytes(b"kept")
    code, err = run_cli(capsys, ["restore", str(clip), "-o", str(taken), "--quiet",
                                 "--preset", "harmonic-percussive"])  # fmt: skip
    assert code == 1 and err == [
        f"error: {taken}: separate writes a folder (one file per source), but this is a file; "
        "give a folder, or a name not yet taken (created as one)"
    ]
    assert taken.read_bytes() == b"kept"


def test_no_command_writes_over_its_input(tmp_path, capsys, clip):
    """declick's second output (``<OUT>_removed``), degrade's output and diagnose's preset are
    checked against the input too, before any work (each used to overwrite it, exit 0)."""
    removed = tmp_path / "take_removed.wav"
    removed.write_bytes(clip.read_bytes())
    runs = [
        ["restore", str(removed), "-o", str(tmp_path / "take.wav"), "--task", "declick"],
        ["degrade", str(clip), "-o", str(tmp_path / "." / clip.name), "--task", "declip",
         "--level", "0.1"],
        ["diagnose", str(clip), "--preset-out", str(clip)],
    ]  # fmt: skip
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for argv, source in zip(runs, (removed, clip, clip), strict=True):
        code, err = run_cli(capsys, [*argv, "--quiet"])
        assert code == 1 and len(err) == 1, (argv[0], err)
        assert f"output would overwrite the input {source}; choose another name" in err[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_name_the_file_system_takes_is_written(tmp_path, capsys, clip):
    """A 250-character name: its temporary (``.<stem>.<12 hex>.tmp.wav``) used to pass the
    255-byte limit, and the restoration was lost to a traceback at the end."""
    out = tmp_path / ("a" * 246 + ".wav")
    code, err = run_cli(capsys, ["restore", str(clip), "-o", str(out), "--task", "declip",
                                 "--level", "0.2", "--quiet"])  # fmt: skip
    assert code == 0 and err == [] and out.is_file()
    code, err = run_cli(capsys, ["restore", str(clip), "-o", str(tmp_path / ("b" * 256 + ".wav")),
                                 "--task", "declip", "--level", "0.2", "--quiet"])  # fmt: skip
    assert code == 1 and len(err) == 1 and "the name is too long" in err[0]


def test_float_audio_over_full_scale_is_not_clipped_into_flac(tmp_path, capsys):
    """+5.1 dBFS (1.8) of float input: FLAC's 24-bit samples would clip it (written silently
    before); refused before any work with the remedy; a float WAV keeps it, peak and all."""
    hot = tmp_path / "hot.wav"
    t = np.arange(SR) / SR
    sf.write(hot, np.stack([1.8 * np.sin(2 * np.pi * 440 * t)] * 2).T, SR, subtype="FLOAT")
    code, err = run_cli(capsys, ["restore", str(hot), "-o", str(tmp_path / "o.flac"),
                                 "--task", "declip", "--level", "1.7", "--quiet"])  # fmt: skip
    assert code == 1 and len(err) == 1 and "peaks at +5.1 dBFS" in err[0] and ".wav" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hot.wav"]
    code, _ = run_cli(capsys, ["restore", str(hot), "-o", str(tmp_path / "o.wav"),
                               "--task", "declip", "--level", "1.7", "--quiet"])  # fmt: skip
    assert code == 0 and np.abs(sf.read(tmp_path / "o.wav")[0]).max() >= 1.79


def test_diagnose_with_no_damage_prints_its_findings_then_writes_no_preset(tmp_path, capsys):
    """Steady noise: no room, no damage; the table says so, then one error line, exit 1."""
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(1).standard_normal((3 * SR, 2)) * 0.1, SR)
    preset = tmp_path / "found.toml"
    code = main(["diagnose", str(noise), "--preset-out", str(preset), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and not preset.exists()
    assert out.splitlines()[0].split(None, 1) == ["reverb", "no room to measure (too short, "
                                                  "silent, or a steady sound)"]  # fmt: skip
    assert err == "error: no damage found: no preset written (--preset-out)\n"


def test_an_output_format_that_cannot_hold_the_input_is_refused_before_the_work(tmp_path, capsys):
    """96 kHz into MP3 (8-48 kHz) had been a libsndfile traceback after the restoration."""
    source = tmp_path / "hi.wav"
    sf.write(source, np.zeros((4800, 2)), 96000)
    out = tmp_path / "hi.mp3"
    code, err = run_cli(
        capsys, ["restore", str(source), "-o", str(out), "--task", "declip", "--level", "0.5"]
    )
    assert code == 1 and len(err) == 1 and not out.exists()
    assert err[0].startswith(f"error: {out}: .mp3 cannot hold 2 channel(s) at 96000 Hz (")


def test_a_restoration_over_full_scale_in_integer_samples_is_written_and_said(tmp_path, capsys):
    """Harmonic-percussive sources carry the mix's level over their weight (0.5): a 0.8 tone's
    harmonic source is about 1.6, +4.1 dBFS; written clipped (the work is kept), and said with
    the count of samples the file holds at full scale."""
    source = tmp_path / "tone.wav"
    t = np.arange(2 * SR) / SR
    sf.write(source, np.stack([0.8 * np.sin(2 * np.pi * 220 * t)] * 2, 1), SR, subtype="PCM_16")
    out = tmp_path / "sources"
    code, err = run_cli(capsys, ["restore", str(source), "-o", str(out), "--task", "separate",
                                 "--preset", "harmonic-percussive", "--quiet"])  # fmt: skip
    assert code == 0 and len(err) == 1, err
    assert err[0].startswith(f"warning: {out / 'tone_source1.wav'}: the audio peaks at +4.")
    assert "over the full scale of the 16-bit samples .wav holds (they clip); lower the " in err[0]
    said = int(err[0].split(" dBFS, ")[1].split(" sample(s)")[0])
    written = read_audio(out / "tone_source1.wav")[0]  # 16-bit: full scale is 32767/32768
    assert np.count_nonzero(np.abs(written) >= 32767 / 32768) >= said > 0


BAD_PRESETS = {  # file text -> the one error line's text (each had been a Python traceback)
    '{"task": "declick", "options": {"order": 1' + "0" * 400 + "}}": "order=1000",
    '{"task": "declick", "options": [1, 2]}': "options must be a table of NAME = value",
    '{"task": "declick", "options": {"backend": ["dsp"]}}': "backend ['dsp']: expected one of",
    '{"task": "declick", "clicks": [{"start": 1}]}': "span {'start': 1}: expected start and end",
    '{"task": "dereverb", "rir": 5}': "impulse response: expected finite samples",
}


@pytest.mark.parametrize("text", BAD_PRESETS)
def test_a_malformed_preset_is_one_error_line(tmp_path, capsys, clip, text):
    preset = tmp_path / "preset.json"
    preset.write_text(text)
    argv = ["restore", str(clip), "-o", str(tmp_path / "out.wav"), "--preset", str(preset)]
    code, err = run_cli(capsys, argv)
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("error: ") and BAD_PRESETS[text] in err[0] and len(err[0]) < 200


def test_degrade_seed_and_auto_cutoff_on_one_sample_are_one_line_each(tmp_path, capsys, clip):
    code, err = run_cli(capsys, ["degrade", str(clip), "-o", str(tmp_path / "d.wav"), "--task",
                                 "declick", "--seed", "-1"])  # fmt: skip
    assert (code, err) == (1, ["error: declick: option seed=-1 out of range 0..4294967295"])
    one = tmp_path / "one.wav"
    sf.write(one, np.zeros((1, 1)) + 0.1, SR)
    code, err = run_cli(capsys, ["restore", str(one), "-o", str(tmp_path / "o.wav"), "--task",
                                 "super-resolution", "--cutoff", "auto"])  # fmt: skip
    assert code == 0 and err[0].startswith(f"note: {tmp_path / 'o.wav'} is the input unchanged")


def test_degrade_declip_refuses_both_level_and_sdr(tmp_path, capsys, clip):
    """--sdr had silently won over --level."""
    argv = ["degrade", str(clip), "-o", str(tmp_path / "d.wav"), "--task", "declip",
            "--level", "0.3", "--sdr", "10"]  # fmt: skip
    code, err = run_cli(capsys, argv)
    assert (code, err) == (1, ["error: declip: degrading takes --level AMPLITUDE or --sdr DB, "
                               "not both"])  # fmt: skip
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((SR, 2)), SR)
    argv = ["degrade", str(silent), "-o", str(tmp_path / "d.wav"), "--task", "declip", "--sdr",
            "10"]  # fmt: skip
    code, err = run_cli(capsys, argv)  # had said "level 0.0: expected a positive amplitude"
    assert (code, err) == (1, ["error: declip: the clean audio is silent, so no clipping level "
                               "gives an SDR"])  # fmt: skip


def test_less_used_commands_refuse_bad_values_in_one_line(tmp_path, capsys, clip, monkeypatch):
    """Each had been a traceback or a silent misreading (--limit 0 ran every clip, --chorales
    -1 built three, a stereo room made degrade's mono output stereo)."""
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(SR) + 0.1, SR)
    room = tmp_path / "room.wav"
    sf.write(room, np.stack([np.r_[1.0, np.zeros(99)]] * 2, 1), SR)
    silent_room = tmp_path / "silent_room.wav"
    sf.write(silent_room, np.zeros(100), SR)
    cases = {
        ("restore", str(clip), "-o", ".", "--task", "declick"): ". is a folder",
        ("eval", "--reference", str(clip), "--estimate", str(clip), "--region", "nan:1"):
            "nan:1.0: expected START:END in finite seconds, e.g. 1.20:1.25",
        ("eval", "--reference", str(clip), "--estimate", str(clip), "--region", "-1:0.5"):
            "region -1:0.5: must lie inside the audio, start < end; give a START:END between 0 "
            "and 1.000 s",
        ("corpus", "build", str(tmp_path / "c"), "--duration", "0"): "--duration 0: expected",
        ("corpus", "build", str(tmp_path / "c"), "--chorales", "-1"): "--chorales -1: expected",
        ("bench-quality", str(tmp_path), "--limit", "0"): "--limit 0: expected 1 or more",
        ("degrade", str(mono), "-o", str(tmp_path / "d.wav"), "--task", "dereverb", "--rir",
         str(room)): "the impulse response has 2 channels, the audio 1; give a mono impulse "
        "response (one of its channels, or their mix)",
        ("restore", str(clip), "-o", str(tmp_path / "d.wav"), "--task", "dereverb", "--rir",
         str(silent_room)): "the impulse response is silent (all zeros); give the room's "
        "measured one",
        # an end this far overflowed as it was rounded to samples (an OverflowError traceback)
        ("restore", str(clip), "-o", str(tmp_path / "d.wav"), "--task", "inpaint", "--gap",
         "0.5:1e308"): "gap 0.5:1e+308: ends after the audio",
        # filled as one stretch, with a warning that the second gap held no dropout
        ("restore", str(clip), "-o", str(tmp_path / "d.wav"), "--task", "inpaint", "--gap",
         "0.2:0.4", "--gap", "0.3:0.5"): "gaps 0.2:0.4 and 0.3:0.5 overlap: give them as one, "
                                         "0.2:0.5",
    }  # fmt: skip
    monkeypatch.chdir(tmp_path)  # "-o ." had been a ValueError from pathlib
    for argv, message in cases.items():
        code, err = run_cli(capsys, [*argv, "--quiet"])
        assert code == 1 and len(err) == 1 and message in err[0], (argv, err)
    assert not (tmp_path / "c").exists() and not (tmp_path / "d.wav").exists()


def test_restore_json_done_line_carries_unchanged_at_top_level_as_submit_does(tmp_path, capsys):
    tone = tmp_path / "tone.wav"
    t = np.arange(SR) / SR
    sf.write(tone, 0.3 * np.sin(2 * np.pi * 220 * t) + 1e-3 * np.sin(2 * np.pi * 3000 * t), SR)
    code = main(
        ["restore", str(tone), "-o", str(tmp_path / "o.wav"), "--task", "declick", "--json"]
    )
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and done["event"] == "done"
    assert done["unchanged"] == done["details"]["unchanged"]
    assert done["unchanged"].startswith("no click found")


def test_out_of_range_numbers_are_usage_errors_before_anything_starts(tmp_path, capsys):
    """--timeout inf had been an OverflowError traceback, 0 'no reply ... after 3 tries' (the
    daemon blamed); serve --max-queued 0 answered every submit busy; --osc-port 99999 was an
    OverflowError once the daemon had written its connection file."""
    connection = tmp_path / "c.json"
    cases = {
        ("ping", "--timeout", "inf"): "argument --timeout: inf: expected more than 0 and at most",
        ("status", "job", "--timeout", "0"): "argument --timeout: 0: expected more than 0",
        ("serve", "--max-queued", "0"): "argument --max-queued: 0: expected a whole number >= 1",
        ("serve", "--osc-port", "99999"): "argument --osc-port: 99999: expected a whole number "
        "1..65535",
        ("serve", "--max-duration", "-5"): "argument --max-duration: -5: expected more than 0",
        ("serve", "--max-message-mb", "0"): "argument --max-message-mb: 0: expected at least 1",
    }
    for argv, message in cases.items():
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--connection-file", str(connection)])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and message in err[-1], (argv, err)
    assert not connection.exists()


def test_flags_that_only_make_damage_are_refused_by_restore(tmp_path, capsys, clip):
    """--sdr, --rate and --burst-db say how degrade makes damage: restore had taken and ignored
    them (exit 0, the clip unchanged); a flag a command lacks is one line naming that command's
    help (its 17-line usage had come first)."""
    out = tmp_path / "out.wav"
    for flags in (["--task", "declip", "--sdr", "10"], ["--task", "declick", "--rate", "5"],
                  ["--task", "declick", "--burst-db", "3"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(["restore", str(clip), "-o", str(out), *flags])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and err == [
            f"diffmusic restore: error: unrecognized arguments: {' '.join(flags[2:])} "
            "(see diffmusic restore --help)"
        ]
    assert not out.exists()
    with pytest.raises(SystemExit):  # a nested command's own help
        main(["corpus", "build", str(tmp_path / "corpus"), "--bogus"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "diffmusic corpus build: error: unrecognized arguments: --bogus "
        "(see diffmusic corpus build --help)"
    ]


def test_a_flag_of_another_task_is_named_as_typed(tmp_path, capsys, clip):
    """``--gap 5:6 --task declip`` had said "declip: unknown field(s) gaps" (a preset's field
    name, not the flag typed)."""
    out = tmp_path / "out.wav"
    cases = {
        ("--gap", "0.1:0.2"): "--gap: inpaint's, not declip's; drop it, or give --task inpaint",
        ("--cutoff", "4000", "--n-fft", "512"): "--cutoff (super-resolution), --n-fft "
        "(phase-retrieval): not declip's; drop them, or give the task they belong to",
        ("--n-fft", "512", "--hop", "128"): "--n-fft, --hop: phase-retrieval's, not declip's; "
        "drop them, or give --task phase-retrieval",
    }
    for flags, message in cases.items():
        code = main(["restore", str(clip), "-o", str(out), "--task", "declip", *flags])
        assert code == 1 and capsys.readouterr().err == f"error: {message}\n"
    assert not out.exists()


def test_a_gap_over_music_is_filled_as_asked_and_said(tmp_path, capsys):
    """A misplaced selection (the gap holds the song, not a dropout) had its music replaced
    without a word; a real dropout (silence) is not named."""
    t = np.arange(2 * SR) / SR
    song = tmp_path / "song.wav"
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))
    sf.write(song, tone, SR, subtype="FLOAT")
    code, err = run_cli(capsys, ["restore", str(song), "-o", str(tmp_path / "o.wav"), "--task",
                                 "inpaint", "--gap", "1.0:1.05", "--quiet"])  # fmt: skip
    assert code == 0 and len(err) == 1, err
    assert err[0].startswith("warning: gap 1.0000-1.0500 s held audio at -1")
    assert err[0].endswith("dB from the audio around it: not a dropout; its music was replaced")
    tone[SR : SR + SR // 20] = 0.0  # a dropout there
    sf.write(song, tone, SR, subtype="FLOAT")
    code, err = run_cli(capsys, ["restore", str(song), "-o", str(tmp_path / "o.wav"), "--task",
                                 "inpaint", "--gap", "1.0:1.05", "--quiet"])  # fmt: skip
    assert (code, err) == (0, [])
