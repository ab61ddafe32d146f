"""Reading and writing audio: formats, rates, channels, sample formats, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from diffmusic_engine import audio as audio_module
from diffmusic_engine.audio import (
    bit_depth_for,
    check_writable,
    read_audio,
    write_audio,
)
from diffmusic_engine.errors import InputError, OutputError
from diffmusic_engine.rates import resample


def tone(channels: int, rate: int, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack(
        [0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    ).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".aiff", ".ogg", ".mp3"])
@pytest.mark.parametrize(("rate", "channels"), [(44100, 2), (22050, 1), (48000, 3)])
def test_round_trip_keeps_rate_channels_and_content(tmp_path, suffix, rate, channels):
    if suffix == ".mp3" and channels > 2:
        pytest.skip("MP3 holds at most two channels")
    audio = tone(channels, rate)
    path = write_audio(tmp_path / f"x{suffix}", audio, rate, source_dtype="int16")
    back, info = read_audio(path)
    assert (info.sample_rate, info.channels) == (rate, channels)
    assert back.dtype == np.float32 and back.shape[0] == channels
    n = min(back.shape[1], audio.shape[1])
    if suffix in (".wav", ".flac", ".aiff"):  # lossless 16-bit: dithered, then rounded
        assert back.shape == audio.shape
        assert np.max(np.abs(back - audio)) <= 1.5 / 32768  # TPDF: a step either way, and half
    else:  # lossy: only the length (codec padding) and rough content
        assert n >= 0.9 * audio.shape[1]


@pytest.mark.parametrize(
    ("subtype", "dtype", "depth"),
    [("PCM_16", "int16", 16), ("PCM_24", "int24", 24), ("FLOAT", "float32", 32)],
)
def test_sample_format_survives_a_round_trip(tmp_path, subtype, dtype, depth):
    source = tmp_path / "in.wav"
    sf.write(source, tone(2, 44100).T, 44100, subtype=subtype)
    audio, info = read_audio(source)
    assert info.file_dtype == dtype
    assert bit_depth_for("out.wav", info.file_dtype) == depth
    out = write_audio(tmp_path / "out.wav", audio, info.sample_rate, source_dtype=info.file_dtype)
    assert sf.info(out).subtype == subtype
    np.testing.assert_array_equal(read_audio(out)[0], audio)


def test_integer_samples_round_trip_exactly(tmp_path, rng):
    """Reading a PCM file and writing it back gives the same integers (bit-identical output)."""
    ints = rng.integers(-(2**23), 2**23, size=(2000, 2)).astype(np.int32) * 256
    for suffix in (".wav", ".flac", ".aiff"):
        source = tmp_path / f"in{suffix}"
        sf.write(source, ints, 48000, subtype="PCM_24")
        audio, info = read_audio(source)
        out = write_audio(tmp_path / f"out{suffix}", audio, 48000, source_dtype=info.file_dtype)
        np.testing.assert_array_equal(sf.read(out, dtype="int32")[0], ints)


def test_float_input_stays_float_and_24_bit_in_flac():
    assert bit_depth_for("x.wav", "float32") == 32
    assert bit_depth_for("x.flac", "float32") == 24  # FLAC has no float
    assert bit_depth_for("x.flac", "int16") == 16


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"precious")
    bad = np.full((1, 10), np.nan, np.float32)
    with pytest.raises(InputError, match="non-finite"):
        write_audio(target, bad, 44100)
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.wav"]


def test_missing_empty_unreadable_and_nan_files_are_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_audio(tmp_path / "absent.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really audio")
    with pytest.raises(InputError, match="cannot read audio"):
        read_audio(garbage)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), 44100, subtype="FLOAT")
    with pytest.raises(InputError, match="empty"):
        read_audio(empty)
    nan = tmp_path / "nan.wav"
    data = tone(2, 8000)
    data[1, 5] = np.inf
    sf.write(nan, data.T, 8000, subtype="FLOAT")
    with pytest.raises(InputError) as refused:
        read_audio(nan)
    # channels counted from 1 (as in every note; it had said "channel 1" of the second), and
    # what to do: a float file is the one kind that holds NaN
    assert str(refused.value) == (
        f"{nan}: 1 non-finite samples (NaN/Inf), the first in channel 2 of 2 at sample 5; "
        "render or export the file again, or as 16- or 24-bit integers"
    )


def test_resample_preserves_a_tone_and_the_duration():
    audio = tone(1, 44100, seconds=1.0)
    out = resample(audio, 44100, 16000)
    assert out.shape == (1, 16000)
    t = np.arange(16000) / 16000
    expected = 0.4 * np.sin(2 * np.pi * 220 * t)
    middle = slice(1000, 15000)  # away from the filter's edge transients
    assert np.max(np.abs(out[0, middle] - expected[middle])) < 1e-3


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_audio(tmp_path / "out.wav", tone(1, 8000), 8000)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("name", "rate", "channels", "why"),
    [("out.mp3", 96000, 2, "only supports sample rates"), ("out.mp3", 44100, 6, "Format not"),
     ("out.flac", 44100, 10, "Format not")],
)  # fmt: skip
def test_a_layout_the_format_cannot_hold_is_one_error_naming_the_target(
    tmp_path, name, rate, channels, why
):
    """MP3 holds 8-48 kHz and two channels, FLAC eight: refused before the work
    (check_writable) and at the write, naming the user's file, never a traceback."""
    path = tmp_path / name
    audio = np.zeros((channels, 64), np.float32)
    with pytest.raises(OutputError) as before:
        check_writable(path, rate, channels)
    with pytest.raises(OutputError) as at_write:
        write_audio(path, audio, rate)
    for error in (before, at_write):
        message = str(error.value)
        assert message.startswith(f"{path}: {path.suffix} cannot hold {channels} channel(s) at ")
        assert why in message and message.endswith(
            "write a .wav or .flac, or resample or downmix first"
        )
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    check_writable(tmp_path / "out.mp3", 48000, 2)  # what MP3 holds passes


def test_a_layout_written_is_probed_once_a_process_and_a_refusal_again(tmp_path, monkeypatch):
    """A batch checked every file's layout on a scratch folder of its own: one killed mid-run
    left the folder behind (55 had gathered in /tmp). The second check of a layout found
    writable makes none. A refusal is probed again, naming the file asked about: one for a
    passing reason (a full scratch disk, libsndfile's "System error") had been kept for every
    later file of the batch."""
    audio_module._WRITABLE.clear()  # what earlier tests in this process probed
    real = sf.SoundFile
    failures = iter([RuntimeError("Error opening 'probe.mp3': System error.")])

    def full_once(*args, **kwargs):
        if (failure := next(failures, None)) is not None:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(sf, "SoundFile", full_once)
    with pytest.raises(OutputError, match=r"first\.mp3: .*\(System error\.\)"):
        check_writable(tmp_path / "first.mp3", 44100, 2)
    check_writable(tmp_path / "first.mp3", 44100, 2)  # the disk has room again

    def no_scratch(*args, **kwargs):
        raise AssertionError("a scratch folder made for a layout already probed")

    monkeypatch.setattr("tempfile.TemporaryDirectory", no_scratch)
    check_writable(tmp_path / "second.mp3", 44100, 2)
    with pytest.raises(AssertionError, match="scratch folder"):  # a new layout is probed
        check_writable(tmp_path / "third.mp3", 32000, 2)
    monkeypatch.undo()
    with pytest.raises(OutputError, match=r"third\.mp3: \.mp3 cannot hold 2 channel\(s\) at 96000"):
        check_writable(tmp_path / "third.mp3", 96000, 2)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_a_wav_cut_short_is_refused_not_read_as_half(tmp_path, subtype):
    """libsndfile reads a cut WAV up to its end without a word: a batch rendered half a file
    and called it done. Its header's data size says more was promised."""

    whole = tmp_path / "whole.wav"
    sf.write(whole, np.zeros((44100, 2)) + 0.1, 44100, subtype=subtype)
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.wav: the file is cut short: its header promises "
                       r"1\.000 s, it holds 0\.(49\d|500) s"):  # fmt: skip
        read_audio(cut)
    assert read_audio(whole)[1].frames == 44100


def test_new_16_bit_samples_are_dithered_and_unchanged_ones_kept(tmp_path):
    """A quiet tone (a declip's gain had lowered a dithered passage) rounded to 16 bits alone
    came back with its error in the tone's harmonics (distortion); dithered, the error is
    noise, no more at the harmonics than elsewhere. Samples already on the 16-bit grid (what
    was not repaired) come back exactly."""
    rate, n, f = 48000, 48000, 997
    tone = (1.3 / 32768 * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.float32)
    back = read_audio(write_audio(tmp_path / "t.wav", tone[None], rate, source_dtype="int16"))[0]

    def at_harmonics(written: np.ndarray) -> float:
        """The error's power at harmonics 2-19 over its mean power per 1 Hz bin."""
        error = np.abs(np.fft.rfft((written - tone) * np.hanning(n))) ** 2
        return float(error[[k * f for k in range(2, 20)]].mean() / error.mean())

    assert at_harmonics(np.round(tone.astype(np.float64) * 32768) / 32768) > 100  # had been
    assert at_harmonics(back[0]) < 3
    on_grid = (np.arange(-3000, 3000, dtype=np.float32) / 32768)[None]
    again = read_audio(write_audio(tmp_path / "g.wav", on_grid, rate, source_dtype="int16"))[0]
    np.testing.assert_array_equal(again, on_grid)


def test_a_bwf_name_is_a_wav_written_as_every_wav_is(tmp_path):
    """``.bwf`` had gone to pedalboard's writer: float audio over full scale clipped to 24-bit
    without a word, and 16-bit samples rounded a step off."""
    hot = np.array([[0.5, 2.0, -1.5, 0.25]], np.float32)
    back, info = read_audio(write_audio(tmp_path / "reel.bwf", hot, 48000))
    assert info.file_dtype == "float32" and sf.info(tmp_path / "reel.bwf").format == "WAV"
    np.testing.assert_array_equal(back, hot)


def test_many_channels_are_wave_extensible_and_a_huge_wav_is_rf64(tmp_path):
    """A 5.1 file had been written with format tag 1 (its speakers unsaid), and an output past
    4 GiB as a plain WAV whose header cannot count its samples (read 20.9 s short)."""
    from diffmusic_engine.containers import WAV_LIMIT_BYTES, major_format

    six = np.zeros((6, 100), np.float32)
    write_audio(tmp_path / "c6.wav", six, 48000, source_dtype="int24")
    assert sf.info(tmp_path / "c6.wav").format == "WAVEX"
    write_audio(tmp_path / "c2.wav", six[:2], 48000, source_dtype="int24")
    assert sf.info(tmp_path / "c2.wav").format == "WAV"
    assert major_format(".wav", 2, WAV_LIMIT_BYTES) == "WAV"
    assert major_format(".wav", 8, WAV_LIMIT_BYTES + 1) == "RF64"
    assert major_format(".flac", 8, WAV_LIMIT_BYTES + 1) == "FLAC"
