"""The diffusion backend end to end on a tiny random-weight AudioLDM2 saved and loaded back.

What a random model generates is noise; these tests check what the long-form path guarantees
whatever the model: shapes, rates and channels, bit-identical audio outside the gaps, seeding,
and the ``diffmusic restore --backend diffusion`` command for every task.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.backends import FOUND_GAPS, REGIONS, REPAIRED_CLICKS
from diffmusic_engine.damage import Dereverb, Gap, Inpaint, SuperResolution
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.longform.bands import lowpass
from diffmusic_engine.longform.gaps import full_rate_ranges
from diffmusic_engine.models.testing import TEST_DEVICE
from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.slow
FAST = {"steps": 2, "device": TEST_DEVICE, "batch_size": 32}


def test_a_30_s_stereo_48k_region_keeps_length_rate_and_channels(tiny_model):
    clean = np.tile(music_excerpt(duration=3.0, sample_rate=48000, channels=2, seed=5), 10)
    damage = SuperResolution(cutoff=4000.0)
    audio = degrade(clean, 48000, damage)
    result = restore(audio, 48000, damage, backend="diffusion",
                     options={"model": tiny_model, **FAST, "steps": 1})  # fmt: skip
    out = result.audio
    assert result.sample_rate == 48000 and out.shape == audio.shape == (2, 1_440_000)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert result.details["windows"] > 1  # longer than the model window: overlap-added
    # below the cutoff the input is kept (data consistency): the band-limited error is tiny
    low_error = lowpass(out - audio, 48000, 3000.0)
    assert np.sqrt(np.mean(low_error**2)) < 1e-3 * np.sqrt(np.mean(audio**2))
    # above it the output is no longer empty (model band, then dsp band replication)
    top = np.mean((out - lowpass(out, 48000, 4500.0)) ** 2)
    assert top > 100 * np.mean((audio - lowpass(audio, 48000, 4500.0)) ** 2)


@pytest.fixture(scope="module")
def gapped(tiny_model):
    clean = music_excerpt(duration=3.0, sample_rate=44100, channels=2, seed=2)
    damage = Inpaint(gaps=(Gap(0.8, 0.85), Gap(2.0, 2.2)))
    damaged = degrade(clean, 44100, damage)
    return damaged, damage


# the gapped fixture's gaps 0.8-0.85 s and 2.0-2.2 s at 44.1 kHz, rounded to whole samples: all
# the diffusion fill changes (its crossfades lie inside the gaps; dsp's widen them by theirs)
GAPPED_REGIONS = [[35280, 37485], [88200, 97020]]


def test_inpainting_is_bit_identical_outside_the_gaps(tiny_model, gapped):
    damaged, damage = gapped
    result = restore(damaged, 44100, damage, backend="diffusion",
                     options={"model": tiny_model, **FAST})  # fmt: skip
    out = result.audio
    assert result.details[REGIONS] == GAPPED_REGIONS  # as dsp's, for --spectrogram to zoom on
    outside = np.ones(damaged.shape[-1], bool)
    for a, b in full_rate_ranges(damage.gaps, 44100, damaged.shape[-1]):
        outside[a:b] = False
        assert np.abs(out[:, a + 100 : b - 100]).max() > 0  # the dropout was filled
    assert np.array_equal(out[:, outside], damaged[:, outside])


def test_the_regions_filled_are_reported_where_the_dropouts_were_found(tiny_model, gapped):
    """``gaps="auto"``: details[REGIONS] are the dropouts found, the gaps given to degrade (the
    diffusion backend had reported none, and --spectrogram drew the whole file unmarked)."""
    damaged, _ = gapped
    found = restore(damaged, 44100, Inpaint(gaps="auto"), backend="diffusion",
                    options={"model": tiny_model, **FAST})  # fmt: skip
    assert found.details[REGIONS] == GAPPED_REGIONS
    assert found.details[FOUND_GAPS] == [[0.8, 0.85], [2.0, 2.2]]


def test_declip_and_declick_change_only_the_damaged_samples(tiny_model, gapped):
    """The model rebuilds the whole track; only the clipped samples and the click's span take
    it (every sample had changed, the README promises the rest bit-identical)."""
    from diffmusic_engine.clipping import clipped_mask
    from diffmusic_engine.damage import Declick, Declip

    music = gapped[0][:, : 44100 // 2]
    options = {"model": tiny_model, **FAST}
    clipped = np.clip(music, -0.2, 0.2)
    out = restore(clipped, 44100, Declip(level=0.2), backend="diffusion", options=options).audio
    held = ~clipped_mask(clipped, 0.2)
    assert held.mean() < 0.99 and np.array_equal(out[held], clipped[held])
    assert np.all(np.abs(out[~held]) >= 0.2 * (1 - 1e-4))  # beyond the level, as clipping says
    assert np.abs(out[~held]).max() > 0.2 * 1.1  # and rebuilt there: not all left at the level
    click = Declick(clicks=(Gap(0.25, 0.251),))
    declicked = restore(music, 44100, click, backend="diffusion", options=options)
    restored, removed = declicked.tracks
    # 0.25-0.251 s at whole samples (11025-11069), as dsp's clicks, for --spectrogram to zoom on
    assert declicked.details[REPAIRED_CLICKS] == [[0.25, 11069 / 44100]]
    outside = np.ones(music.shape[-1], bool)
    outside[11025:11069] = False
    assert np.array_equal(restored[:, outside], music[:, outside])
    assert restored.shape == music.shape and np.isfinite(restored).all()
    # inside the click every sample is the model's: none left as it was (a no-op passed here)
    assert np.all(restored[:, ~outside] != music[:, ~outside])
    np.testing.assert_array_equal(removed, music - restored)
    assert not np.any(removed[:, outside]) and np.all(removed[:, ~outside] != 0)


def test_same_seed_same_output(tiny_model):
    clean = music_excerpt(duration=1.5, sample_rate=32000, channels=1, seed=6)
    damage = Inpaint(gaps=(Gap(0.7, 0.8),))
    damaged = degrade(clean, 32000, damage)

    def run(seed):
        options = {"model": tiny_model, **FAST, "seed": seed}
        return restore(damaged, 32000, damage, backend="diffusion", options=options).audio

    first = run(3)
    assert np.array_equal(first, run(3))
    assert not np.array_equal(first, run(4))


TASK_FLAGS = {
    "inpaint": ["--gap", "0.30:0.40"],
    "super-resolution": ["--cutoff", "4000"],
    "phase-retrieval": ["--n-fft", "512", "--hop", "128"],
    "separate": ["--sources", "2"],
    "dereverb": ["--rir", "{rir}"],
    # at 44.1 kHz: above the model's band, dsp's declick had come back as two tracks (traceback)
    "declip": ["--level", "0.2"],
    "declick": ["--click", "0.5:0.501"],
}


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> tuple:
    """A 1 s stereo 24-bit file at 44.1 kHz and a room impulse response file."""
    folder = tmp_path_factory.mktemp("cli")
    source = folder / "take.wav"
    write_audio(source, music_excerpt(duration=1.0, sample_rate=44100, seed=4), 44100,
                source_dtype="int24")  # fmt: skip
    rir = folder / "room.wav"
    write_audio(rir, synthetic_rir(0.2, 44100)[None], 44100)
    return source, rir


def restore_command(source, output, task, rir, model) -> list[str]:
    return [
        "restore", str(source), "-o", str(output), "--task", task,
        *[f.format(rir=rir) for f in TASK_FLAGS[task]], "--backend", "diffusion",
        "--model", model, "--steps", "2", "--seed", "1", "--device", TEST_DEVICE, "--json",
    ]  # fmt: skip


def check_outputs(source, output, task) -> None:
    paths = sorted(output.iterdir()) if task == "separate" else [output]
    if task == "separate":
        assert [p.name for p in paths] == ["take_source1.wav", "take_source2.wav"]
    expected, info = read_audio(source)
    for path in paths:
        audio, written = read_audio(path)
        assert audio.shape == expected.shape and written.sample_rate == 44100
        assert written.file_dtype == info.file_dtype


@pytest.mark.parametrize("task", list(TASK_FLAGS))
def test_the_restore_command_runs_every_task(tiny_model, take, tmp_path, task, capsys):
    """``diffmusic restore --backend diffusion``: the CLI's code in this process (the model
    stays loaded between tasks; the next test runs the console command itself)."""
    source, rir = take
    output = tmp_path / ("sources" if task == "separate" else f"{task}.wav")
    assert main(restore_command(source, output, task, rir, tiny_model)) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[-1]["event"] == "done" and events[-1]["details"]["seed"] == 1
    assert events[-1]["details"]["guidance_dtype"] == "float32"
    check_outputs(source, output, task)


def test_the_guidance_dtype_flag_reaches_the_solver(tiny_model, take, tmp_path, capsys):
    source, rir = take
    command = restore_command(source, tmp_path / "out.wav", "inpaint", rir, tiny_model)
    assert main([*command, "--guidance-dtype", "bfloat16"]) == 0
    bf16 = read_audio(tmp_path / "out.wav")[0]
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["details"]["guidance_dtype"] == "bfloat16"
    assert main(command) == 0
    assert not np.array_equal(read_audio(tmp_path / "out.wav")[0], bf16)  # it guided in bf16


def test_the_picture_of_a_found_dropout_zooms_on_it_as_dsp_s(tiny_model, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    """``restore --gap auto --spectrogram``: zoomed on the dropout filled, its edges dashed, as
    the dsp backend's picture of the same regions (the diffusion one had been the whole file,
    unmarked). dsp with --crossfade 0 fills the gaps alone, as the diffusion backend does."""
    import diffmusic_engine.evaluation.plots as plots
    from bridge.cli.picture import PAD_S

    views = []
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        views.append(view), path.write_bytes(b"\x89PNG"))[1])  # fmt: skip
    audio = music_excerpt(duration=1.0, sample_rate=44100, channels=2, seed=4)
    audio[:, 17640:22050] = 0.0  # a dropout at 0.4-0.5 s
    source, png = tmp_path / "dropout.wav", str(tmp_path / "look.png")
    write_audio(source, audio, 44100)
    argv = restore_command(source, tmp_path / "diffusion.wav", "inpaint", None, tiny_model)
    argv[argv.index("0.30:0.40")] = "auto"
    assert main([*argv, "--spectrogram", png]) == 0
    dsp = ["restore", str(source), "-o", str(tmp_path / "dsp.wav"), "--gap", "auto"]
    assert main([*dsp, "--crossfade", "0", "--spectrogram", png]) == 0
    capsys.readouterr()
    diffusion_view, dsp_view = views
    assert diffusion_view["marks"] == dsp_view["marks"] == (0.4, 0.5)
    assert diffusion_view["span"] == dsp_view["span"] == pytest.approx((0.4 - PAD_S, 0.5 + PAD_S))


def test_the_console_command_separates_into_a_folder(tiny_model, take, tmp_path, cli_command):
    source, rir = take
    output = tmp_path / "sources"
    command = [*cli_command, *restore_command(source, output, "separate", rir, tiny_model)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert process.returncode == 0, process.stderr[-2000:]
    assert json.loads(process.stdout.splitlines()[-1])["event"] == "done"
    check_outputs(source, output, "separate")
    # --json is quiet: nothing on stderr, transformers' "Loading weights" bars neither
    assert process.stderr == ""


def test_the_console_command_names_a_missing_model(take, tmp_path, cli_command):
    source, rir = take
    missing = tmp_path / "no-such-model"
    command = [*cli_command, *restore_command(source, tmp_path / "x.wav", "inpaint", rir,
                                              str(missing))]  # fmt: skip
    process = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert process.returncode == 1 and not (tmp_path / "x.wav").exists()
    last = process.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no-such-model" in last


def reverberant_take(seconds: float = 2.5) -> np.ndarray:
    """Stereo 44.1 kHz music in a 0.6 s room: long enough (2 s) for the room estimate."""
    clean = music_excerpt(duration=seconds, sample_rate=44100, channels=2, seed=8)
    return degrade(clean, 44100, Dereverb(rir=synthetic_rir(0.6, 44100)))


def test_blind_dereverb_fits_the_room_and_reports_it(tiny_model):
    audio = reverberant_take()
    result = restore(audio, 44100, Dereverb(), backend="diffusion",
                     options={"model": tiny_model, **FAST})  # fmt: skip
    assert result.audio.shape == audio.shape and np.isfinite(result.audio).all()
    room = result.details["room"]
    warm = room["warm_start"]["rt60_bands"]
    assert warm and room["room_steps"] == 3
    # the model's octave bands (below 0.45 x 16 kHz), each with a positive T60 and a level
    assert list(room["rt60_bands"]) == ["125", "250", "500", "1000", "2000", "4000"]
    assert set(room["level_db_bands"]) == set(room["rt60_bands"])
    assert all(0 < t < 10 for t in room["rt60_bands"].values())
    assert room["rt60_bands"] != {k: warm[k] for k in room["rt60_bands"]}  # theta was fitted


def test_a_dropout_comes_back_as_a_dropout_from_the_diffusion_backend(tiny_model):
    """A 0.3 s cut to digital silence in a reverberant take: blind dereverb gives the rest back
    restored and the cut as it was (the dsp backend's rule, silence.py), so ``inpaint`` can
    still find and fill it."""
    from diffmusic_engine.diagnose.dropouts import find_dropouts

    audio = reverberant_take()
    audio[:, 44100:57330] = 0.0
    result = restore(audio, 44100, Dereverb(), backend="diffusion",
                     options={"model": tiny_model, **FAST})  # fmt: skip
    assert not np.any(result.audio[:, 44100:57330])
    assert np.any(result.audio[:, :44100] != audio[:, :44100])
    assert [(a, b) for a, b, _ in find_dropouts(result.audio, 44100)[0]] == [(44100, 57330)]


def test_blind_dereverb_without_room_steps_keeps_the_warm_start(tiny_model):
    audio = reverberant_take()[:1]
    result = restore(audio, 44100, Dereverb(), backend="diffusion",
                     options={"model": tiny_model, **FAST, "room_steps": 0})  # fmt: skip
    assert result.audio.shape == audio.shape
    room = result.details["room"]
    warm = room["warm_start"]["rt60_bands"]
    for band, t60 in room["rt60_bands"].items():  # the estimate's, to its rounding (2 decimals)
        assert abs(t60 - warm[band]) <= 0.005 + 1e-9, band


def test_a_blank_model_an_absent_device_and_a_relative_folder(
    tiny_model, take, tmp_path, capsys, monkeypatch
):
    """--model "" had loaded the current folder, --device mps was a traceback, and a relative
    model folder was resolved in the daemon's folder (the client now sends it absolute)."""
    import argparse

    from bridge.cli.common import FLAG_OPTIONS
    from bridge.cli.restore import backend_from_args

    source, rir = take
    for model, extra, message in [
        ("", [], "no model given; pass --model ID_OR_PATH"),
        (tiny_model, ["--device", "mps"], "device 'mps' requested but MPS is not available"),
    ]:
        argv = restore_command(source, tmp_path / "x.wav", "inpaint", rir, model)
        argv = [a for a in argv if a not in ("--device", TEST_DEVICE)] + extra
        assert main(argv) == 1
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
    monkeypatch.chdir(Path(tiny_model).parent)
    args = argparse.Namespace(**dict.fromkeys(FLAG_OPTIONS), backend="diffusion")
    args.model = Path(tiny_model).name
    _, options = backend_from_args(args, {})
    assert options["model"] == str(Path(tiny_model).resolve())


def test_a_band_limit_above_the_models_band_left_as_it_was_says_why(tiny_model):
    """A limit at 12 kHz lies above the model's band (7.2 kHz): the dsp extension rebuilds the
    band above, and on a recording with nothing near the limit it changes nothing. The output
    had come back bit-identical without a word (the model never ran)."""
    t = np.arange(2 * 44100) / 44100
    dark = (0.3 * np.sin(2 * np.pi * 220 * t))[None].astype(np.float32)
    result = restore(dark, 44100, SuperResolution(12000.0), backend="diffusion",
                     options={"model": tiny_model, **FAST})  # fmt: skip
    assert np.array_equal(result.audio, dark) and result.details["windows"] == 0
    assert result.unchanged.startswith("the band limit at 12000 Hz lies above the model's band")
