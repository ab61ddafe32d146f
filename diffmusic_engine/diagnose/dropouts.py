"""Dropouts: runs of digital silence, or of dither or a held value with abrupt edges, inside
the recording.

The one rule for "a dropout", used by ``diffmusic diagnose``, ``restore --gap auto`` and the
batch's ``gaps="auto"`` (which scans the audio as it streams by): a run of at least
:data:`MIN_SECONDS` where every channel stays at or below :data:`SILENCE` (digital silence), or
at or below :data:`QUIET` with abrupt edges (the millisecond of audio on each side
:data:`JUMP_DB` above the run: a dropout dithered afterwards), or held still above QUIET with
such edges (a dropout at a DC offset: :mod:`.held`). Silence at the very start or end is a
lead-in or a tail, not a dropout, and is not reported.

Why not simply "very quiet" (measured on the 14 real recordings, docs/results.md "Dropouts"):
played 40-60 dB down, as quiet passages are, real music stays below -90 dBFS on every channel
for milliseconds at a time (rests, note ends), and a -90 dBFS rule takes those for dropouts and
fills them. Music falls into a rest over more than a millisecond; a dropout starts and ends
between two samples. With the edge test no run was found in clean music at any level down to
-70 dB, stored in float, 24-bit or 16-bit, with or without dither, while dropouts dithered
afterwards (TPDF, or noise-shaped up to 5 steps of 16-bit) are found whole in music at its level
and, but for the odd one, in music played 40 dB down (docs/results.md "Dithered dropouts").

A lossy codec or a resampler smears a dropout's edges: after MP3 the digital silence starts
10-25 ms late and ends 5-15 ms early, the rest of the dropout ringing 25-90 dB under the music.
:meth:`DropoutScanner.widen` takes those edges back into the dropout (measured in
docs/results.md "Dropouts"), so that the fill does not leave them as short holes on either side.
One of 10-30 ms keeps no digital silence at all: in lossy coded input alone (``lossy``, from the
file's format) :mod:`.coded` finds it as a dip far under the music (through Opus, one of 70 ms and
more as a decaying offset: :mod:`.decays`).

A pause between two songs is digital silence with audio on both sides too, but the music fades
or decays into it (or out of it) down to nothing, while a dropout cuts the music off at whatever
level it plays: :meth:`DropoutScanner.sift` leaves such a run alone (:attr:`DropoutScanner.pauses`,
said to the user) as :mod:`.pause_edges` reads its sides (docs/results.md "Pauses between songs
are not dropouts", "Pauses after a short fade", "Pauses: the music ends in nothing").

A tape head or a cable drops one channel while the others play on: :func:`find_dropouts` reads
the same rule on each channel alone (lossy coded, its dips too), and keeps a run where that
channel plays music on both sides (not a sparse or hard-panned part, a lead-in or a tail) and
:func:`dropped_channels`, the given gaps' keep, names some channels and not all (digital
silence, a held value, or lossy coded a dip under that channel's music); the fill replaces those
alone (docs/results.md "A dropout on one channel, found by `--gap auto`").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from diffmusic_engine.diagnose import coded, flanks, held, pause_edges, scans
from diffmusic_engine.diagnose.held import HELD_DEVIATION, HELD_STEP  # noqa: F401 (here too)
from diffmusic_engine.diagnose.pause_edges import (  # noqa: F401 (the rule's constants, here too)
    PAUSE_DB,
    PAUSE_EDGE_SECONDS,
    PAUSE_FRAME_SECONDS,
    PAUSE_MIN_SECONDS,
    PAUSE_REFERENCE_SECONDS,
    PAUSE_STEP_DB,
)
from diffmusic_engine.diagnose.spans import as_findings, edges, holding, joined, taken_over

# At or below this every channel counts as digital silence (below half a 24-bit step).
SILENCE = 2.0**-25
SILENCE_DB = 20.0 * math.log10(SILENCE)  # about -150.5 dBFS
# Shorter runs are zero crossings or quiet samples, not dropouts.
MIN_SECONDS = 0.002
# Widening a found dropout's edges (DropoutScanner.widen): a frame of EDGE_FRAME_SECONDS beside
# the dropout joins it while its power stays EDGE_DB under the music's level (the median frame
# of the EDGE_REFERENCE_SECONDS beyond the widest reach), up to EDGE_SECONDS on each side.
EDGE_SECONDS = 0.03
EDGE_FRAME_SECONDS = 0.001
EDGE_REFERENCE_SECONDS = 0.02
EDGE_DB = 20.0
# A second way to be a dropout, for one dithered afterwards (or written through a converter's
# noise), which is not digital silence: a run of at least MIN_SECONDS where every channel stays at
# or below QUIET, whose edges are abrupt: the EDGE_FRAME_SECONDS of audio on each side has a mean
# power JUMP_DB or more above the run's. QUIET is 8 steps of 16-bit, above what TPDF dither (1
# step) and a second-order noise shaper (5) leave in a dropout.
QUIET = 2.0**-12
JUMP_DB = 20.0
# A channel digital silence (or held) for this share of a span dropped out there (a tape head's;
# room for a gap a little wider): selections.live_channels, the channels a dropout names
SILENT_SHARE = 0.5
# Frames scanned at a time (it streams): a 5 min stereo file in one had been 500 MB of its peak
SCAN_FRAMES = 2**18
_EDGE_FRAMES = math.ceil(EDGE_SECONDS / EDGE_FRAME_SECONDS)  # frames that may join: 30
_REFERENCE_FRAMES = math.ceil(EDGE_REFERENCE_SECONDS / EDGE_FRAME_SECONDS)  # 20
WIDEN_FRAMES = _EDGE_FRAMES + _REFERENCE_FRAMES  # the most :meth:`DropoutScanner.widen` reads


@dataclass
class _QuietRun:
    """A run where every channel stays at or below the quiet level, as the scanner reads it."""

    first: int
    before: float | None  # mean power of the frame before it (None: it starts the audio)
    energy: float = 0.0  # sum of the squares over its samples and channels, so far
    stop: int | None = None  # where it ends, once it has
    after: float = 0.0  # sum of the squares of the frame after it, so far
    after_count: int = 0  # samples of that frame read so far
    silences: list[tuple[int, int]] = field(default_factory=list)  # dropouts by the first rule
    overlong: bool = False  # longer than the scanner's max_length: its silences go out at once
    deviation: held.Deviation = field(default_factory=held.Deviation)  # a held run's, so far


class DropoutScanner:
    """Finds dropouts block by block, as audio streams by (a whole recording is one block).

    Runs of ``min_length`` samples or more where every channel stays within ``silence`` of
    zero, with audio on both sides: a run still open when the audio ends is its tail. With an
    ``edge_frame`` (samples; 0: digital silence only), runs within ``quiet`` of zero count too
    when the frame on each side is JUMP_DB above them; such a run is decided once the frame
    after it has been read, or at :meth:`finish`. Runs longer than ``max_length`` (``None``: no
    limit) are not reported as dropouts; they are kept in :attr:`longer` for the caller to say
    that it left them alone. :meth:`widen` takes the smeared edges beside them in; :meth:`sift`
    does that, keeps the pauses between songs apart in :attr:`pauses`, and drops rests.
    """

    def __init__(
        self,
        min_length: int,
        max_length: int | None = None,
        *,
        silence: float = SILENCE,
        quiet: float = QUIET,
        edge_frame: int = 0,
        held: bool = False,
    ) -> None:
        self.silence = silence
        self.quiet = max(quiet, silence)
        self.edge_frame = edge_frame
        # ``held``: reads the third way (held runs) alone; else one that does rides along
        self.held = held
        self.last: np.ndarray | None = None  # the sample before the block (``held``)
        self.held_runs = None
        if edge_frame and not held:
            self.held_runs = DropoutScanner(min_length, max_length, silence=-1.0, quiet=quiet,
                                            edge_frame=edge_frame, held=True)  # fmt: skip
        self.min_length = max(1, min_length)
        self.max_length = max_length
        self.run_start: int | None = None  # where the silent run now open began
        self.longer: list[tuple[int, int]] = []
        self.pauses: list[tuple[int, int]] = []  # runs the music fades into, left alone (sift)
        self.dips: list[tuple[int, int]] = []  # dropouts found as a codec's dips (coded.sifted)
        self.gated: list[list[tuple[int, int]]] = []  # dips left as a gate's offs (coded.Gate)
        self.open: _QuietRun | None = None  # the quiet run now open
        self.pending: list[_QuietRun] = []  # quiet runs ended, their frame after not read yet
        self.history = np.zeros(0)  # power per sample of the frame before the block

    @classmethod
    def at_rate(
        cls,
        sample_rate: int,
        *,
        min_seconds: float = MIN_SECONDS,
        max_seconds: float | None = None,
        silence: float = SILENCE,
    ) -> DropoutScanner:
        """The scanner for audio at ``sample_rate``, lengths in seconds."""
        longest = None if max_seconds is None else int(max_seconds * sample_rate)
        return cls(
            math.ceil(min_seconds * sample_rate),
            longest,
            silence=silence,
            edge_frame=max(1, round(EDGE_FRAME_SECONDS * sample_rate)),
        )

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """Dropouts ``(first, stop)`` in samples decided in ``(channels, samples)`` ``block``,
        which starts at sample ``position`` of the recording, in order."""
        found = []  # the held runs first: their scanner's per-sample arrays go before ours come
        if self.held_runs is not None:
            found += self._with_held(self.held_runs.scan(block, position))
        loudest = np.max(np.abs(block), axis=0, initial=0.0)  # per sample, of the channels
        starts, stops = edges(loudest <= self.silence, position, self.run_start)
        self.run_start = int(starts[-1]) if len(starts) > len(stops) else None
        silences = [(int(a), int(b)) for a, b in zip(starts, stops, strict=False)
                    if a > 0 and b - a >= self.min_length]  # fmt: skip
        if not self.edge_frame:
            return self._sized(silences)
        power = np.sum(np.square(block, dtype=np.float64), axis=0)
        runs = self._quiet_runs(self._quiet_mask(block, loudest), power, position)
        if self.held:  # a held run holds still as a whole too
            held.take_in(runs, block, position)
        for silence in silences:  # each lies in a quiet run: held until that run is decided
            holder = [run for run in runs if run.first <= silence[0]][-1]
            if holder.overlong:
                found += self._sized([silence])
            else:
                holder.silences.append(silence)
        self.pending += [run for run in runs if run.stop is not None]
        self._read_after(power, position)
        while self.pending and self.pending[0].after_count == self.edge_frame:
            found += self._decide(self.pending.pop(0))
        found += self._release(position + block.shape[1])
        self.history = np.concatenate([self.history, power])[-self.edge_frame :]
        return sorted(found)

    def _quiet_mask(self, block: np.ndarray, loudest: np.ndarray) -> np.ndarray:
        """Per sample of ``block``: whether it may lie in a quiet run: at or below ``quiet`` on
        every channel; for a ``held`` scanner, above it where no channel moves more than
        HELD_STEP from the sample before (:func:`.held.steady`)."""
        if not self.held:
            return loudest <= self.quiet
        before = block[:, :1] if self.last is None else self.last
        self.last = block[:, -1:].copy() if block.shape[1] else before  # (empty: kept)
        return held.steady(block, before, loudest, self.quiet)

    def _with_held(self, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """:attr:`held_runs`' ``runs`` from the sample before the first that moved no more than
        HELD_STEP from it (held too); those too long go to :attr:`longer` with the others."""
        self.longer += [(first - 1, stop) for first, stop in self.held_runs.longer]
        self.held_runs.longer = []
        return [(first - 1, stop) for first, stop in runs]

    def finish(self) -> list[tuple[int, int]]:
        """The dropouts still undecided when the audio ends: quiet runs whose frame after it
        is cut short, and digital silences inside the quiet run that is the audio's tail."""
        found = [span for run in self.pending for span in self._decide(run)]
        if self.open is not None:
            found += self._sized(self.open.silences)
        self.pending, self.open = [], None
        if self.held_runs is not None:
            found += self._with_held(self.held_runs.finish())
        return sorted(found)

    def _quiet_runs(self, quiet: np.ndarray, power: np.ndarray, position: int) -> list:
        """The quiet runs that the block ``quiet`` (per sample) touches, in order: those it
        ends (``stop`` set) and the one still open after it (:attr:`open`). Runs it holds
        whole that are shorter than ``min_length`` are left out: none is a dropout, or holds
        one (quiet music, read one channel at a time, crosses zero in thousands of them)."""
        carried = self.open.first if self.open is not None else None
        starts, stops = edges(quiet, position, carried)
        summed = np.concatenate([[0.0], np.cumsum(power)])
        before = np.concatenate([self.history, power])
        lengths = np.asarray(stops, dtype=np.int64) - np.asarray(starts[: len(stops)], np.int64)
        kept = {*np.flatnonzero(lengths >= self.min_length).tolist(), len(stops)}
        if self.open is not None:
            kept.add(0)  # the run carried over, however short so far
        runs = []
        for i in sorted(i for i in kept if i < len(starts)):
            first = starts[i]
            if i == 0 and self.open is not None:
                run = self.open
            else:
                at = int(first) - position + len(self.history)  # its index in `before`
                frame = before[max(0, at - self.edge_frame) : at]
                run = _QuietRun(int(first), float(np.mean(frame)) if first > 0 else None)
            end = int(stops[i]) if i < len(stops) else position + len(power)
            run.energy += summed[end - position] - summed[max(run.first, position) - position]
            run.stop = int(stops[i]) if i < len(stops) else None
            runs.append(run)
        self.open = runs[-1] if runs and runs[-1].stop is None else None
        return runs

    def _read_after(self, power: np.ndarray, position: int) -> None:
        """Add the block's samples to the frames after the pending runs."""
        for run in self.pending:
            at = run.stop + run.after_count - position  # the frame's next sample in the block
            taken = power[at : at + self.edge_frame - run.after_count]
            run.after += float(np.sum(taken))
            run.after_count += len(taken)

    def _decide(self, run: _QuietRun) -> list[tuple[int, int]]:
        """An ended quiet run: one dropout when its edges are abrupt (and, held, it strays from
        its mean no more than HELD_DEVIATION); else the digital silences in it (the first
        rule). One too long to fill is named with the runs left alone, once, and its silences
        are found as they would be in a stream."""
        dropout = self._abrupt(run) and run.deviation.largest() <= HELD_DEVIATION
        too_long = self.max_length is not None and run.stop - run.first > self.max_length
        if dropout and not too_long:
            return [(run.first, run.stop)]
        found = self._sized(run.silences)  # (an overlong run's went out as it grew)
        if dropout:
            self.longer = [span for span in self.longer if not run.first <= span[0] < run.stop]
            self.longer.append((run.first, run.stop))
        return found

    def _abrupt(self, run: _QuietRun) -> bool:
        """Whether the frames on both sides of ``run`` are JUMP_DB above its mean power."""
        length = run.stop - run.first
        if run.before is None or not run.after_count or length < self.min_length:
            return False  # a lead-in, or too short
        beside = min(run.before, run.after / run.after_count)
        return beside >= 10.0 ** (JUMP_DB / 10.0) * run.energy / length

    def _release(self, received: int) -> list[tuple[int, int]]:
        """An open quiet run grown past ``max_length`` can no longer be one dropout: its
        silences go out now, so that a stream need not hold the audio back any longer."""
        run = self.open
        if run is None or run.overlong or self.max_length is None:
            return []
        if received - run.first <= self.max_length:
            return []
        run.overlong, silences, run.silences = True, run.silences, []
        return self._sized(silences)

    def _sized(self, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``runs`` that are dropouts; those longer than ``max_length`` go to :attr:`longer`."""
        found = []
        for first, stop in runs:
            if self.max_length is not None and stop - first > self.max_length:
                self.longer.append((first, stop))
            else:
                found.append((first, stop))
        return found

    def widen(self, audio: np.ndarray, runs: tuple | list, smear: Callable | None = None) -> list:
        """The dropouts ``runs`` (``(first, stop)`` samples into ``(channels, samples)``
        ``audio``, in order) with the smeared edges beside them (``smear`` of the audio running
        out from each, :meth:`_smear` unless given: :func:`.coded.evenness_edges`) taken in;
        never past a neighbouring run or the audio's ends. Runs fewer than ``min_length``
        samples apart are one dropout (MP3 leaves single samples inside one)."""
        if not self.edge_frame:
            return list(runs)
        smear = smear or self._smear
        runs, widened = joined(runs, self.min_length - 1), []
        for i, (first, stop) in enumerate(runs):
            before = runs[i - 1][1] if i else 0
            after = runs[i + 1][0] if i + 1 < len(runs) else audio.shape[1]
            widened.append((
                first - smear(audio[:, before:first][:, ::-1]),
                stop + smear(audio[:, stop:after]),
            ))  # fmt: skip
        return widened

    def sift(self, audio: np.ndarray, runs: tuple | list, position: int = 0) -> list:
        """The dropouts among ``runs`` (as for :meth:`widen`), widened; the runs that the music
        fades into or out of (:func:`.pause_edges.is_pause`) go to :attr:`pauses` instead, in
        recording samples (``audio`` starts at sample ``position`` of the recording); a rest
        between clicks is neither."""
        dropouts, widened, frame = [], self.widen(audio, runs), self.edge_frame
        for index, (first, stop) in enumerate(widened):
            long = stop - first >= PAUSE_MIN_SECONDS * 1000 * frame
            if frame and long and self._pause(audio, runs, first, stop):
                self.pauses.append((first + position, stop + position))
            elif not (frame and flanks.rest(self, audio, widened, index)):
                dropouts.append((first, stop))
        return dropouts

    def _pause(self, audio: np.ndarray, runs: tuple | list, first: int, stop: int) -> bool:
        """Whether the widened run ``[first, stop)`` of ``audio`` is a pause, read beside it and
        beside the runs as found (``runs``) that it holds."""
        held = [(a, b) for a, b in runs if first <= a and b <= stop] or [(first, stop)]
        found_first, found_stop = min(a for a, _ in held), max(b for _, b in held)
        frame = self.edge_frame
        before = pause_edges.edge(audio[:, :first][:, ::-1], audio[:, :found_first][:, ::-1], frame)
        after = pause_edges.edge(audio[:, stop:], audio[:, found_stop:], frame)
        return pause_edges.is_pause(before, after)

    def _smear(self, outward: np.ndarray) -> int:
        """Samples of ``outward`` (the audio running away from a dropout's edge) that belong to
        the dropout: whole frames from the edge on, each EDGE_DB or more under the music's level
        (the median frame beyond the reach)."""
        frame = self.edge_frame
        count = min(outward.shape[1] // frame, WIDEN_FRAMES)
        if count <= _EDGE_FRAMES:  # no music beyond the reach to compare with
            return 0
        frames = outward[:, : count * frame].reshape(outward.shape[0], count, frame)
        power = np.mean(np.square(frames, dtype=np.float64), axis=(0, 2))
        level = np.median(power[_EDGE_FRAMES:])  # the music's, per frame
        quiet = power[:_EDGE_FRAMES] < level * 10 ** (-EDGE_DB / 10)
        return frame * (_EDGE_FRAMES if quiet.all() else int(np.argmin(quiet)))

    def open_from(self, received: int) -> int:
        """The earliest sample a dropout not reported yet could start at."""
        waiting = [run.first for run in [*self.pending, self.open] if run and not run.overlong]
        silent = [] if self.run_start is None else [self.run_start]
        silent = [s for s in silent if received - s <= (self.max_length or np.inf)]  # or longer
        if self.held_runs is not None:
            start = self.held_runs.open_from(received)
            waiting.append(start - 1 if start < received else start)  # (as :meth:`_with_held`)
        return min([*waiting, *silent], default=received)


Dropout = tuple[int, int, tuple[int, ...]]  # first, stop (samples), the channels dropped out


def find_runs(audio: np.ndarray, sample_rate: int, lossy: bool = False) -> tuple[list, list]:
    """The dropouts in ``(channels, samples)`` ``audio`` (:func:`find_dropouts`) and the pauses
    between songs left alone: ``([(start, end), ...], [(start, end), ...])`` in seconds."""
    found, pauses = find_dropouts(audio, sample_rate, lossy)
    return in_seconds([(a, b) for a, b, _ in found], sample_rate), in_seconds(pauses, sample_rate)


def find_dropouts(audio: np.ndarray, sample_rate: int, lossy: bool = False) -> tuple[list, list]:
    """The dropouts in ``(channels, samples)`` ``audio``, ``(first, stop, channels)`` in samples
    (``channels``: those that dropped out, counted from 0), in order; and the pauses between
    songs left alone, ``(first, stop)``: :func:`find_all`'s first two."""
    return find_all(audio, sample_rate, lossy)[:2]


@scans.once  # read once per diagnosis (.scans)
def find_all(audio: np.ndarray, rate: int, lossy: bool = False) -> tuple[list[Dropout], ...]:
    """:func:`find_dropouts`' two, the dropouts ``(first, stop)`` only a ``lossy`` input's rule
    found (:func:`.coded.sifted`; on some channels, a channel's), and the gates said left alone
    (:func:`.coded.said_gates`). One on some channels only is the rule read on each channel alone
    (:func:`some_channels`; lossy, its dips too, not a gate's), giving way to one on all of them."""
    runs, scanner, _ = _scanned(audio, rate, lossy)
    spans, channel_dips, channel_gates = _one_channel_runs(audio, rate, lossy)
    runs = taken_over(runs, spans)
    offs = coded.gate_offs(scanner.gated, audio if lossy else None, scanner.edge_frame)
    ones = some_channels(audio, spans, runs + scanner.pauses + offs, lossy * scanner.edge_frame)
    dips = holding(runs, scanner.dips) + holding([(a, b) for a, b, _ in ones], channel_dips)
    found = sorted([(a, b, tuple(range(audio.shape[0]))) for a, b in runs] + ones)
    gates = coded.said_gates(scanner.gated, channel_gates, runs + scanner.pauses)  # not runs found
    return found, scanner.pauses, sorted(dips), gates


def _scanned(audio: np.ndarray, rate: int, lossy: bool = False) -> tuple:
    """The dropouts in ``audio`` (samples), sifted; the scanner that holds its pauses (and,
    ``lossy``, the codec's dips found: :mod:`.coded`); the gates :func:`.coded.ungated` read."""
    scanner = DropoutScanner.at_rate(rate)
    runs = [run for start in range(0, audio.shape[1], SCAN_FRAMES)
            for run in scanner.scan(audio[:, start : start + SCAN_FRAMES], start)]  # fmt: skip
    runs, gates = coded.ungated(scanner, sorted(runs + scanner.finish()), audio if lossy else None)
    found = coded.sifted(scanner, audio, runs) if lossy else scanner.sift(audio, runs)
    return found, scanner, gates


def _one_channel_runs(audio: np.ndarray, rate: int, lossy: bool = False) -> tuple[list, ...]:
    """The runs found on one channel alone by the whole rule (digital silence, or dither or a held
    value with abrupt edges, widened, not a pause there; ``lossy``: its dips too) where it plays
    music on both sides (:func:`.pause_edges.plays_beside`: not a sparse or hard-panned part, a
    lead-in or a tail), those found as its dips (:func:`.coded.sifted`) and its gates of runs
    (:func:`.coded.ungated`); none for one channel. :func:`some_channels` keeps those
    :func:`dropped_channels` names on some (one dithered, not)."""
    spans, dips, gates = [], [], []
    for channel in range(audio.shape[0] if audio.shape[0] > 1 else 0):
        track = audio[channel : channel + 1]
        runs, scanner, track_gates = _scanned(track, rate, lossy)
        spans += [(a, b) for a, b in runs
                  if pause_edges.plays_beside(track, a, b, scanner.edge_frame, QUIET)]  # fmt: skip
        dips, gates = dips + scanner.dips, gates + track_gates
    return spans, dips, gates


def some_channels(audio: np.ndarray, spans: list, taken: list, coded_frame: int = 0) -> list:
    """The runs ``spans`` found on single channels of ``audio`` (samples), joined where they
    overlap across channels, kept where :func:`dropped_channels` (the given gaps' keep; lossy
    coded, ``coded_frame``, a channel's dip too) names some channels and not all, and no run on
    every channel (``taken``: dropouts, pauses) overlaps them; with the channels dropped out."""
    found = []
    for first, stop in joined(spans, reach=-1):
        dropped = dropped_channels(audio, first, stop, coded_frame)
        if dropped.all() or any(a < stop and first < b for a, b in taken):
            continue
        if dropped.any():
            found.append((first, stop, tuple(int(c) for c in np.flatnonzero(dropped))))
    return found


def dropped_channels(audio: np.ndarray, first: int, stop: int, coded_frame: int = 0) -> np.ndarray:
    """Per channel, whether it dropped out in ``[first, stop)`` of ``audio``: SILENT_SHARE or
    more of its samples there are digital silence; where none is, held at a DC offset
    (:func:`.held.held_channels`: beside one gone silent, a steady channel plays on); where
    neither is, lossy coded (``coded_frame``: its 1 ms frame, :func:`.selections.coded_frame`;
    0: not), dipped under its own music (:func:`.coded.dipped_channels`)."""
    if stop <= first:
        return np.zeros(audio.shape[0], bool)
    span = audio[:, first:stop]
    silent = np.mean(np.abs(span) <= SILENCE, axis=1) >= SILENT_SHARE
    dropped = silent if silent.any() else held.held_channels(span, SILENT_SHARE, QUIET)
    if dropped.any() or not coded_frame:
        return dropped
    return coded.dipped_channels(audio, first, stop, coded_frame)


def find(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` in seconds, one per dropout in ``(channels, samples)`` ``audio``."""
    return find_runs(audio, sample_rate)[0]


def in_seconds(runs: list[tuple[int, int]], sample_rate: int) -> list[tuple[float, float]]:
    return [(first / sample_rate, stop / sample_rate) for first, stop in runs]


def detect(audio: np.ndarray, sample_rate: int) -> list[dict]:
    """``[{"start": s, "end": s, "channels": [1, 2]}, ...]``, times rounded to 0.1 ms, channels
    (those that dropped out) counted from 1: the findings for ``diagnose``."""
    return detect_all(audio, sample_rate)["dropouts"]


def detect_all(audio: np.ndarray, sample_rate: int, lossy: bool = False) -> dict[str, list]:
    """``diagnose``'s ``dropouts`` (:func:`detect`; ``"lossy": true`` on one that only a lossy
    coded input's rule found, ``lossy``: :mod:`.coded`), ``pauses`` (:func:`.pauses.detect`) and
    ``gates`` (those whose offs that rule left alone, :func:`.gates.detect`), all of one scan
    (:func:`find_all`)."""
    found, pauses, dips, gates = find_all(audio, sample_rate, lossy)
    findings = as_findings([(a, b) for a, b, _ in found], sample_rate)
    for finding, (first, stop, channels) in zip(findings, found, strict=True):
        finding["channels"] = [c + 1 for c in channels]
        if (first, stop) in dips:
            finding["lossy"] = True
    told = as_findings([(gate[0][0], gate[-1][1]) for gate in gates], sample_rate)
    for finding, gate in zip(told, gates, strict=True):
        finding["dips"] = as_findings(gate, sample_rate)
    return {"dropouts": findings, "pauses": as_findings(pauses, sample_rate), "gates": told}
