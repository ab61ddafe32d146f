"""Which task a command runs when it is not named: the one its flags, option flags or preset's
options belong to (``bridge.cli.common``'s rule), or one error line saying what to give."""

from __future__ import annotations

import json
import subprocess
from dataclasses import fields

import numpy as np
import soundfile as sf
from engine_helpers import run_cli

from bridge.cli import main
from diffmusic_engine.damage import DAMAGE_TYPES, TASK_OF_FIELD

SR = 22050


def test_the_task_is_the_one_the_flags_given_belong_to(tmp_path, capsys, clip):
    tone, _ = sf.read(clip)
    tone[8820:9923] = 0.0  # a dropout at 0.40-0.45 s
    dropout, out = tmp_path / "dropout.wav", tmp_path / "out.wav"
    sf.write(dropout, tone, SR, subtype="PCM_16")
    argv = ["restore", str(dropout), "-o", str(out), "--gap", "0.40:0.45", "--json", "--quiet"]
    assert main(argv) == 0  # --gap alone: inpaint, as --task inpaint would
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["details"]["task"] == "inpaint"
    restored, _ = sf.read(out)
    assert np.all(np.abs(restored[8820:9923]).max(axis=0) > 0.2)  # the 0.3 tone filled back in
    np.testing.assert_array_equal(restored[:8700], tone[:8700])  # and nothing far from it


def test_no_damage_field_belongs_to_two_tasks():
    named = [f.name for cls in DAMAGE_TYPES.values() for f in fields(cls)]
    assert len(named) == len(set(named)) == len(TASK_OF_FIELD)


def test_an_option_flag_one_task_takes_names_it(tmp_path, capsys, cli_command):
    """--sensitivity alone had been "no task: give --task or --preset": it is declick's option
    alone (dsp/declick.py's table), so it names declick as --gap names inpaint. Run as a user
    runs it (the process)."""
    t = np.arange(SR) / SR
    clicked = 0.3 * np.sin(2 * np.pi * 330 * t)
    clicked[[5000, 12000]] += (0.6, -0.5)  # two one-sample clicks
    source, out = tmp_path / "clicked.wav", tmp_path / "out.wav"
    sf.write(source, clicked, SR, subtype="PCM_16")
    argv = ["restore", str(source), "-o", str(out), "--sensitivity", "0.8", "--json"]
    result = subprocess.run([*cli_command, *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout.splitlines()[-1])["details"]
    assert details["task"] == "declick" and len(details["clicks"]) == 2
    for sample, (start, end) in zip((5000, 12000), details["clicks"], strict=True):
        assert start <= sample / SR <= end
    # --seed is every task's: it names none, beside declick's flag or alone
    repaired = "note: repaired 2 click(s): "  # the one line said: what declick changed
    code, err = run_cli(capsys, [*argv[:4], "--seed", "3", "--sensitivity", "0.8", "--quiet"])
    assert code == 0 and len(err) == 1 and err[0].startswith(repaired)
    no_task = (1, ["error: no task: give --task or --preset"])
    assert run_cli(capsys, [*argv[:4], "--seed", "3"]) == no_task
    # a damage flag names the task first (the option tables are not read: they load every dsp
    # task, torch with them, and submit starts in a quarter of a second without); declick's
    # option is then refused by inpaint's table, in one line
    code, err = run_cli(capsys, [*argv[:6], "--gap", "0.1:0.2"])
    assert code == 1 and len(err) == 1
    assert err[0].startswith("error: dsp inpaint: unknown option(s) sensitivity")


def test_a_presets_options_name_its_task_as_flags_do(tmp_path, capsys):
    """A preset file with options and no task had answered "no task: give --task or --preset"
    though a preset was given: its options now name the task as option flags do (declick's
    sensitivity: declick, both clicks found), and where they name none the error says the preset
    names no task."""
    t = np.arange(SR) / SR
    clicked = 0.3 * np.sin(2 * np.pi * 330 * t)
    clicked[[5000, 12000]] += (0.6, -0.5)  # two one-sample clicks
    source, out = tmp_path / "clicked.wav", tmp_path / "out.wav"
    sf.write(source, clicked, SR, subtype="PCM_16")
    declick, seeded = tmp_path / "declick.toml", tmp_path / "seeded.toml"
    declick.write_text('[options]\nbackend = "dsp"\nsensitivity = 0.8\n')
    seeded.write_text("[options]\nseed = 3\n")
    argv = ["restore", str(source), "-o", str(out), "--quiet", "--preset"]
    code, err = run_cli(capsys, [*argv, str(declick)])
    assert code == 0 and len(err) == 1 and err[0].startswith("note: repaired 2 click(s): ")
    removed, _ = sf.read(tmp_path / "out_removed.wav")
    assert np.argsort(np.abs(removed))[-2:].tolist() in ([5000, 12000], [12000, 5000])
    code, err = run_cli(capsys, [*argv, str(seeded)])
    assert code == 1 and err == [
        f'error: no task: the preset {seeded} names none; give --task, or set task = "..." in '
        "the preset"
    ]


def test_an_option_names_a_task_only_where_one_task_alone_takes_it():
    """From the option tables: an option of one dsp task's table names it (dereverb's
    regularization only with a known impulse response); one of several tasks' tables (order:
    declick and inpaint; n_fft: separate, super-resolution and dereverb), the seed and the
    diffusion options (every task's) name none."""
    from diffmusic_engine.options import task_of_option

    names = ("sensitivity", "regularization", "momentum", "masks", "order", "n_fft", "iterations",
             "seed", "steps", "init", "nothing")  # fmt: skip
    named = {name: task_of_option(name) for name in names}
    assert named == {"sensitivity": "declick", "regularization": "dereverb",
                     "momentum": "phase-retrieval", "masks": "separate", "order": None,
                     "n_fft": None, "iterations": None, "seed": None, "steps": None,
                     "init": None, "nothing": None}  # fmt: skip


def test_a_note_about_many_clicks_names_the_first_five_and_counts_the_rest():
    from bridge.notes import notes_of
    from diffmusic_engine.backends import CLICKS_DETECTED, REPAIRED_CLICKS

    clicks = [[0.1 * k, 0.1 * k + 0.001] for k in range(1, 8)]
    (note,) = notes_of({REPAIRED_CLICKS: clicks, CLICKS_DETECTED: True})
    assert notes_of({REPAIRED_CLICKS: clicks, CLICKS_DETECTED: False}) == []  # given by the user
    assert note["text"] == (
        "repaired 7 click(s): 0.1000-0.1010 s, 0.2000-0.2010 s, 0.3000-0.3010 s, "
        "0.4000-0.4010 s, 0.5000-0.5010 s and 2 more; where what was removed holds music, an "
        "attack was taken for a click: lower the sensitivity, or give the clicks"
    )


def test_an_output_keeps_the_inputs_tags_and_says_what_it_cannot_keep(tmp_path, capsys):
    """Every tag and chunk of a BWF had been dropped without a word (its time reference, cue
    markers, title and artist); an MP3 "unchanged" output differed in every sample unsaid."""
    rate = 16000
    t = np.arange(rate) / rate
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio[8000:8160] = 0  # a dropout
    take = tmp_path / "reel.wav"
    with sf.SoundFile(take, "w", rate, 1, subtype="PCM_24") as file:
        file.write(audio)
        file.title, file.artist = "Take 3", "Quartet"
    riff = bytearray(take.read_bytes())  # a bext and a cue chunk after the samples, as a BWF
    for name, body in ((b"bext", bytes(602)), (b"cue ", (0).to_bytes(4, "little"))):
        riff += name + len(body).to_bytes(4, "little") + body
    riff[4:8] = (len(riff) - 8).to_bytes(4, "little")
    take.write_bytes(bytes(riff))
    out = tmp_path / "fixed.wav"
    code, err = run_cli(capsys, ["restore", str(take), "-o", str(out), "--task", "inpaint",
                                 "--gap", "0.5:0.51", "--quiet"])  # fmt: skip
    assert code == 0
    assert err == [
        f"note: {out}: its BWF bext chunk (time reference, description, originator) and its cue "
        "markers of reel.wav are not written (its text tags are); copy them with a BWF or "
        "metadata editor if the output needs them"
    ]
    with sf.SoundFile(out) as written:
        assert (written.title, written.artist) == ("Take 3", "Quartet")
    code, err = run_cli(capsys, ["restore", str(take), "-o", str(tmp_path / "fixed.mp3"),
                                 "--task", "inpaint", "--gap", "0.5:0.51", "--quiet"])  # fmt: skip
    assert code == 0 and err[0] == (
        f"warning: {tmp_path / 'fixed.mp3'}: .mp3 is re-encoded lossily, every sample with it, "
        "not only what was repaired; write a .flac or .wav to keep the rest as it was"
    )


def test_every_diffusion_option_has_its_flag_and_every_flag_is_read():
    import argparse

    from bridge.cli.common import FLAG_OPTIONS, add_backend_arguments, option_flags
    from diffmusic_engine.diffusion.options import OPTIONS

    parser = argparse.ArgumentParser()
    add_backend_arguments(parser)
    flags = {action.dest for action in parser._actions} - {"help", "backend"}
    assert flags == set(FLAG_OPTIONS) and set(OPTIONS) <= flags
    args = parser.parse_args(["--eta", "0.5", "--stereo", "per-channel", "--batch-size", "2",
                              "--room-steps", "0", "--no-vmc"])  # fmt: skip
    given = {"eta": 0.5, "stereo": "per-channel", "batch_size": 2, "room_steps": 0, "vmc": False}
    assert option_flags(args) == given


def test_a_rebuilt_phase_is_said_to_be_another_signal_of_the_inputs_magnitude(tmp_path, capsys):
    from bridge.notes import PHASE_REBUILT
    from diffmusic_engine.metrics import spectral_convergence

    rng = np.random.default_rng(0)
    rate = 22050  # a noisy chord: every phase below its magnitude matters
    t = np.arange(rate) / rate
    chord = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in (220, 277, 330))
    music = (0.2 * chord + 0.01 * rng.standard_normal(rate)).astype(np.float32)
    source, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(source, np.stack([music, music]).T, rate, subtype="FLOAT")
    argv = ["restore", str(source), "-o", str(out), "--task", "phase-retrieval", "--quiet"]
    assert main(argv) == 0
    assert f"note: {PHASE_REBUILT}" in capsys.readouterr().err.splitlines()
    # what the note says: the output is not the input, only of (nearly) its magnitude
    given, rebuilt = sf.read(source)[0].T, sf.read(out)[0].T
    assert 0.01 < spectral_convergence(given, rebuilt) < 0.5
    assert np.max(np.abs(rebuilt - given)) > 0.1  # another signal, not the input
