"""Dropouts through Opus (:mod:`diffmusic_engine.diagnose.decays`): a dropout cut to digital
silence comes back as the step response of libopus's 3 Hz DC reject, an offset decaying with a
time constant of 1 / (2 pi 3 Hz) = 53 ms, under the codec's noise; built here as that decay."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.batch.restorer import Restorer
from diffmusic_engine.diagnose import coded, decays, dropouts
from diffmusic_engine.diagnose.dropouts import QUIET, DropoutScanner, find_all
from diffmusic_engine.diagnose.held import HELD_DEVIATION

RATE = 48000
FRAME = RATE // 1000
CUT = RATE  # the dropouts start 1 s in
TAU = 1 / (2 * np.pi * 3.0)  # seconds: libopus's DC reject, first order at 3 Hz
OFFSET = 2.0e-3  # at the cut (measured through libopus: 1e-3 to 2.5e-3)
NOISE = 4.0e-5  # RMS, the codec's noise around the decay (measured: 4e-5 or less)
# The codec's smear over a dropout's start (measured: 5-16 ms of noise 15-40 dB under the music):
# SMEAR_MS of noise SMEAR_DB under the chord (whose mean power is 4 (0.1^2 / 2) = 0.02)
SMEAR_MS = 15
SMEAR_DB = 25.0
EDGE = 0.002  # seconds a found edge may lie from the cut's (the pad, a frame)
# The smear over a 70 ms dropout's end (measured through Opus, 10 real mixes: 15-16 ms at each)
END_SMEAR_MS = 16


def chord(seconds: float = 2.0, amplitude: float = 0.1) -> np.ndarray:
    """A steady A major chord, the same on both channels, ``(2, samples)`` float32."""
    time = np.arange(round(seconds * RATE)) / RATE
    tones = sum(np.sin(2 * np.pi * f * time + f) for f in (220.0, 277.18, 329.63, 440.0))
    return np.tile(amplitude * tones, (2, 1)).astype(np.float32)


def opus_like(
    milliseconds: int,
    channels: tuple[int, ...] = (0, 1),
    level_db: float = 0.0,
    offset: float = OFFSET,
    smear_db: float = SMEAR_DB,
) -> tuple[np.ndarray, int]:
    """The chord ``level_db`` down with a dropout of ``milliseconds`` at CUT on ``channels`` as
    Opus gives it back: OFFSET decaying with TAU under NOISE, the codec's smear over its start;
    and where it stops."""
    gain = 10 ** (-level_db / 20)
    audio, stop = chord(amplitude=0.1 * gain), CUT + milliseconds * FRAME
    time = np.arange(stop - CUT) / RATE
    noise = np.random.default_rng(1).normal(0.0, NOISE, (2, stop - CUT))
    noise[:, : SMEAR_MS * FRAME] *= gain * np.sqrt(0.02) * 10 ** (-smear_db / 20) / NOISE
    for channel in channels:
        audio[channel, CUT:stop] = offset * np.exp(-time / TAU) + noise[channel]
    return audio, stop


def smeared_at_both_ends(
    milliseconds: int, channels: tuple[int, ...] = (0, 1), end_ms: int = END_SMEAR_MS
) -> tuple[np.ndarray, int]:
    """:func:`opus_like`, the codec's smear over the dropout's last ``end_ms`` too (as over its
    start: noise SMEAR_DB under the chord), and where it stops."""
    audio, stop = opus_like(milliseconds, channels)
    noise = np.random.default_rng(2).normal(0.0, 1.0, end_ms * FRAME)
    for channel in channels:
        audio[channel, stop - end_ms * FRAME : stop] = (
            np.sqrt(0.02) * 10 ** (-SMEAR_DB / 20) * noise
        )
    return audio, stop


def test_the_built_decay_is_what_the_other_ways_miss() -> None:
    """What the numbers give: the offset lies above QUIET for TAU ln(OFFSET / QUIET) = 111 ms
    (the scanner's quiet way cannot start before), and a 150 ms run is longer than the longest
    dip (MAX_DIP_FRAMES); so without this rule nothing covers the dropout."""
    assert TAU * np.log(OFFSET / QUIET) == pytest.approx(0.111, abs=0.001)
    audio, stop = opus_like(150)
    scanner = DropoutScanner.at_rate(RATE)
    assert scanner.scan(audio, 0) + scanner.finish() == []
    power = coded.frame_power(audio[:, CUT:stop], FRAME)
    assert (stop - CUT) // FRAME > coded.MAX_DIP_FRAMES and power.max() > QUIET**2


@pytest.mark.parametrize("milliseconds", [70, 150, 300])
def test_a_decaying_offset_is_found_in_lossy_input_alone(milliseconds: int) -> None:
    """Lossy coded, the dropout is found whole on both channels (its edges within EDGE), told as
    found by the lossy rule (the dips); the same samples not lossy coded: nothing (a WAV keeps
    its digital silence)."""
    audio, stop = opus_like(milliseconds)
    found, pauses, dips, gates = find_all(audio, RATE, True)
    ((first, last, channels),) = found
    assert channels == (0, 1) and (first, last) in dips and pauses == gates == []
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE
    assert dropouts.find_runs(audio, RATE) == ([], [])


def test_the_largest_offset_measured_is_a_decay_not_a_line() -> None:
    """OFFSET at 7e-3, the largest fitted in the real mixes, over 300 ms: past the smear it falls
    from 5.3e-3 to 2.5e-5, and the best straight line misses it by 1.4 HELD_DEVIATION RMS (what
    a time constant of 1-2 s could fit, nearly); with the 53 ms of DECAY_TAUS_MS it is found
    whole on both channels."""
    audio, stop = opus_like(300, offset=7e-3)
    time = np.arange(SMEAR_MS * FRAME, stop - CUT) / RATE
    decay = 7e-3 * np.exp(-time / TAU)
    line = np.polyval(np.polyfit(time, decay, 1), time)
    assert np.sqrt(np.mean(np.square(decay - line))) / HELD_DEVIATION == pytest.approx(
        1.41, abs=0.01
    )
    ((first, last, channels),) = find_all(audio, RATE, True)[0]
    assert channels == (0, 1)
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE


@pytest.mark.parametrize("channels", [(0, 1), (0,), (1,)])
def test_a_70_ms_dropout_smeared_at_both_ends_is_found(channels: tuple[int, ...]) -> None:
    """70 ms less SMEAR_MS and END_SMEAR_MS of smear leave a quiet run of 39 frames: more than
    DECAY_MIN_FRAMES, not more than the dips' MAX_DIP_FRAMES, while the dips, which read the
    whole 70 ms under the chord, read none that long. Found whole, on the channels cut."""
    audio, stop = smeared_at_both_ends(70, channels)
    assert decays.DECAY_MIN_FRAMES < 70 - SMEAR_MS - END_SMEAR_MS <= coded.MAX_DIP_FRAMES
    ((first, last, named),) = find_all(audio, RATE, True)[0]
    assert named == channels
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE


def test_the_shortest_decaying_run_read() -> None:
    """A run of DECAY_MIN_FRAMES quiet frames between the smears is not read; one frame more is,
    from the music before the smear to the music after it."""
    shortest = decays.DECAY_MIN_FRAMES
    audio, _ = smeared_at_both_ends(SMEAR_MS + shortest + END_SMEAR_MS)
    assert decays.with_decays([], audio, FRAME) == []
    audio, stop = smeared_at_both_ends(SMEAR_MS + shortest + 1 + END_SMEAR_MS)
    assert decays.with_decays([], audio, FRAME) == [(CUT, stop)]


def test_a_dip_overlapping_a_decay_is_read_as_the_dip() -> None:
    """A dip handed in that overlaps a decaying run stands for it (an MP3 gate's 41-43 ms offs are
    both, and their evenness is the dips'): the dip alone; one that does not overlap joins it."""
    audio, stop = opus_like(150)
    (decay,) = decays.with_decays([], audio, FRAME)
    dip = (CUT + 50 * FRAME, CUT + 90 * FRAME)
    assert decays.with_decays([dip], audio, FRAME) == [dip]
    apart = (FRAME, 10 * FRAME)
    assert decays.with_decays([apart], audio, FRAME) == [apart, decay]


def test_one_channel_decaying_is_that_channels() -> None:
    """Cut on the left alone, the right playing on: found on the left, the right kept."""
    audio, stop = opus_like(150, channels=(0,))
    ((first, last, channels),) = find_all(audio, RATE, True)[0]
    assert channels == (0,)
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE


@pytest.mark.parametrize("channels", [(0, 1), (0,)])
def test_the_smear_is_the_dropouts(channels: tuple[int, ...]) -> None:
    """A smear only 20 dB under the chord (in the real mixes 15-40 dB) over a larger offset (4e-3:
    the fits here read 1e-3 to 7e-3 at the cut): the widening, which takes frames EDGE_DB under
    the music, stops at it; the dropout runs from the music before the smear, found whole and
    not read as a pause (the smear read as the music fading into it)."""
    audio, stop = opus_like(150, channels, offset=4e-3, smear_db=20.0)
    found, pauses, _, _ = find_all(audio, RATE, True)
    ((first, last, named),) = found
    assert named == channels and pauses == []
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE


def test_a_silent_run_in_the_decays_tail_joins_it() -> None:
    """The last 20 ms of a 300 ms dropout digital silence (the decay is 1e-5 there, under NOISE):
    the scanner finds that run itself, and the dropout is still found whole, the run inside it
    (not the run alone, widened)."""
    audio, stop = opus_like(300)
    audio[:, stop - 20 * FRAME : stop] = 0.0
    scanner = DropoutScanner.at_rate(RATE)
    assert scanner.scan(audio, 0) + scanner.finish() == [(stop - 20 * FRAME, stop)]
    ((first, last, channels),) = find_all(audio, RATE, True)[0]
    assert abs(first - CUT) <= EDGE * RATE and abs(last - stop) <= EDGE * RATE


def test_in_music_too_quiet_to_tell_it_is_left_alone() -> None:
    """The chord 32 dB down (-49 dBFS, its smear too), the dropout's mean power (-61.5 dBFS over
    150 ms: OFFSET^2 TAU / 2 over the run) under it by less than DIP_DB: the edges cannot be
    told from music falling into a rest, and nothing is found; at the chord's level (-17 dBFS)
    it is."""
    assert len(find_all(opus_like(150)[0], RATE, True)[0]) == 1
    assert find_all(opus_like(150, level_db=32.0)[0], RATE, True)[0] == []


def test_a_low_note_is_no_decay() -> None:
    """150 ms of a 40 Hz tone 50 dB down between abrupt edges: straight over each millisecond
    (the frames' residual 1.7e-3 of its amplitude, under QUIET) and far under the music, but it
    turns six periods, which no decaying offset fits within HELD_DEVIATION: not found."""
    audio = chord()
    time = np.arange(150 * FRAME) / RATE
    audio[:, CUT : CUT + len(time)] = 10 ** (-50 / 20) * np.sin(2 * np.pi * 40.0 * time)
    residual = decays.residual_power(audio[:, CUT : CUT + len(time)], FRAME)
    assert residual.max() <= QUIET**2
    assert find_all(audio, RATE, True)[0] == []


def test_the_stream_reads_what_the_whole_file_does() -> None:
    """:class:`.decays.DecayScanner` fed 1001 samples at a time finds the whole file's runs, and
    the batch's stream (:class:`.channel_scanner.ChannelScanner`, 4096 at a time) fills the
    dropouts ``find_all`` finds: one on every channel, one on the right alone, a 70 ms one
    smeared at both ends on the left alone."""
    audio, _ = opus_like(150)
    other, _ = opus_like(200, channels=(1,))
    short, _ = smeared_at_both_ends(70, channels=(0,))
    audio = np.concatenate([audio, other, short], axis=1)
    scanner = decays.DecayScanner(FRAME)
    for at in range(0, audio.shape[1], 1001):
        scanner.scan(audio[:, at : at + 1001], at)
    scanner.finish()
    assert scanner.release([], None) == decays.with_decays([], audio, FRAME)
    found = find_all(audio, RATE, True)[0]
    assert [channels for _, _, channels in found] == [(0, 1), (1,), (0,)]
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, audio.shape[1], lossy=True)
    filled: list[tuple[int, int]] = []

    def restore(piece: np.ndarray, start: int, spans: tuple) -> np.ndarray:
        filled.extend((a + start, b + start) for a, b in spans)
        return piece.copy()

    stream.restore = restore
    for at in range(0, audio.shape[1], 4096):
        stream.push(audio[:, at : at + 4096])
    stream.finish()
    assert sorted(filled) == [(first, last) for first, last, _ in found]


def test_the_stream_hands_a_decay_out_before_the_audio_ends() -> None:
    """:class:`.coded.DipScanner` hands a decaying run out once the music after it is read, and
    then needs no audio before it (the batch keeps what ``open_from`` asks: the run held until the
    end had kept every sample after it): the 150 ms run at 1 s is out by 2 s of 12."""
    audio, stop = opus_like(150)
    audio = np.concatenate([audio, *[chord()] * 5], axis=1)
    scanner, out = coded.DipScanner(FRAME, decays.DECAY_MAX_FRAMES), []
    for at in range(0, 2 * RATE, 4096):
        out += scanner.scan(audio[:, at : at + 4096], at)
    assert len(out) == 1 and abs(out[0][0] - CUT) <= EDGE * RATE and out[0][1] >= stop
    assert scanner.open_from(2 * RATE) > stop


def test_a_gate_of_long_decaying_offs_is_left_alone_in_the_stream_too() -> None:
    """A gate through Opus: 8 offs of 300 ms every 400 ms (100 ms between them, within
    GATE_FRAMES), each a decaying run: the whole file reads them as one gate's offs, left alone.
    Streamed 4096 samples at a time, each run is decided once the 20 ms after it are read, the
    dips then decided up to 70 ms before what is read: the run, held, starts before their
    horizon, and the train must wait for it (told at that horizon, 250 ms past the off before,
    the train had ended at each off, and all 8 had been handed out as dropouts)."""
    audio = chord(seconds=6.0)
    off, _ = opus_like(300)
    for index in range(8):
        at = CUT + index * 400 * FRAME
        audio[:, at : at + 300 * FRAME] = off[:, CUT : CUT + 300 * FRAME]
    whole, gates = coded.dips(audio, FRAME)
    assert whole == [] and [len(gate) for gate in gates] == [8]
    scanner, out = coded.DipScanner(FRAME, decays.DECAY_MAX_FRAMES), []
    for at in range(0, audio.shape[1], 4096):
        out += scanner.scan(audio[:, at : at + 4096], at)
    assert out + scanner.finish() == [] and scanner.trains.gates == gates


def test_a_run_not_decided_yet_is_waited_for_from_its_music_before() -> None:
    """A decaying run reaches back over the codec's smear to the music before its quiet frames
    (up to DECAY_EDGE_FRAMES): read up to 10 ms past the 150 ms run (decided once the 20 ms after
    it are read), the earliest sample a run not decided could start at lies at or before the
    cut, not at the quiet frames SMEAR_MS later (there, a codec's dip in the smear went out before
    the run that overlaps it, and both were told: a gate of armygeddon through Opus, left channel,
    said with one off more in the stream than in the whole file)."""
    audio, stop = opus_like(150)
    ((first, _),) = decays.with_decays([], audio, FRAME)
    assert first == CUT
    scanner = decays.DecayScanner(FRAME)
    scanner.scan(audio[:, : stop + 10 * FRAME], 0)
    assert scanner.held == [] and scanner.undecided_from() <= first
