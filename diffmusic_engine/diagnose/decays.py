"""Dropouts through Opus: a run that holds a decaying offset, near silence once that is taken out.

libopus high-passes its input at 3 Hz (a DC reject), so a dropout cut to digital silence before
encoding comes back as that filter's step response: an offset (1e-3 to 7e-3 at the cut in 10 real
mixes) that decays by e every 53 ms, the codec's noise around it after 5-16 ms of smear. No
sample of it is digital silence, it lies above :data:`.dropouts.QUIET` for its first 100 ms and
more, and it dips under the music for longer than :data:`.coded.MAX_DIP_FRAMES`: of 70-300 ms
dropouts through Opus at 119 kbps, 10 of 48 cut on every channel and 6 of 96 cut on one were
found (docs/results.md "Dropouts of 70-300 ms through Opus").

So a run is a dropout too where, the slow offset taken out, what is left is near silence and the
music either side is cut off (:class:`DecayScanner`): a run of more than
:data:`DECAY_MIN_FRAMES` and up to :data:`DECAY_MAX_FRAMES` 1 ms frames where every channel, each
frame's straight line taken out (a 53 ms decay is straight over a millisecond), keeps a residual
power at or under QUIET's (:func:`residual_power`); over the whole run each channel is an offset
decaying with a time constant fitted to it (:data:`DECAY_TAUS_MS`, plus a constant) within
:data:`.held.HELD_DEVIATION` RMS, as a held value is held (:func:`fits_decay`: a low note,
straight over a millisecond too, turns a whole period in such a run); and within
:data:`DECAY_EDGE_FRAMES` on each side (an Opus frame: its smear) lies a frame
:data:`.coded.DIP_DB` above the run's mean power and at or above :data:`.coded.DIP_FLOOR_DB`:
music cut off, not falling into a rest, nor too quiet to tell. The dropout reaches from that
frame to the music after the run: the smear between is the dropout's (the widening, which takes
frames EDGE_DB under the music, stops where the smear is louder, and the pause test read such a
dropout as the music fading into it).

Read for lossy coded input alone, as the codec's dips are: these runs join them
(:func:`.coded.dips`, :class:`.coded.DipScanner`; a dip that overlaps one is read as the dip),
read in trains as those are (a gate's offs left alone), sifted, widened and padded as they are,
on every channel at once and on each channel alone, the whole file and the batch's stream read
by the same scanner. Measured (docs/results.md): found at 119 kbps 46 of 48 cut on every
channel and 78 of 96 on one, at 498 kbps 48 of 48 and 88 of 96; nothing found in the clean
excerpts as Opus or MP3; the MP3 gates, bursts and WAV files as before.
"""

from __future__ import annotations

import functools

import numpy as np

from diffmusic_engine.diagnose import coded
from diffmusic_engine.diagnose.held import HELD_DEVIATION
from diffmusic_engine.diagnose.spans import apart, edges

# The longest decaying run read, and the batch's longest dropout (its dropout_max_seconds reads
# this): longer runs are left alone, as the batch leaves longer silent runs
DECAY_MAX_SECONDS = 0.5
DECAY_MAX_FRAMES = round(DECAY_MAX_SECONDS * 1000)  # frames of a millisecond
# The shortest decaying run read is longer than this: the codec smears 15-16 ms into each end of
# a 70 ms cut, leaving a run of 37-39 frames, and the dips, which read that cut's whole 70 ms
# under the music, read none past coded.MAX_DIP_FRAMES (at 40, 11 of 20 such cuts on one channel
# at 119 kbps were missed, at 30 5; docs/results.md "... the shortest run"). A low note of 33 Hz
# or more still turns a whole period in a run this long, which no decay fits. A gate's offs of
# 59 ms come back as runs of 36-54 frames: read, more of them join their gate's train
DECAY_MIN_FRAMES = 30
# Beside the run, the codec's smear: up to an Opus frame (20 ms) between the cut and the run
DECAY_EDGE_FRAMES = 20
# The time constants a run's offset is fitted with (ms): libopus's is 53 ms
DECAY_TAUS_MS = np.geomspace(5.0, 2000.0, 40)
_CHUNK = 2**16  # frames read at a time


def residual_power(audio: np.ndarray, frame: int) -> np.ndarray:
    """Per whole ``frame`` samples of ``(channels, samples)`` ``audio``, the largest channel's
    mean power once the frame's straight line (least squares) is taken out."""
    count, ramp = audio.shape[1] // frame, np.arange(frame) - (frame - 1) / 2.0
    parts = [np.zeros(0)]
    for at in range(0, count, _CHUNK):  # (a whole 5 min stereo file in float64 is 230 MB)
        part = audio[:, at * frame : min(at + _CHUNK, count) * frame].astype(np.float64)
        frames = part.reshape(audio.shape[0], -1, frame)
        # what the frame's mean and slope leave of its power: sum x^2 - (sum x)^2 / n -
        # (sum x ramp)^2 / sum ramp^2 (least squares; no copy of the frames less their line)
        left = np.einsum("cfk,cfk->cf", frames, frames) - np.square(frames.sum(axis=2)) / frame
        left -= np.square(frames @ ramp) / max(float(ramp @ ramp), 1.0)
        parts.append(np.max(np.maximum(left, 0.0) / frame, axis=0, initial=0.0))
    return np.concatenate(parts)


def fits_decay(run: np.ndarray, frame: int, deviation: float) -> bool:
    """Whether each channel of ``(channels, samples)`` ``run`` is an offset decaying with one of
    DECAY_TAUS_MS (``frame``: samples in a millisecond), plus a constant, within ``deviation``
    RMS."""
    count, values = run.shape[1], run.astype(np.float64)
    if not values.any():
        return True  # digital silence: no offset (an MP3 gate's off reads so, each time)
    decays, squares, sums = _decays(frame, count)
    # least squares of c decays + d per tau and channel, by the normal equations (all at once)
    crossed, totals = decays @ values.T, np.sum(values, axis=1)
    det = squares * count - np.square(sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (count * crossed - sums * totals) / det
        offset = (squares * totals - sums * crossed) / det
    left = np.sum(np.square(values), axis=1) - scale * crossed - offset * totals  # per tau
    left = np.where(det > 0, left, np.inf)
    return bool(np.all(np.min(left, axis=0) <= deviation**2 * count))


@functools.lru_cache(maxsize=4)
def _basis(frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per DECAY_TAUS_MS, its decay over DECAY_MAX_FRAMES frames of ``frame`` samples, and the
    running sums of its squares and of itself (read once per rate: every run's fit slices them)."""
    decays = np.exp(-np.arange(DECAY_MAX_FRAMES * frame) / frame / DECAY_TAUS_MS[:, None])
    return decays, np.cumsum(np.square(decays), axis=1), np.cumsum(decays, axis=1)


def _decays(frame: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decays of DECAY_TAUS_MS over ``count`` samples (``frame`` a millisecond's), and the
    sums of their squares and of them, ``(taus, 1)``."""
    decays, squares, sums = _basis(frame)
    if count > decays.shape[1]:  # (longer than any run read)
        decays = np.exp(-np.arange(count) / frame / DECAY_TAUS_MS[:, None])
        squares, sums = np.cumsum(np.square(decays), axis=1), np.cumsum(decays, axis=1)
    return decays[:, :count], squares[:, count - 1 : count], sums[:, count - 1 : count]


class DecayScanner:
    """The decaying runs of ``(channels, samples)`` audio read block by block (a whole recording
    is one block): each decided once the DECAY_EDGE_FRAMES after it are read, and held with the
    codec's dips handed in (:meth:`release`) until none found later could start before it.
    ``frame``: samples in a millisecond; ``longest``: frames, DECAY_MAX_FRAMES at most."""

    def __init__(self, frame: int, longest: int = DECAY_MAX_FRAMES) -> None:
        self.frame, self.longest = frame, min(DECAY_MAX_FRAMES, longest)
        self.audio: np.ndarray | None = None  # the samples kept, from sample ``first``
        self.first = 0  # (a whole frame of the recording)
        self.since = 0  # the frame (of the recording) from which a run not decided may start
        self.held: list[tuple[int, int]] = []  # runs decided (samples), not released
        self.dips: list[tuple[int, int]] = []  # the codec's dips handed in, not released

    def scan(self, block: np.ndarray, position: int) -> None:
        """Read ``block``, which starts at sample ``position`` of the recording."""
        kept = block if self.audio is None else np.concatenate([self.audio, block], axis=1)
        self.audio, self.first = kept, position - (kept.shape[1] - block.shape[1])
        self._decide(final=False)

    def finish(self) -> None:
        """The audio has ended: decide the runs still open."""
        if self.audio is not None:
            self._decide(final=True)

    def _decide(self, final: bool) -> None:
        from diffmusic_engine.diagnose.dropouts import QUIET  # (it imports coded, which this)

        frame, edge, base = self.frame, DECAY_EDGE_FRAMES, self.first // self.frame
        quiet = residual_power(self.audio, frame) <= QUIET**2
        power = coded.frame_power(self.audio, frame)
        count = len(power)
        starts, stops = edges(quiet, 0, None)
        stops = [*stops, count][: len(starts)]
        for start, stop in zip(starts, stops, strict=True):
            if base + start < self.since:
                continue
            too_long = stop - start > self.longest  # (its rest, read later, is a lead-in)
            if not too_long and not final and stop + edge > count:
                self.since = base + start  # the run, or the frames after it, not all read yet
                break
            span = None if too_long else self._dropout(start, stop, power)
            if span is not None:
                self.held.append(((base + span[0]) * frame, (base + span[1]) * frame))
        else:
            self.since = base + count  # a later run starts past the whole frames read
        if not final:  # keep what a later run's reading needs: DECAY_EDGE_FRAMES before it
            drop = max(0, self.since - edge - base)
            self.audio, self.first = self.audio[:, drop * frame :], self.first + drop * frame

    def _dropout(self, start: int, stop: int, power: np.ndarray) -> tuple[int, int] | None:
        """The dropout (frames of the audio kept) from the music before the run of frames
        ``[start, stop)`` to the music after it, where that run holds a decaying offset; the
        codec's smear between them is the dropout's (read as a fade, it had been a pause)."""
        edge = DECAY_EDGE_FRAMES
        if stop - start <= DECAY_MIN_FRAMES or start < edge or stop + edge > len(power):
            return None  # too short, a lead-in or a tail
        level = np.mean(power[start:stop]) * 10 ** (coded.DIP_DB / 10)
        music = np.maximum(level, 10 ** (coded.DIP_FLOOR_DB / 10))
        before = np.flatnonzero(power[start - edge : start] >= music)
        after = np.flatnonzero(power[stop : stop + edge] >= music)
        frame, run = self.frame, self.audio[:, start * self.frame : stop * self.frame]
        if not len(before) or not len(after) or not fits_decay(run, frame, HELD_DEVIATION):
            return None
        return start - edge + int(before[-1]) + 1, stop + int(after[0])

    def release(self, found: list, horizon: int | None) -> list[tuple[int, int]]:
        """The runs held and the codec's dips ``found`` (samples, in order), but a run that a
        dip overlaps (the dip is read as the dips are: a gate's offs of 41-43 ms through MP3,
        digital silence, are both, and their evenness is the dips'), those ending before
        ``horizon`` (``None``: all); the rest stay held. (A dip that overlaps a run is always
        handed in before either goes out: neither ends before the other is decided.)"""
        self.dips += found
        self.held = apart(self.held, self.dips)
        runs = sorted(self.held + self.dips)
        out = [run for run in runs if horizon is None or run[1] < horizon]
        self.held, self.dips = apart(self.held, out), apart(self.dips, out)
        return out

    def told_from(self, found: list, horizon: int | None) -> tuple[list, int | None]:
        """:meth:`release`'s runs, and the horizon of the trains they go to (no run or dip not
        released starts before it; ``None`` with ``horizon``): a run decided but held, ending past
        ``horizon``, may start before it (given ``horizon``, a gate's train had ended before
        that run, its offs filled: 5 of 110 gates through Opus in the batch's stream, not in the
        whole file)."""
        out = self.release(found, horizon)
        return out, None if horizon is None else self.open_from(horizon)

    def undecided_from(self, *bounds: int) -> int:
        """The earliest sample a run not decided yet could start at, or ``bounds`` (where the
        codec's dips not handed in yet may start), the earliest: :meth:`release`'s horizon
        (the runs held are decided: counted, they had held themselves, and every dip after
        them, until the audio ended). A run's dropout reaches back up to DECAY_EDGE_FRAMES
        before its quiet frames, to the music before the codec's smear (:meth:`_dropout`)."""
        earliest = max(0, self.since - DECAY_EDGE_FRAMES)  # (a quiet run not decided: since on)
        undecided = [] if self.audio is None else [earliest * self.frame]
        return min([*bounds, *undecided])

    def open_from(self, *bounds: int) -> int:
        """The earliest sample a run not released yet could start at, or ``bounds`` (the samples
        received, where the codec's dips not handed in yet may start), the earliest."""
        firsts = [first for first, _ in self.held[:1] + self.dips[:1]]
        return min([self.undecided_from(*bounds), *firsts])


def with_decays(dips: list, audio: np.ndarray, frame: int) -> list[tuple[int, int]]:
    """The codec's ``dips`` (samples of the whole recording ``audio``, in order) and its decaying
    runs that none of them overlaps (:meth:`DecayScanner.release`), in order."""
    scanner = DecayScanner(frame)
    scanner.scan(audio, 0)
    scanner.finish()
    return scanner.release(dips, None)


def apart_from(
    added: list, offs: list, gates: list, position: int, frame: int
) -> list[tuple[int, int]]:
    """Those of the codec's dips ``added`` (samples from ``position``, in order; ``frame``:
    samples in a millisecond) that none of ``offs`` (the scanner's runs and its gates' offs,
    samples from ``position`` too) overlaps, and the decaying runs (longer than any dip) that
    overlap no off of ``gates`` (the scanner's, recording samples): the quiet run the scanner
    finds in a decay's tail (the offset under QUIET, 100 ms and more in) is part of it, and
    widened they join (:func:`.coded.sifted`)."""
    gated = [(a - position, b - position) for gate in gates for a, b in gate]
    longest_dip = (coded.MAX_DIP_FRAMES + coded.DIP_FRAMES) * frame
    decaying = [span for span in apart(added, gated) if span[1] - span[0] > longest_dip]
    return sorted(set(apart(added, offs) + decaying))
