"""--bit-depth: the outputs' sample format, whatever the input's (restore, degrade, batch)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main

SR = 22050


def sixteen_bit_song(path):
    rng = np.random.default_rng(0)
    song = (0.2 * rng.standard_normal((SR, 2))).astype(np.float32)
    sf.write(path, song, SR, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


def test_restore_writes_the_depth_asked_for_and_keeps_untouched_samples(tmp_path):
    song = sixteen_bit_song(tmp_path / "in.wav")
    cases = [
        ("24", ".wav", "PCM_24"),
        ("32f", ".wav", "FLOAT"),
        ("32f", ".flac", "PCM_24"),
        ("16", ".wav", "PCM_16"),
    ]  # FLAC holds no float: 24-bit
    for depth, suffix, subtype in cases:
        out = tmp_path / f"out{depth}{suffix}"
        argv = ["restore", str(tmp_path / "in.wav"), "-o", str(out), "--gap", "0.5:0.52"]
        assert main([*argv, "--bit-depth", depth, "--quiet"]) == 0
        assert sf.info(out).subtype == subtype
        written = sf.read(out, dtype="float32")[0]
        outside = np.r_[0 : int(0.49 * SR), int(0.53 * SR) : SR]
        np.testing.assert_array_equal(written[outside], song[outside])  # 16-bit values kept


def test_batch_writes_the_depth_asked_for_and_resume_renders_again_for_another(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    sixteen_bit_song(folder / "a.wav")
    chain = tmp_path / "chain.toml"
    chain.write_text('[[steps]]\nplugin = "Gain"\ngain_db = -1.0\n')
    argv = ["batch", str(folder), "-o", str(tmp_path / "out"), "--chain", str(chain), "--quiet"]
    assert main([*argv, "--bit-depth", "24"]) == 0
    assert sf.info(tmp_path / "out" / "a.wav").subtype == "PCM_24"
    assert main([*argv, "--resume"]) == 0  # the input's depth now: not the finished output
    assert sf.info(tmp_path / "out" / "a.wav").subtype == "PCM_16"


def test_a_hot_float_input_asked_for_in_integers_is_refused_with_the_float_remedy(tmp_path, capsys):
    hot = np.full((SR, 1), 1.3, np.float32) * np.sin(np.arange(SR) / 20.0)[:, None]
    sf.write(tmp_path / "hot.wav", hot, SR, subtype="FLOAT")
    out = tmp_path / "o.wav"
    argv = ["restore", str(tmp_path / "hot.wav"), "-o", str(out), "--gap", "0.5:0.51"]
    assert main([*argv, "--bit-depth", "24", "--quiet"]) != 0
    assert "write float (--bit-depth 32f), or lower the level first" in capsys.readouterr().err
    assert main([*argv, "--bit-depth", "32f", "--quiet"]) == 0


@pytest.mark.parametrize("command", ["restore", "degrade"])
@pytest.mark.parametrize(
    ("depth", "remedy"),
    [("24", "write a .flac or .wav to have 24-bit samples"),
     ("32f", "write a .wav to have 32-bit float samples")],
)  # fmt: skip
def test_a_bit_depth_for_a_lossy_output_is_refused_with_the_remedy(
    tmp_path, capsys, command, depth, remedy
):
    """An MP3 has no bit depth: --bit-depth 24 with -o x.mp3 had been dropped unsaid."""
    sixteen_bit_song(tmp_path / "in.wav")
    out = tmp_path / "x.mp3"
    argv = [command, str(tmp_path / "in.wav"), "-o", str(out), "--task", "inpaint"]
    argv += ["--gap", "0.5:0.52", "--quiet"]
    assert main([*argv, "--bit-depth", depth]) == 1
    assert capsys.readouterr().err == (
        f"error: {out}: --bit-depth {depth}, but a .mp3 file has no bit depth (lossy coded: its "
        f"decoder makes the samples); drop --bit-depth, or {remedy}\n"
    )
    assert not out.exists()  # refused before any work
    assert main(argv) == 0  # without it: the MP3, said to be lossy
    assert out.exists() and "error" not in capsys.readouterr().err


def test_a_bit_depth_for_sources_of_a_lossy_input_names_the_input_as_the_remedy(tmp_path, capsys):
    """Separated sources are written in the input's format, into the folder -o names: "write a
    .flac or .wav" had named a choice the user does not have there."""
    song = sixteen_bit_song(tmp_path / "in.wav")
    sf.write(tmp_path / "take.mp3", song, SR)
    out = tmp_path / "sources"
    argv = ["restore", str(tmp_path / "take.mp3"), "-o", str(out), "--task", "separate"]
    assert main([*argv, "--bit-depth", "24", "--quiet"]) == 1
    assert capsys.readouterr().err == (
        f"error: {out / 'take_source1.mp3'}: --bit-depth 24, but a .mp3 file has no bit depth "
        "(lossy coded: its decoder makes the samples); drop --bit-depth, or convert the input to "
        f"a .flac or .wav (the files in {out} take its format) to have 24-bit samples\n"
    )
    assert not out.exists()  # refused before any work
