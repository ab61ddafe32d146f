"""Declip through the CLI: the written level when rebuilt peaks pass full scale, channels
clipped apart, and what the notes say (bad input elsewhere: test_cli_errors.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main
from bridge.notes import notes_of
from diffmusic_engine.audio import read_audio
from diffmusic_engine.metrics import si_sdr

SR = 22050


def test_a_declipped_track_over_full_scale_is_written_lower_not_clipped_again(tmp_path, capsys):
    """A file clipped at 0 dBFS declips to peaks over full scale: 16-bit samples had clipped
    them again, and the written file was the input but for a few samples (the warning's advice,
    lower the input, meant a second run). Written lower by its peak now, the gain said."""
    t = np.arange(SR // 4) / SR
    clean = np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)  # peak 1.3
    source, out = tmp_path / "hot.wav", tmp_path / "declipped.wav"
    sf.write(source, np.clip(clean, -1, 1)[:, None], SR, subtype="PCM_16")
    assert main(["restore", str(source), "-o", str(out), "--task", "declip", "--level", "auto",
                 "--json"]) == 0  # fmt: skip
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    gain = done["details"]["output_gain_db"]
    said = (
        f"declip rebuilt the clipped peaks up to {-gain:+.1f} dBFS, over the full scale of the "
        f"integer samples written: written {-gain:.1f} dB lower so that they are kept (clipped "
        "again, the output would be the input); float samples keep the level (--bit-depth 32f, a "
        ".wav)"
    )
    assert done["notes"] == [{"level": "note", "text": said}]  # the line REAPER shows
    assert main(["restore", str(source), "-o", str(out), "--task", "declip", "--level", "auto",
                 "--quiet"]) == 0  # fmt: skip
    assert capsys.readouterr().err == f"note: {said}\n"
    clipped, written = read_audio(source)[0][0], read_audio(out)[0][0]
    assert np.abs(written).max() <= 1.0 and gain < -0.5
    assert si_sdr(clean, written) > si_sdr(clean, clipped) + 3


@pytest.mark.parametrize(
    ("gain", "peak", "lowered"),
    [
        (-1.34, "up to +1.3 dBFS", "1.3 dB"),
        (-0.1, "up to +0.1 dBFS", "0.1 dB"),
        (-0.02, "up to +0.02 dBFS", "0.02 dB"),  # had read "+0.0 dBFS ... 0.0 dB lower"
        (-0.0, "just over 0 dBFS", "less than 0.01 dB"),  # a peak a hair over, rounded to 0
    ],
)
def test_the_declip_gain_note_never_reads_zero(gain, peak, lowered):
    (note,) = notes_of({"output_gain_db": gain})
    assert note["text"] == (
        f"declip rebuilt the clipped peaks {peak}, over the full scale of the integer samples "
        f"written: written {lowered} lower so that they are kept (clipped again, the output "
        "would be the input); float samples keep the level (--bit-depth 32f, a .wav)"
    )


def test_a_stereo_file_clipped_apart_at_full_scale_is_declipped_per_channel_and_lowered(
    tmp_path, capsys
):
    """The left clipped at 0 dBFS, the right at 0.6 (panned after the clipping), 16-bit: each
    channel is declipped at its own level (the right had come back clipped), the track written
    lower by one gain, and the notes say both."""
    t = np.arange(SR // 4) / SR
    clean = np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)  # peak 1.3
    damaged = np.stack([np.clip(clean, -1, 1), 0.6 * np.clip(clean, -1, 1)], axis=1)
    source, out = tmp_path / "hot.wav", tmp_path / "declipped.wav"
    sf.write(source, damaged, SR, subtype="PCM_16")
    assert main(["restore", str(source), "-o", str(out), "--task", "declip", "--level", "auto",
                 "--json"]) == 0  # fmt: skip
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    levels = np.abs(read_audio(source)[0]).max(axis=1)  # each peak, held flat: its level
    assert done["details"]["channel_levels"] == pytest.approx(levels.tolist(), rel=1e-6)
    texts = [note["text"] for note in done["notes"]]
    assert texts[0] == (
        f"declipped each channel at its own clipping level: channel 1 at {levels[0]:.6g}, "
        f"channel 2 at {levels[1]:.6g}"
    )
    assert texts[1].startswith("declip rebuilt the clipped peaks up to") and len(texts) == 2
    clipped, written = read_audio(source)[0], read_audio(out)[0]
    for channel in (0, 1):
        assert si_sdr(clean, written[channel]) > si_sdr(clean, clipped[channel]) + 3


def test_a_float_wav_as_reaper_sends_keeps_the_declipped_level(tmp_path, capsys):
    """The REAPER actions send 32-bit float WAV (lib/diffmusic/wav.lua) and the render comes back
    in it: the rebuilt peaks over full scale are kept, nothing is written lower, and so the new
    take needs no volume change (``output_gain_db`` never reaches the scripts)."""
    t = np.arange(SR // 4) / SR
    clean = np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)  # peak 1.3
    source, out = tmp_path / "input.wav", tmp_path / "restored.wav"
    sf.write(source, np.clip(clean, -1, 1)[:, None].astype(np.float32), SR, subtype="FLOAT")
    assert main(["restore", str(source), "-o", str(out), "--task", "declip", "--level", "auto",
                 "--json"]) == 0  # fmt: skip
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert "output_gain_db" not in done["details"] and "notes" not in done
    assert sf.info(out).subtype == "FLOAT" and np.abs(read_audio(out)[0]).max() > 1.1


def test_a_given_level_replaces_the_levels_per_channel_of_a_preset(tmp_path, capsys):
    """A preset written by diagnose for channels clipped apart carries ``channel_levels``, and
    ``negative_levels`` for a channel's sides clipped apart; a ``--level`` given beside it is
    one level for every channel and side, as the details say."""
    t = np.arange(SR // 4) / SR
    clean = np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)
    source, preset = tmp_path / "apart.wav", tmp_path / "found.toml"
    sf.write(source, np.stack([np.clip(clean, -0.5, 0.6), np.clip(clean, -0.4, 0.4)], 1), SR,
             subtype="FLOAT")  # fmt: skip
    assert main(["diagnose", str(source), "--preset-out", str(preset), "--json"]) == 0
    assert "channel_levels" in preset.read_text() and "negative_levels" in preset.read_text()
    capsys.readouterr()
    argv = ["restore", str(source), "-o", str(tmp_path / "o.wav"), "--preset", str(preset)]
    assert main([*argv, "--level", "0.3", "--json"]) == 0
    details = json.loads(capsys.readouterr().out.splitlines()[-1])["details"]
    assert details["level"] == 0.3 and not {"channel_levels", "negative_levels"} & set(details)
