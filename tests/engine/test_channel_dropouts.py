"""A dropout on one channel: ``--gap auto`` finds it and fills that channel alone; a channel
silent on purpose (a hard-panned part, a late entry, a fade) is left alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bridge.batch import Restorer
from bridge.cli import main
from bridge.notes import in_chain_words
from diffmusic_engine.api import NOTHING_FOUND, restore
from diffmusic_engine.backends import FOUND_GAPS, KEPT_CHANNELS
from diffmusic_engine.damage import Gap, Inpaint
from diffmusic_engine.diagnose import dropouts, selections
from diffmusic_engine.evaluation.storage import fixed_point
from diffmusic_engine.synth import music_excerpt

RATE = 16000
CUT = (24000, 25600)  # 1.5-1.6 s


def stereo(seconds: float = 3.0) -> np.ndarray:
    return music_excerpt(seconds, RATE, 2, seed=3)


def test_a_dropout_on_one_channel_is_found_and_filled_there_alone(tmp_path, capsys) -> None:
    """The left channel silent for 100 ms, the right one playing on: found (it was not: the
    rule read every channel at once), filled on the left, the right kept bit-identical and
    named; diagnose says which channel."""
    audio = stereo()
    audio[0, CUT[0] : CUT[1]] = 0.0
    assert dropouts.find_dropouts(audio, RATE) == ([(*CUT, (0,))], [])
    result = restore(audio, RATE, Inpaint(gaps="auto"))
    out = result.tracks[0]
    assert result.details[FOUND_GAPS] == [[1.5, 1.6]]
    np.testing.assert_array_equal(out[1], audio[1])
    assert not (out[0, CUT[0] : CUT[1]] == 0).any()
    np.testing.assert_array_equal(out[0, : CUT[0] - 64], audio[0, : CUT[0] - 64])
    (line,) = result.details[KEPT_CHANNELS]
    assert line.startswith("gap 1.5000-1.6000 s: channel(s) 1 of 2 dropped out and were filled")
    source = tmp_path / "one.wav"
    sf.write(source, audio.T, RATE, subtype="FLOAT")
    assert main(["diagnose", str(source), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["dropouts"]
    assert found == [{"start": 1.5, "end": 1.6, "channels": [1]}]
    assert main(["diagnose", str(source)]) == 0
    assert "1 dropout(s): 1.5000-1.6000 s (channel 1 of 2)" in capsys.readouterr().out


def test_a_dropout_on_every_channel_names_them_all() -> None:
    audio = stereo()
    audio[:, CUT[0] : CUT[1]] = 0.0
    assert dropouts.detect(audio, RATE) == [{"start": 1.5, "end": 1.6, "channels": [1, 2]}]


def left_alone(audio: np.ndarray) -> None:
    """``audio`` shows no dropout, and ``--gap auto`` gives it back as it was."""
    assert dropouts.find_dropouts(audio, RATE)[0] == []
    result = restore(audio, RATE, Inpaint(gaps="auto"))
    np.testing.assert_array_equal(result.tracks[0], audio)
    assert result.unchanged == NOTHING_FOUND["inpaint"]


def test_a_hard_panned_part_is_not_a_dropout() -> None:
    """One channel silent throughout (a mono take stored on the left), silent until a late
    entry or after an early end, or silent but for a few notes (a sparse part hard-panned,
    stopping at its level): no channel of these dropped out."""
    music = stereo()[0]
    silent = np.zeros_like(music)
    left_alone(np.stack([music, silent]))
    late, early = music.copy(), music.copy()
    late[: RATE // 2], early[-RATE // 2 :] = 0.0, 0.0
    left_alone(np.stack([music, late]))
    left_alone(np.stack([early, music]))
    sparse = np.zeros_like(music)
    for start in (0.3, 1.2, 2.1):  # three 0.2 s notes, cut at their level
        first = round(start * RATE)
        sparse[first : first + RATE // 5] = music[first : first + RATE // 5]
    left_alone(np.stack([music, sparse]))


def test_a_fade_on_one_channel_into_silence_is_not_a_dropout() -> None:
    """The left channel's part fades out over 0.5 s into 0.5 s of digital silence and comes
    back at its level (a pause on that channel) while the right plays on."""
    audio = stereo()
    fade = slice(RATE // 2, RATE)
    audio[0, fade] *= np.linspace(1, 0, RATE // 2, dtype=np.float32)
    audio[0, RATE : 3 * RATE // 2] = 0.0
    left_alone(audio)


def streamed(audio: np.ndarray, block: int = 999) -> tuple[np.ndarray, list[int], str | None]:
    """``audio`` through a batch step with ``gaps="auto"`` (the marking backend), in blocks:
    the output, how much had come out after each block, and the file's note."""
    restorer = Restorer(task="inpaint", gaps="auto", backend="marking", context_seconds=0.5)
    stream = restorer.stream(RATE, audio.shape[0], audio.shape[1])
    blocks = [stream.push(audio[:, i : i + block]) for i in range(0, audio.shape[1], block)]
    out = np.concatenate([*blocks, stream.finish()], axis=1)
    return out, list(np.cumsum([b.shape[1] for b in blocks])), Restorer.note_of(stream)


def test_the_batch_fills_a_dropout_on_one_channel_there_alone(marking) -> None:
    audio = stereo()
    audio[1, CUT[0] : CUT[1]] = 0.0
    out, _, note = streamed(audio)
    assert (out[1, CUT[0] : CUT[1]] == 1.0).all()
    np.testing.assert_array_equal(out[0], audio[0])
    np.testing.assert_array_equal(out[1, : CUT[0]], audio[1, : CUT[0]])
    assert note.startswith("inpaint: gap 1.5000-1.6000 s: channel(s) 2 of 2 dropped out")


@pytest.mark.parametrize("noise", [0.0, 1e-4])
def test_a_dropout_held_at_a_dc_offset_on_one_channel_is_filled_there_alone(noise, marking):
    """The left channel held at 0.002 (or that under -80 dBFS noise) for 100 ms, the right one
    playing on: found on the left (it was not: only digital silence named a channel), filled
    there alone, by ``--gap auto``, the batch and a gap given over it."""
    audio = stereo()
    held = 0.002 + noise * np.random.default_rng(2).standard_normal(CUT[1] - CUT[0])
    audio[0, CUT[0] : CUT[1]] = held
    assert dropouts.find_dropouts(audio, RATE) == ([(*CUT, (0,))], [])
    line = "gap 1.5000-1.6000 s: channel(s) 1 of 2 dropped out and were filled"
    for gaps in ("auto", (Gap(1.5, 1.6),)):
        result = restore(audio, RATE, Inpaint(gaps=gaps))
        out = result.tracks[0]
        np.testing.assert_array_equal(out[1], audio[1])
        assert np.std(out[0, CUT[0] : CUT[1]]) > 10 * np.std(held) + 0.01  # music, not held
        assert result.details[KEPT_CHANNELS][0].startswith(line)
    out, _, _ = streamed(audio)
    assert (out[0, CUT[0] : CUT[1]] == 1.0).all()
    np.testing.assert_array_equal(out[1], audio[1])


def test_a_quiet_channel_on_a_dc_offset_is_not_held_beside_a_gap_given_over_the_other():
    """A gap given over a tape dropout on the right (its music 30 dB down, not silence), the
    left a quiet part on a converter's DC offset (0.002 under noise of 3e-4 RMS: 90 % of its
    samples within HELD_DEVIATION of its median, 32 % within HELD_NEAR): both channels are
    filled (the left had read as held and the right as playing on, its dropout kept)."""
    audio = stereo()
    audio[0] = 0.002 + 3e-4 * np.random.default_rng(5).standard_normal(audio.shape[1])
    audio[1, CUT[0] : CUT[1]] *= 10 ** (-30 / 20)
    assert selections.live_channels(audio, *CUT) is None
    result = restore(audio, RATE, Inpaint(gaps=(Gap(1.5, 1.6),)))
    out = result.tracks[0]
    assert KEPT_CHANNELS not in result.details
    assert np.std(out[1, CUT[0] : CUT[1]]) > 5 * np.std(audio[1, CUT[0] : CUT[1]])


@pytest.mark.parametrize("steps", [1, 0])
def test_a_quiet_channel_on_a_coarse_grid_keeps_no_damage_given_in_the_other(steps) -> None:
    """A gap given over a burst on the right; the left a quiet part stored in 8 bits (its music
    at 0.02 of the right's, 1.1e-3 RMS, under a step of 7.8e-3) on a DC offset of ``steps``
    steps: over 95 % of its samples at that step (the held value, or digital silence), in the
    gap and beside it. The left had read as dropped there, the right as playing on and kept
    with its burst; a value held beside the gap as in it is no dropout: both are filled."""
    audio = stereo()
    step = 2.0**-7
    audio[0] = fixed_point(audio[:1] * np.float32(0.02) + np.float32(steps * step), 8)[0]
    assert np.mean(audio[0] == steps * step) > 0.95
    burst = 0.5 * np.random.default_rng(6).standard_normal(CUT[1] - CUT[0])
    audio[1, CUT[0] : CUT[1]] += burst.astype(np.float32)
    assert dropouts.dropped_channels(audio, *CUT).tolist() == [True, False]
    assert selections.live_channels(audio, *CUT) is None
    result = restore(audio, RATE, Inpaint(gaps=(Gap(1.5, 1.6),)))
    assert KEPT_CHANNELS not in result.details
    filled = result.tracks[0][1, CUT[0] : CUT[1]]
    assert np.std(filled) < 0.2 * np.std(audio[1, CUT[0] : CUT[1]])  # the burst: 0.5 RMS


def test_the_batch_leaves_a_silent_channel_alone_and_holds_it_not_back(marking) -> None:
    """A mono take on the left, the right silent throughout: passed through
    as it came, and as it comes (a channel's silence held the stream back to its start)."""
    music = music_excerpt(8.0, RATE, 1, seed=4)[0]
    audio = np.stack([music, np.zeros_like(music)])
    out, emitted, note = streamed(audio)
    np.testing.assert_array_equal(out, audio)
    assert note == f"inpaint: {in_chain_words(NOTHING_FOUND['inpaint'])}"  # batch: no --gap
    # the stream holds back five times dropout_max_seconds (0.5 s) and a context, no more
    pushed = np.minimum(999 * np.arange(1, len(emitted) + 1), audio.shape[1])
    assert (np.array(emitted) >= pushed - 3.5 * RATE).all()


def test_zeros_in_a_break_one_step_loud_are_not_a_dropout() -> None:
    """A break of quiet music in 16-bit (-70 dBFS, a few steps), one channel rounding to exact
    zeros for 3 ms where it dips 12 dB, to -82 dBFS, for the 10 ms either side (not the 20 dB of
    a pause): the music beyond reads -70 dBFS, but beside the run is no music (found before the
    edge test)."""
    noise = np.random.default_rng(5).standard_normal((2, 3 * RATE)).astype(np.float32)
    audio = noise * np.float32(10 ** (-70 / 20))
    first, stop = RATE, RATE + round(0.003 * RATE)
    audio[0, first - 160 : stop + 160] *= np.float32(0.25)
    audio[0, first:stop] = 0.0
    assert dropouts.find_dropouts(audio, RATE)[0] == []
    audio[0, first - 160 : stop + 160] *= np.float32(4)  # the break at its level beside
    assert dropouts.find_dropouts(audio, RATE)[0] == [(first, stop, (0,))]


def test_a_dropout_hitting_the_channels_a_few_ms_apart_is_filled_whole() -> None:
    """Left silent 1.5-1.6 s, right 1.55-1.65 s (a tape dropout hitting the tracks a few ms
    apart): silent on both only over 1.55-1.6 s, which alone had been filled, 50 ms of digital
    silence left on each channel. Now one dropout over the union, filled on both."""
    audio = stereo()
    shift = RATE // 20
    audio[0, CUT[0] : CUT[1]] = 0.0
    audio[1, CUT[0] + shift : CUT[1] + shift] = 0.0
    assert dropouts.find_dropouts(audio, RATE) == ([(CUT[0], CUT[1] + shift, (0, 1))], [])
    out = restore(audio, RATE, Inpaint(gaps="auto")).tracks[0]
    assert not (out[:, CUT[0] : CUT[1] + shift] == 0).any()


def test_a_dropout_hitting_the_channels_a_few_ms_apart_is_filled_whole_in_a_batch(marking):
    """As above, through the batch's streaming scanner (``ChannelScanner``)."""
    audio = stereo()
    shift = RATE // 20
    audio[0, CUT[0] : CUT[1]] = 0.0
    audio[1, CUT[0] + shift : CUT[1] + shift] = 0.0
    out, _, _ = streamed(audio)
    assert (out[:, CUT[0] : CUT[1] + shift] == 1.0).all()


@pytest.mark.parametrize("fade_in", [0, 800])
def test_a_channel_s_run_told_late_is_streamed_as_the_whole_file_reads_it(fade_in, marking):
    """Song A fading 30 dB over 3 s into 0.4 s of digital silence, song B after it (at once, or
    over a 50 ms fade-in): the right channel's run starts a sample before the left's, and is
    told only once its train is known, more than dropout_max_seconds after its start. Streamed
    in 999-sample blocks with 3 s of context, the output is the whole file's reading (the pause
    left as it came, or the dropout marked on every channel); the stream had let go of that
    sample already and stopped with "ends after the audio"."""
    a, b = music_excerpt(4.0, RATE, 2, seed=1), music_excerpt(2.0, RATE, 2, seed=2)
    a[:, -3 * RATE :] *= (10 ** (np.linspace(0, -30, 3 * RATE) / 20)).astype(np.float32)
    b[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    audio = np.concatenate([a, np.zeros((2, 2 * RATE // 5), np.float32), b], axis=1)
    found, pauses = dropouts.find_dropouts(audio, RATE)
    assert len(found) + len(pauses) == 1  # the one run, read as a pause or as a dropout
    expected = audio.copy()
    for first, stop, channels in found:
        expected[list(channels), first:stop] = 1.0
    restorer = Restorer(task="inpaint", gaps="auto", backend="marking", context_seconds=3.0)
    stream = restorer.stream(RATE, 2, audio.shape[1])
    blocks = [stream.push(audio[:, i : i + 999]) for i in range(0, audio.shape[1], 999)]
    np.testing.assert_array_equal(np.concatenate([*blocks, stream.finish()], axis=1), expected)


@pytest.mark.parametrize("past", [11, 30])
def test_a_channel_s_dropout_decided_past_the_longest_is_streamed_as_found(past, marking):
    """The right channel silent for 7990 samples (just under dropout_max_seconds, 8000), a
    999-sample block ending ``past`` samples after its start plus 7990 (11: past the longest
    while the run waits for the frame after it, 16 samples): streamed, it is filled as the
    whole file finds it (the wait was let go as a silence past the longest, and the run was
    dropped without a word)."""
    audio = stereo(8.0)
    first = 999 * 60 - past - 7990
    audio[1, first : first + 7990] = 0.0
    assert dropouts.find_dropouts(audio, RATE) == ([(first, first + 7990, (1,))], [])
    restorer = Restorer(task="inpaint", gaps="auto", backend="marking", context_seconds=3.0)
    stream = restorer.stream(RATE, 2, audio.shape[1])
    blocks = [stream.push(audio[:, i : i + 999]) for i in range(0, audio.shape[1], 999)]
    audio[1, first : first + 7990] = 1.0
    np.testing.assert_array_equal(np.concatenate([*blocks, stream.finish()], axis=1), audio)
