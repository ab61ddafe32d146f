"""Dropouts through a lossy codec: a run that dips far under the music on both sides.

An MP3 encoder smears a dropout (digital silence cut in before encoding) over its own frames:
the decoded run is no longer digital silence, nor quiet by :data:`.dropouts.QUIET` for 2 ms,
and its edges ring rather than jump, so that :mod:`.dropouts`' three ways miss the short ones.
Measured on 10 real mixes at 128 and 320 kbps (docs/results.md "Dropouts through MP3: the
limits"): a 10 ms dropout comes back 26-51 dB under the music beside it, a 20 ms one
29-54 dB, a median 6 % and 56 % of their samples under QUIET; of 58 each, 3 of the 10 ms, 2 of
the 20 ms and 45 of the 30 ms ones were found. A dropout held at a DC offset fails the held
way's edge test the same way.

So a run is a dropout too where it dips far under the music on both sides (:func:`dips`): a
run of windows of :data:`DIP_FRAMES` 1 ms frames, each :data:`DIP_DB` or more under the music's
level before the first and after the last (the median frame of the :data:`LEVEL_FRAMES` past a
:data:`SMEAR_FRAMES` margin, where the codec's ringing ends), that level at or above
:data:`DIP_FLOOR_DB`. Real music does not dip so: over every 3 ms of the 22 clean recordings
through MP3 at 128 and 320 kbps, the deepest such dip read 19.6 dB (a drum and bass mix between
two hits), and no run is found in them as FLAC or MP3. The floor keeps out quiet music stored
in few bits, whose rests round to steps. :func:`sifted` adds the dips to the scanner's runs
for :meth:`.dropouts.DropoutScanner.sift` (widened over the ringing, pauses and rests set
apart, as for the other ways), then reaches :data:`PAD_FRAMES` further into the music.

Read for lossy coded input alone (``lossy``, from the file's format: ``AudioInfo.lossy``,
:func:`diffmusic_engine.containers.lossy_coded`), which every caller that reads a file passes
down (``diagnose``, ``restore --gap auto``, the daemon's jobs, the batch): it is a level rule,
and a hard gate over a quiet bed dips as deep (a saw gated off over a 40 Hz bass, a 46 dB step),
so that in a WAV or FLAC such a dip is left to the scanner's three ways. Read on every channel at
once and on each channel alone: by :func:`.dropouts.find_all` on the whole audio, and by
:class:`DipScanner` as the batch streams it (the same dips); a dropout cut into one channel
before encoding keeps no digital silence, and :func:`dipped_channels` names the channel that dips
under its own music while every other plays on (docs/results.md "A dropout on one channel
through MP3"). A dip is read up to :data:`MAX_DIP_FRAMES` long, and one still as deep past that
is left alone: a hard gate's off of 62 ms in an MP3 dipped as deep (review: read up to 2 s, a
1/16 gate at 120 bpm gave 63 dropouts in 8 s); a longer dropout through Opus, a decaying offset
near silence once that is taken out, is :mod:`.decays`' run, told with the dips. A gate whose off
is shorter (a 31 ms stutter) dips like a dropout, over and over: so a train of
:data:`GATE_COUNT` dips or more, each within :data:`GATE_FRAMES` of the one before, is left alone
as a gate's offs (:class:`_Trains`; a gate over a bed the scanner reads as nothing), and said,
since a burst of as many dropouts reads the same (``find_all``'s gates, ``diagnose``'s
``gates``), while a dropout, or a burst of fewer, stands alone.

A gate cut to digital silence (a WAV or FLAC, or an MP3 that kept it) the scanner's ways read as
dropouts, one per off: its runs are read in trains too (:func:`ungated`, lossy or not), and a train
is a gate's only where :data:`GATE_COUNT` runs in a row start evenly and last alike
(:data:`GATE_JITTER_FRAMES`), as a gate's offs do and a burst of dropouts (a buffer underrun, a
failing drive) does not; a codec's dips are not held to that, the codec's ringing moving their
edges by more (docs/results.md "A gate to digital silence"). Through a lossy codec the silence
kept in an off starts and ends in the codec's own frames, its runs uneven: there the evenness is
read on the runs as the fill widens them or as widened against the loudest music beside them
(:func:`evenness_edges`), a train even either way, and a run in a train of dips that is even
itself is that gate's (:func:`_even_offs`; docs/results.md "A gate through MP3", "A short-on gate
through MP3").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from diffmusic_engine.diagnose import decays, dip_pads
from diffmusic_engine.diagnose.spans import apart

if TYPE_CHECKING:  # (dropouts imports this module)
    from diffmusic_engine.diagnose.dropouts import DropoutScanner

# A dip: DIP_FRAMES frames (of the scanner's 1 ms) DIP_DB or more under the median frame of
# the LEVEL_FRAMES on each side, read past SMEAR_FRAMES of the codec's ringing; that median
# at or above DIP_FLOOR_DB (mean power, dBFS). Measured (docs/results.md "Dropouts through
# MP3"): clean music through MP3 dips 19.6 dB at most; dropouts of 10 ms through MP3 27 dB or
# more (128 kbps; 36 dB at 320), of 20 ms 42 dB or more (53).
DIP_FRAMES = 3
SMEAR_FRAMES = 5
LEVEL_FRAMES = 20
DIP_DB = 25.0
DIP_FLOOR_DB = -60.0
# Beside a channel that dips, another plays on where its median frame there is within PLAYS_DB of
# its own music (or that music is under DIP_FLOOR_DB): only then is the dip that channel's alone
# (:func:`dipped_channels`). A dropout on every channel comes back shallower on one of them
# (review, docs/results.md "A dropout on one channel through MP3": every-channel cuts in the 10
# real mixes as MP3 and Vorbis, the shallower channel 9.9 dB or more under its music; a one-channel
# cut's other channel 2.1 dB at most), and a given gap over it had kept that channel's dip.
PLAYS_DB = 6.0
# The longest dip read; one still as deep past it is left to the scanner's ways. A dropout of
# 50 ms keeps digital silence through MP3 (the scanner found 29 of 29 at 128 and 320 kbps), while
# a hard gate over a quiet bed dips as deep for as long as it is off. Read up to 2000 frames, a
# saw gated 1/16 at 120 bpm (62 ms off, a 40 Hz bass 46 dB down) as an MP3 read 63 dropouts in
# 8 s, and a mix cut to a bed 50 dB down for 0.25-1 s (a stop-time break) 3; at 40 none, and the
# cells' 10-50 ms dropouts through MP3 are found as before (review, docs/results.md)
MAX_DIP_FRAMES = 40
# A train of GATE_COUNT dips or more, each within GATE_FRAMES of the one before, is a gate's
# offs, left alone: a stutter gate (31 ms off every 62.5 ms, over a bed 46 dB down) as an MP3
# dips as deep and as long as a 30 ms dropout, but real music never dips so (19.6 dB at most,
# above) and the dropouts measured stand alone; 250 ms holds a 1/8 gate at 120 bpm. A burst of
# three dropouts close together is still found (real mixes, 15 ms 100 ms apart: 18 of 18; with
# GATE_COUNT 3, 3 of 18); four or more in an MP3 are left alone where the codec kept no digital
# silence in them (a stutter of half a beat at 1/32, 120 bpm, gates four times; the cost: four
# 15 ms every 150 ms in 7 real mixes, 3 of 28 found, 27 before; 300 ms apart 28 of 28 still),
# and said (``gates``; docs/results.md "Dropouts through MP3: the limits", "A gate's offs said").
# Measured on 7 real mixes and a bed as MP3 there: with k the count, a burst of k dropouts or more
# is left alone and a stutter of fewer offs filled; at 6 or 8 the stutters of 4 offs were filled
# in 42 of 56 mixes and 7 of 8 beds (at 4: 7 and 0), for the bursts of 4 to 6 found back: a gate
# filled is intended audio replaced, a burst left alone is damage left and said.
GATE_FRAMES = 250
GATE_COUNT = 4
# A train of the scanner's runs (digital silence, or its other ways) is a gate's offs only where
# GATE_COUNT in a row also start evenly and last alike: the steps between their starts, and their
# lengths, each spread GATE_JITTER_FRAMES at most (:func:`ungated`). Measured (docs/results.md "A
# gate to digital silence"): 100 gates built to exact zeros over 10 real mixes as WAV (1/8 to 1/32,
# 96-174 bpm, 25-75 % on, hard and 1-2 ms ramped edges) spread 1.7 ms (steps) and 2.6 ms
# (lengths) at most in any 4 offs in a row; 90 bursts of 2-8 dropouts 20-100 ms apart 5.3 ms or
# more (steps). Through MP3 the same gates' runs spread up to 100 ms (the codec keeps an off's
# silence in its own frames); read as the fill widens them or as widened against the loudest
# music beside them (evenness_edges: even either way), and in the dips that hold them where those
# are even, 34 of 6899 offs in 100 such gates are filled (2967; 473 read as the fill widens them,
# 43 against the loudest music alone), the 460 offs of 90 bursts found as before (87), their dips
# 4.0 ms and their widened runs 45.6 ms apart from even at the least (docs/results.md "A gate
# through MP3", "A short-on gate through MP3"). A codec's dips alone are not held to it: a gate's
# come and go with the music.
GATE_JITTER_FRAMES = 3
# A gate whose offs were left alone: its dips (samples), in order
Gate = list[tuple[int, int]]
# The fill of a dip starts PAD_FRAMES past its widened edges, in the music the codec smeared
# (measured, 29 dropouts through MP3 at 128 kbps: the log-mel distance of the fill to the clean
# original over 10 ms ones 2.37 dB as widened, 2.02 with 0.5 ms more, 1.60 with 1 ms, 1.63 with
# 2 ms; left unfilled 2.47)
PAD_FRAMES = 1
# Frames read at a time (the medians' sliding view holds LEVEL_FRAMES values per frame)
_CHUNK = 2**16


def frame_power(audio: np.ndarray, frame: int) -> np.ndarray:
    """The mean power of each whole ``frame`` samples of ``(channels, samples)`` ``audio``, over
    its channels; read _CHUNK frames at a time (the squares of a whole 5 min stereo file in
    float64 are 200 MB)."""
    count, channels = audio.shape[1] // frame, audio.shape[0]
    blocks = [
        audio[:, at * frame : min(at + _CHUNK, count) * frame] for at in range(0, count, _CHUNK)
    ]
    return np.concatenate([np.zeros(0)] + [
        np.mean(np.square(block.reshape(channels, -1, frame), dtype=np.float64), axis=(0, 2))
        for block in blocks
    ])  # fmt: skip


def dips(audio: np.ndarray, frame: int) -> tuple[list[tuple[int, int]], list[Gate]]:
    """The dips in ``(channels, samples)`` ``audio`` (``frame``: samples in a millisecond), as
    runs of samples ``(first, stop)`` in order: runs of windows of DIP_FRAMES frames, each DIP_DB
    or more under the music's level before the first and after the last, up to MAX_DIP_FRAMES
    long, and :mod:`.decays`' runs; and the gates whose offs were left alone (:class:`_Trains`)."""
    power, trains = frame_power(audio, frame), _Trains(frame)
    found = _dips(power, 0, frame, MAX_DIP_FRAMES, 0, len(power))[0]
    return trains.told(decays.with_decays(found, audio, frame)), trains.gates


def dipped_channels(audio: np.ndarray, first: int, stop: int, frame: int) -> np.ndarray:
    """Per channel of ``(channels, samples)`` ``audio``, whether it dips in ``[first, stop)``
    (``frame``: samples in a millisecond) as :func:`dips` reads a dip, on that channel alone:
    its median frame there DIP_DB or more under its own music's level on each side (the median
    frame of the LEVEL_FRAMES past SMEAR_FRAMES), that level at or above DIP_FLOOR_DB; none
    unless every other channel plays on (:data:`PLAYS_DB`: a dropout on every channel, one of
    them shallower, is not one channel's). A dropout cut into one channel before encoding keeps
    no digital silence through the codec, so :func:`.dropouts.dropped_channels` names it so."""
    reach = (SMEAR_FRAMES + LEVEL_FRAMES) * frame
    if first < reach or stop + reach > audio.shape[1] or stop - first < frame:
        return np.zeros(audio.shape[0], bool)
    level = LEVEL_FRAMES * frame
    before = _channel_frames(audio[:, first - reach : first - reach + level], frame)
    after = _channel_frames(audio[:, stop + reach - level : stop + reach], frame)
    inside = np.median(_channel_frames(audio[:, first:stop], frame), axis=1)
    music = np.minimum(np.median(before, axis=1), np.median(after, axis=1))
    heard = music >= 10 ** (DIP_FLOOR_DB / 10)
    deep = heard & (inside * 10 ** (DIP_DB / 10) <= music)
    plays = ~heard | (inside * 10 ** (PLAYS_DB / 10) >= music)
    return deep if (deep | plays).all() else np.zeros(audio.shape[0], bool)


def gate_offs(gates: list[Gate], audio: np.ndarray | None, frame: int) -> list[tuple[int, int]]:
    """The dips of ``gates`` (left alone on every channel at once) and, lossy coded (``audio``;
    ``None``: not), of the gates read on each of its channels alone (:func:`dips`): a run found
    on one channel within one is that gate's off, left alone with it (a stutter on one channel,
    31 ms offs every 62.5 ms through MP3, had been read as 16 dropouts on that channel)."""
    alone = [] if audio is None else [g for track in audio for g in dips(track[None], frame)[1]]
    return [dip for gate in gates + alone for dip in gate]


def _channel_frames(audio: np.ndarray, frame: int) -> np.ndarray:
    """:func:`frame_power` of each channel of ``audio`` alone, ``(channels, frames)``."""
    return np.stack([frame_power(track[None], frame) for track in audio])


def left_alone(gates: list[Gate], runs: list[tuple[int, int]]) -> list[Gate]:
    """The dips of ``gates`` that none of the scanner's ``runs`` overlaps, each gate's in order,
    and the gates with any: a dip the scanner found too (digital silence the codec kept, a
    pause) was not left alone as a gate's off, but filled as a dropout or said as a pause."""
    return [kept for gate in gates if (kept := apart(gate, runs))]


def ungated(
    scanner: DropoutScanner, runs: list[tuple[int, int]], audio: np.ndarray | None = None
) -> tuple[list[tuple[int, int]], list[Gate]]:
    """The scanner's ``runs`` (samples, in order) that lie in no gate's offs, a gate being a train
    (:class:`_Trains`) whose GATE_COUNT in a row start evenly and last alike (``regular``), and
    those gates; they go to ``scanner.gated`` too, said as a lossy codec's are (a gate cuts to
    digital silence in a WAV or FLAC as in the session, and the scanner's ways read each off as
    a dropout). Lossy coded (``audio``, the whole recording) the evenness is read on the runs as
    widened, either way (:func:`_widened`): the codec keeps an off's silence in whole frames of its
    own, starting 10-25 ms late, and the widening takes its edges back to the gate's."""
    trains = gate_trains(scanner.edge_frame)
    told = trains.told(runs, edges=None if audio is None else _widened(scanner, audio, runs))
    scanner.gated += trains.gates
    return told, list(trains.gates)


def _widened(scanner: DropoutScanner, audio: np.ndarray, runs: list) -> dict:
    """Each of ``runs`` (samples of ``audio``, in order) -> the run that holds it as the fill
    widens it and as :func:`evenness_edges` does (runs closer than the scanner's shortest are
    widened as one): a train is even read either way (:meth:`_Trains._even`)."""
    fills, evens = scanner.widen(audio, runs), evenness_edges(scanner, audio, runs)
    readings, firsts = list(zip(fills, evens, strict=True)), [first for first, _ in fills]
    holders = np.searchsorted(firsts, [first for first, _ in runs], "right")
    return {run: readings[at - 1] for run, at in zip(runs, holders, strict=True)}


def evenness_edges(scanner: DropoutScanner, audio: np.ndarray, runs: list) -> list[tuple[int, int]]:
    """The ``runs`` (samples of ``(channels, samples)`` ``audio``, in order) widened as
    :meth:`.dropouts.DropoutScanner.widen` widens them (those closer than the scanner's shortest
    joined, never past a neighbouring run or the audio's ends), the codec's smear beside them
    read against the loudest 1 ms frame of the music beyond: on each side, the frames from the
    edge on while each is EDGE_DB or more under the loudest of the WIDEN_FRAMES beyond the edge,
    none where that frame is under DIP_FLOOR_DB. The edges a gate's evenness is read on, lossy
    coded (:func:`ungated`, the batch's ``channel_scanner._Widened``): the fill's widening reads
    the music's level 30-50 ms from the edge, which a gate 25 % on at 140-174 bpm (21-27 ms of
    music between 64-80 ms offs) holds in its next off, and its widened offs had started up to
    16 ms late (docs/results.md "A short-on gate through MP3")."""
    from diffmusic_engine.diagnose.dropouts import EDGE_DB, WIDEN_FRAMES  # (it imports this)

    frame = scanner.edge_frame
    reach = WIDEN_FRAMES * frame

    def smear(outward: np.ndarray) -> int:
        return _loud_from(outward[:, :reach], frame, EDGE_DB)

    return scanner.widen(audio, runs, smear)


def _loud_from(outward: np.ndarray, frame: int, under_db: float) -> int:
    """Samples of ``outward`` (the audio running away from a run's edge) in whole frames from the
    edge on, each ``under_db`` or more under the loudest frame (0 where that is under
    DIP_FLOOR_DB: no music to read the edge on)."""
    power = frame_power(outward, frame)
    if not len(power) or power.max() < 10 ** (DIP_FLOOR_DB / 10):
        return 0
    return frame * int(np.argmax(power >= power.max() * 10 ** (-under_db / 10)))


def said_gates(gates: list[Gate], channel_gates: list[Gate], runs: list) -> list[Gate]:
    """The gates to say, in order: ``gates`` (read on every channel at once), and each of
    ``channel_gates`` (a channel's runs alone, :func:`ungated`: a gate on one channel, left alone
    as well; its dips that every channel's ``runs`` overlap are those runs', :func:`left_alone`)
    no dip of which has its middle in a dip of those or of one taken before (a gate on every
    channel is each channel's too; a ping-pong gate's offs touch, a sample over at most)."""
    said = list(gates)
    for gate in left_alone(sorted(channel_gates), sorted(runs)):
        taken = sorted(dip for told in said for dip in told) or [(0, 0)]
        reach = np.maximum.accumulate([stop for _, stop in taken])  # the end of any dip before
        middles = np.array([(first + stop) // 2 for first, stop in gate])
        before = np.searchsorted([first for first, _ in taken], middles, side="right") - 1
        if not np.any((before >= 0) & (reach[np.maximum(before, 0)] > middles)):
            said.append(gate)
    return sorted(said)


def _even_offs(gates: list[Gate], frame: int) -> list[tuple[int, int]]:
    """The dips of ``gates`` that lie in a gate read as :func:`ungated` reads one (GATE_COUNT in a
    row start evenly and last alike): the silence an MP3 kept in such a gate's offs is the gate's,
    not a dropout (its runs uneven, the codec keeping it in frames of its own), while a burst of
    dropouts dips unevenly and what silence it kept is found."""
    trains = gate_trains(frame)
    trains.told(sorted(dip for gate in gates for dip in gate))
    return trains.offs()


def gate_trains(frame: int) -> _Trains:
    """The trains :func:`ungated` reads, for runs told as they are found (the batch's scanner)."""
    return _Trains(frame, regular=True)


class _Trains:
    """Dips told as they are found, once the train they lie in is known: a train is a run of
    dips each within GATE_FRAMES of the one before; one of GATE_COUNT or more is a gate's offs
    (left alone, kept in :attr:`gates` to be said), the dips of a shorter one are dropouts.
    ``regular`` (runs of digital silence, :func:`ungated`): it becomes a gate's once GATE_COUNT
    in a row start evenly and last alike, within GATE_JITTER_FRAMES (each dip before them is
    told), and the gate then holds every dip within GATE_FRAMES of the one before."""

    def __init__(self, frame: int, regular: bool = False) -> None:
        self.reach = GATE_FRAMES * frame
        self.jitter = GATE_JITTER_FRAMES * frame if regular else None
        self.train: list[tuple[int, int]] = []  # the open train's untold dips (a gate's: last)
        self.gate: Gate | None = None  # the open train, once it is a gate's
        self.gates: list[Gate] = []  # the gates' trains ended, in order
        self.edges: dict = {}  # a dip -> its edges read each way, ((first, stop), ...): not its own

    def told(
        self, found: list, horizon: int | None = None, edges: dict | None = None
    ) -> list[tuple[int, int]]:
        """The dropouts among the dips before and ``found`` (samples, in order) whose train has
        ended by ``horizon`` (no later dip starts before that sample; ``None``: the end);
        ``edges``: a dip -> its edges read each way, a tuple of ``(first, stop)``
        (:func:`_widened`), which :meth:`_even` reads where not the dip's own."""
        self.edges.update(edges or {})
        out = []
        for first, stop in found:
            if self.train and first - self.train[-1][1] > self.reach:
                out += self._ended()
            self.train.append((first, stop))
            if self.gate is not None:
                self.gate.append((first, stop))
            elif len(self.train) >= GATE_COUNT and self._even():
                self.gate = list(self.train)
            elif len(self.train) >= GATE_COUNT:
                out.append(self.train.pop(0))  # in no GATE_COUNT even dips: a dropout
            if self.gate is not None:
                self.train = self.train[-1:]
        if self.train and (horizon is None or horizon - self.train[-1][1] > self.reach):
            out += self._ended()
        return out

    def _even(self) -> bool:
        """Whether the open train's dips start evenly and last alike (not ``regular``: any)."""
        if self.jitter is None:
            return True
        readings = [self.edges.get(dip, (dip,)) for dip in self.train]
        return any(self._alike([edges[way] for edges in readings])
                   for way in range(min(map(len, readings))))  # fmt: skip

    def _alike(self, read: list[tuple[int, int]]) -> bool:
        """Whether the dips ``read`` start evenly and last alike."""
        starts = np.array([first for first, _ in read])
        lengths = np.array([stop - first for first, stop in read])
        return max(np.ptp(np.diff(starts)), np.ptp(lengths)) <= self.jitter

    def _ended(self) -> list[tuple[int, int]]:
        ended = self.train if self.gate is None else []
        self.gates += [] if self.gate is None else [self.gate]
        self.train, self.gate = [], None
        return ended

    def offs(self) -> list[tuple[int, int]]:
        """The dips of the gates ended and of the one still open."""
        return [dip for gate in self.gates + [self.gate or []] for dip in gate]

    def waiting(self) -> list[int]:
        """The first sample of the dips found and not told yet (none, or one)."""
        return [] if self.gate is not None or not self.train else [self.train[0][0]]


def _dips(
    power: np.ndarray, first: int, frame: int, longest: int, since: int, until: int
) -> tuple[list[tuple[int, int]], int]:
    """The dips (samples) of up to ``longest`` frames that start from frame ``since`` to before
    ``until`` (frames of the recording), read in ``power`` (its frames from frame ``first`` on:
    from ``since`` back to LEVEL_FRAMES and SMEAR_FRAMES before it); and the first frame where
    a later one may start (past the last found)."""
    window = np.convolve(power, np.ones(DIP_FRAMES) / DIP_FRAMES, "valid")
    levels = _medians(power)  # levels[k]: the median of power[k : k + LEVEL_FRAMES]
    reach = SMEAR_FRAMES + LEVEL_FRAMES
    lowest, deep = 10 ** (DIP_FLOOR_DB / 10), 10 ** (DIP_DB / 10)
    found: list[tuple[int, int]] = []
    # the windows that fall DIP_DB under the music before them: where a dip may start
    skip = max(reach, since - first)
    falls = np.arange(skip, min(len(levels) - DIP_FRAMES - SMEAR_FRAMES, until - first))
    before = levels[falls - reach]
    for start in falls[(before >= lowest) & (window[falls] * deep <= before)].tolist():
        if start < skip:
            continue  # within the dip found
        stop = _rise(window, levels, start, levels[start - reach] / deep, longest)
        if stop is not None:
            found.append(((first + start) * frame, (first + stop + DIP_FRAMES) * frame))
            skip = stop + DIP_FRAMES
    return found, max(since, first + skip, first + (falls[-1] + 1 if len(falls) else 0))


def _rise(
    window: np.ndarray, levels: np.ndarray, start: int, ceiling: float, longest: int
) -> int | None:
    """The last window of the dip that falls at window ``start`` (each window up to it at or
    below ``ceiling`` and DIP_DB under the music after it, that music at or above DIP_FLOOR_DB),
    the latest such up to ``longest`` frames; ``None`` where there is none, or where the audio
    stays under ``ceiling`` past them (the music read after a window is a median: a longer
    dip had passed as one of ``longest`` frames, then widened)."""
    after = SMEAR_FRAMES + DIP_FRAMES  # levels[at + after]: the music after the window at ``at``
    end = min(start + longest - DIP_FRAMES + 1, len(levels) - after)
    if end < len(window) and np.all(window[start : end + 1] <= ceiling):
        return None  # still under past ``longest``: a gate's off, or left to the scanner
    stays = np.cumprod(window[start:end] <= ceiling).astype(bool)
    music = levels[start + after : end + after]
    highest = np.maximum.accumulate(window[start:end]) * 10 ** (DIP_DB / 10)
    rises = np.flatnonzero(stays & (music >= 10 ** (DIP_FLOOR_DB / 10)) & (highest <= music))
    return int(start + rises[-1]) if len(rises) else None


class DipScanner:
    """:func:`dips` as the audio streams by (the batch's ``gaps="auto"`` on lossy coded input,
    beside its :class:`.channel_scanner.ChannelScanner`): the same dips of up to ``longest``
    frames (the batch's longest dropout, MAX_DIP_FRAMES at most) and decaying runs
    (:class:`.decays.DecayScanner`), each handed out once the frames that decide it are read and
    its train is known (:class:`_Trains`: no dip starts within GATE_FRAMES after the train's
    last, or it is a gate's). ``frame``: samples in a millisecond."""

    def __init__(self, frame: int, longest: int) -> None:
        self.frame, self.longest = frame, min(MAX_DIP_FRAMES, longest)
        self.decays = decays.DecayScanner(frame, longest)  # its runs join the dips
        self.power = np.zeros(0)  # the frames still read, from frame ``first`` of the recording
        self.first = 0
        self.since = 0  # the first frame where a dip not handed out may start
        self.rest: np.ndarray | None = None  # samples of a frame not whole yet
        self.trains = _Trains(frame)  # a dip is told once its train is known

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The dips (recording samples) decided with ``block`` (at sample ``position``)."""
        self.decays.scan(block, position)
        if self.rest is not None:
            block = np.concatenate([self.rest, block], axis=1)
        whole = block.shape[1] // self.frame * self.frame
        self.rest = block[:, whole:]
        self.power = np.concatenate([self.power, frame_power(block[:, :whole], self.frame)])
        # a start is decided once the frames its longest dip's rise reads are here
        return self._decided(self.first + len(self.power) - self.longest - 2 * SMEAR_FRAMES
                             - LEVEL_FRAMES)  # fmt: skip

    def finish(self) -> list[tuple[int, int]]:
        """The dips still undecided when the audio ends."""
        self.decays.finish()
        return self._decided(self.first + len(self.power), final=True)

    def _decided(self, until: int, final: bool = False) -> list[tuple[int, int]]:
        args = (self.power, self.first, self.frame, self.longest, self.since, until)
        found, self.since = _dips(*args)
        drop = max(0, self.since - SMEAR_FRAMES - LEVEL_FRAMES - self.first)  # read no more
        self.power, self.first = self.power[drop:], self.first + drop
        horizon = None if final else self.decays.undecided_from(self.since * self.frame)
        return self.trains.told(*self.decays.told_from(found, horizon))

    def open_from(self, received: int) -> int:
        """The earliest sample a dip not handed out yet could start at."""
        return self.decays.open_from(received, self.since * self.frame, *self.trains.waiting())


def _medians(power: np.ndarray) -> np.ndarray:
    """The median of each LEVEL_FRAMES frames of ``power`` from each frame on, read _CHUNK at a
    time (the sliding view copies LEVEL_FRAMES values per frame)."""
    count = len(power) - LEVEL_FRAMES + 1
    if count < 1:
        return np.zeros(0)
    return np.concatenate([
        np.median(sliding_window_view(power[at : at + _CHUNK + LEVEL_FRAMES - 1], LEVEL_FRAMES),
                  axis=1)
        for at in range(0, count, _CHUNK)
    ])  # fmt: skip


def sifted(
    scanner: DropoutScanner,
    audio: np.ndarray,
    runs: list,
    added: list | None = None,
    position: int = 0,
) -> list[tuple[int, int]]:
    """The dropouts in ``audio``: the scanner's ``runs`` (samples, in order) and the dips
    (``added``, or :func:`dips`) that none of them overlaps (a decaying run may:
    :func:`.decays.apart_from`), sifted by ``scanner`` (:meth:`.dropouts.DropoutScanner.sift`:
    widened, pauses and rests set apart; ``audio`` starts at sample ``position`` of the
    recording); a dip's then PAD_FRAMES wider on each side, never past a neighbouring dropout or
    the audio's ends, and kept in ``scanner.dips`` too where no run of the scanner's own finds
    it (what is told as found by this rule: :func:`.dip_pads.padded`); the gates whose dips were
    left alone, read here (``added`` ``None``), go to ``scanner.gated`` (:func:`left_alone`), and
    a run in a dip of one whose dips are even is that gate's too (:func:`_even_offs`)."""
    frame, gates = scanner.edge_frame, None
    if added is None:  # (a gate's offs of digital silence, :func:`ungated`, said once)
        added, gates = dips(audio, frame)
        runs = apart(runs, _even_offs(gates, frame))
    offs = sorted(runs + [(a - position, b - position) for gate in scanner.gated for a, b in gate])
    if gates is not None:
        scanner.gated = sorted(scanner.gated + [[(a + position, b + position) for a, b in gate]
                                                for gate in left_alone(gates, offs)])  # fmt: skip
    added = decays.apart_from(added, offs, scanner.gated, position, frame)
    found = scanner.sift(audio, sorted(runs + added), position)
    return dip_pads.padded(scanner, found, runs, added, audio.shape[1], position)
