"""Dropouts on every channel and on some channels only, found while the audio streams in (the
batch's ``gaps="auto"``): :func:`.dropouts.find_dropouts`'s rule, block by block."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import coded, pause_edges
from diffmusic_engine.diagnose.dropouts import QUIET, WIDEN_FRAMES, DropoutScanner, some_channels
from diffmusic_engine.diagnose.spans import apart, holding, joined, taken_over

EVERY = -1  # the origin of a run found on every channel at once
DIP = -2  # the origin of a dip through a lossy codec (coded.DipScanner), every channel at once


def channel_dip(channel: int) -> int:
    """The origin of a dip through a lossy codec on ``channel`` alone (under :data:`DIP`)."""
    return DIP - 1 - channel


class ChannelScanner:
    """A :class:`DropoutScanner` (``every``: every channel at once) with one more per channel,
    behind the same calls: :meth:`scan` and :meth:`finish` hand out the runs any of them finds (each
    remembers which), :meth:`sift` keeps those :func:`.dropouts.find_dropouts` keeps. What is said
    to the user (``longer``, ``pauses``, ``dipped``: and the dropouts kept on some channels that
    hold a channel's dip) is ``every``'s, as are the runs that keep a gate's dip from being said
    left alone (``gated``, the gates of ``dips``): a part silent on one channel for long is no
    news. With ``dips`` (lossy coded input) a dip through the codec is a run too, sifted as
    :func:`.coded.sifted` sifts it, and so is each channel's alone (a dropout cut into one
    channel before encoding). Runs are handed out in order: one is held while a run not
    handed out yet could start before it (a dip waits for its train, :class:`.coded.DipScanner`), as
    the batch's regions are added in order (``bridge.batch.chunking.add_span``). The runs of
    ``every`` and of each channel wait for their train too (:func:`.coded.ungated`: a gate's offs
    of digital silence, left alone and said with ``gated``); lossy coded, each until its widening
    is known (:class:`_Widened`), and one in a dip of the codec's gate until that gate's evenness
    is (:class:`_EvenDips`), as the whole file reads them. What is read of every channel at once
    and of each channel is one :class:`_Track` each (:attr:`every`, :attr:`each`)."""

    def __init__(
        self, every: DropoutScanner, channels: int, dips: coded.DipScanner | None = None
    ) -> None:
        self.every = _Track(every, dips, EVERY, DIP)
        self.each = [
            _Track(
                DropoutScanner(every.min_length, every.max_length, silence=every.silence,
                               quiet=every.quiet, edge_frame=every.edge_frame),
                None if dips is None else coded.DipScanner(dips.frame, dips.decays.longest),
                channel, channel_dip(channel),
            )
            for channel in range(channels if channels > 1 else 0)
        ]  # fmt: skip
        self.origins: dict[tuple[int, int], set[int]] = {}  # run (file samples) -> who found it
        self.held: list[tuple[int, int]] = []  # runs found, a run not decided could lie before
        self.ones: list[tuple[int, int]] = []  # the dropouts on some channels kept (file samples)

    @property
    def lossy(self) -> bool:
        """Whether the input was lossy coded: its dips through the codec are read too."""
        return self.every.dips is not None

    @property
    def tracks(self) -> list[_Track]:
        """:attr:`every`, then each channel's."""
        return [self.every, *self.each]

    @property
    def max_length(self) -> int | None:
        return self.every.scanner.max_length

    @property
    def edge_frame(self) -> int:
        return self.every.scanner.edge_frame

    @property
    def longer(self) -> list[tuple[int, int]]:
        return self.every.scanner.longer

    @property
    def pauses(self) -> list[tuple[int, int]]:
        return self.every.scanner.pauses

    @property
    def gated(self) -> list[coded.Gate]:
        """The gates whose offs were left alone (recording samples): runs of ``every``
        (:func:`.coded.ungated`), and dips through a lossy codec (:func:`.coded.left_alone`: not
        those ``every`` found as runs or a gate's)."""
        dipped = self._left_alone(self.every.dips.trains.gates) if self.lossy else []
        alone = [gate for track in self.each for gate in track.trains.gates]  # a channel's own
        return coded.said_gates(sorted(self.every.trains.gates + dipped), alone, self._every_runs())

    def _left_alone(self, gates: list[coded.Gate]) -> list[coded.Gate]:
        return coded.left_alone(gates, sorted(self._every_runs() + self.every.trains.offs()))

    def _every_runs(self) -> list[tuple[int, int]]:
        """The runs ``every`` found (pauses too; recording samples), but those in an even gate's
        dips through the codec (that gate's: :class:`_EvenDips`)."""
        runs = [run for run, origins in self.origins.items() if EVERY in origins]
        return apart(runs, self.every.even.trains.offs())

    @property
    def dipped(self) -> list[tuple[int, int]]:
        """The dropouts found as dips through a lossy codec (recording samples): ``every``'s, and
        those on some channels that hold a channel's dip (:func:`.dropouts.find_all`'s)."""
        channel_dips = [dip for track in self.each for dip in track.scanner.dips]
        return sorted(self.every.scanner.dips + holding(self.ones, channel_dips))

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The runs decided in ``block`` (as :meth:`DropoutScanner.scan`) on any channel."""
        parts = [(self.every, block)] + [
            (track, block[channel : channel + 1]) for channel, track in enumerate(self.each)
        ]
        found = []  # every track's runs, then (lossy) every track's dips; who found each noted
        for track, part in parts:
            found += self._noted(track.origin, track.runs(part, position))
        for track, part in parts if self.lossy else []:
            found += self._noted(track.dip_origin, track.dips_in(part, position))
        runs, start = sorted({*self.held, *found}), self._undecided(position + block.shape[1])
        self.held = [run for run in runs if run[0] >= start]
        return [run for run in runs if run[0] < start]

    def finish(self) -> list[tuple[int, int]]:
        found = []
        for track in self.tracks:
            found += self._noted(track.origin, track.last_runs())
        for track in self.tracks if self.lossy else []:
            found += self._noted(track.dip_origin, track.last_dips())
        runs, self.held = sorted({*self.held, *found}), []
        return runs

    def _noted(self, origin: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for run in runs:
            self.origins.setdefault(run, set()).add(origin)
        return runs

    def open_from(self, received: int) -> int:
        """The earliest sample a run not handed out yet could start at: every track's found
        runs hold it, however late they are told (a channel's silence longer than
        ``max_length``, a hard-panned part's silent side, holds nothing:
        :meth:`.DropoutScanner.open_from`)."""
        return min([self._undecided(received)] + [first for first, _ in self.held[:1]])

    def _undecided(self, received: int) -> int:
        """The earliest sample a run that no scanner has decided yet could start at."""
        starts = [track.open_from(received) for track in self.tracks]
        dips = [first for track in self.tracks for first in track.dips_from(received)]
        return min(starts + dips)

    def sift(self, audio: np.ndarray, runs: tuple | list, position: int = 0) -> list:
        """The dropouts among ``runs`` (samples into ``audio``, which starts at sample
        ``position`` of the recording): those on every channel sifted by ``every``, those of
        single channels by their own scanner and :func:`.dropouts.some_channels`."""
        dropouts = self._sifted(self.every, audio, runs, position)
        spans = []
        for channel, track in enumerate(self.each):
            part = audio[channel : channel + 1]
            frame = track.scanner.edge_frame
            spans += [(a, b) for a, b in self._sifted(track, part, runs, position)
                      if pause_edges.plays_beside(part, a, b, frame, QUIET)]  # fmt: skip
        set_apart = self._offs(position) + [(a - position, b - position) for a, b in self.pauses]
        dropouts = taken_over(dropouts, spans)  # over a channel's few ms apart
        coded_frame = self.every.scanner.edge_frame if self.lossy else 0
        ones = some_channels(audio, spans, dropouts + set_apart, coded_frame)
        self.ones += [(a + position, b + position) for a, b, _ in ones]
        return sorted(dropouts + [(a, b) for a, b, _ in ones])

    def _sifted(self, track: _Track, audio: np.ndarray, runs: tuple | list, position: int) -> list:
        """The dropouts among those of ``runs`` that ``track`` found (``audio``, samples from
        ``position``, its channels): lossy coded, with its dips, as :func:`.dropouts.find_all`
        reads them (its gates' offs too)."""
        mine = self._found_by(track.origin, runs, position)
        if track.dips is None:
            return track.scanner.sift(audio, mine, position)
        gate_offs = [(a - position, b - position) for a, b in track.trains.offs()]
        dipped = apart(self._found_by(track.dip_origin, runs, position), gate_offs)
        mine = track.even.apart(mine, position)  # a run in an even gate's dips is its
        return coded.sifted(track.scanner, audio, mine, dipped, position)

    def _offs(self, position: int) -> list[tuple[int, int]]:
        """The offs of the gates left alone (:attr:`gated`) and still open, of every channel's
        runs or dips and each channel's own (a channel's run within one is that gate's too),
        samples from ``position``."""
        offs = [off for track in self.tracks for off in track.trains.offs()]
        if self.lossy:
            trains = self.every.dips.trains
            gates = trains.gates + [trains.gate or []]  # and the one open
            offs += [dip for gate in self._left_alone(gates) for dip in gate]
            offs += [dip for track in self.each for dip in track.dips.trains.offs()]
        return sorted((first - position, stop - position) for first, stop in offs)

    def _found_by(self, origin: int, runs: tuple | list, position: int) -> list[tuple[int, int]]:
        """Those of ``runs`` (samples from ``position``) that ``origin`` found."""
        return [(a, b) for a, b in runs
                if origin in self.origins.get((a + position, b + position), ())]  # fmt: skip


class _Track:
    """What is read of one track, every channel at once or one alone: its silent runs
    (``scanner``), each told once its train is known (``trains``, through ``widened``), and,
    lossy coded, its dips through the codec (``dips``), told once their gate's evenness is known
    (``even``); ``origin`` and ``dip_origin`` name who found a run (:data:`EVERY`, a channel)."""

    def __init__(
        self,
        scanner: DropoutScanner,
        dips: coded.DipScanner | None,
        origin: int,
        dip_origin: int,
    ) -> None:
        self.scanner, self.dips, self.origin, self.dip_origin = scanner, dips, origin, dip_origin
        self.trains = coded.gate_trains(scanner.edge_frame)  # told once their train is known
        self.widened = _Widened(scanner, self.trains, dips is not None)  # lossy: read as widened
        self.even = _EvenDips(dips, scanner.edge_frame)  # the codec's gates whose dips are even

    def runs(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The runs told in ``block`` (at ``position``): found, their train known."""
        return self.widened.told(block, position, self.scanner.scan(block, position))

    def last_runs(self) -> list[tuple[int, int]]:
        """The runs still to tell, the audio ended."""
        return self.widened.finish(self.scanner.finish())

    def dips_in(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The dips through the codec decided in ``block`` (at ``position``)."""
        dips = self.dips.scan(block, position)
        self.even.read(self.dips.open_from(position + block.shape[1]))
        return dips

    def last_dips(self) -> list[tuple[int, int]]:
        """The dips still to tell, the audio ended."""
        dips = self.dips.finish()
        self.even.read(None)
        return dips

    def open_from(self, received: int) -> int:
        """The earliest sample a run not told yet could start at, ``received`` samples in."""
        return min([self.scanner.open_from(received), *self.trains.waiting(),
                    *self.widened.waiting()])  # fmt: skip

    def dips_from(self, received: int) -> list[int]:
        """Where a dip not told yet could start (none, or the earliest of each reading)."""
        waiting = self.even.waiting()
        return waiting if self.dips is None else [*waiting, self.dips.open_from(received)]


class _Widened:
    """A scanner's runs told to its ``trains`` as the whole file's are (:func:`.coded.ungated`):
    ``lossy``, their evenness read on the runs as widened, either way (the fill's widening and
    :func:`.coded.evenness_edges`), each told once what decides its widening is here
    (WIDEN_FRAMES of audio beyond it, or the next run); the audio kept for it, from WIDEN_FRAMES
    before the earliest run that may come (in the blocks as they came: a long silence holds it
    back, and it is not copied block by block)."""

    def __init__(self, scanner: DropoutScanner, trains: coded._Trains, lossy: bool) -> None:
        self.scanner, self.trains, self.lossy = scanner, trains, lossy
        self.reach = WIDEN_FRAMES * scanner.edge_frame
        self.blocks: list[tuple[int, np.ndarray]] = []  # the audio kept: (position, block)
        self.unread: list[tuple[int, int]] = []  # runs found, their widening not decided yet
        self.before = 0  # the stop of the last run widened: the next widening stops there
        self.received = 0

    def told(self, block: np.ndarray, position: int, runs: list) -> list[tuple[int, int]]:
        """The dropouts ``trains`` tells with ``runs``, found in ``block`` (at ``position``)."""
        self.received = position + block.shape[1]
        opened = self.scanner.open_from(self.received)
        if not self.lossy:
            return self.trains.told(runs, opened)
        self.blocks.append((position, block.copy()))  # (the caller may reuse its block)
        self.unread = sorted(self.unread + runs)
        told = self._read(min(opened, self.received))
        keep = min([opened, *self.waiting()]) - self.reach  # a later run's widening reads here
        while self.blocks and self.blocks[0][0] + self.blocks[0][1].shape[1] <= keep:
            self.blocks.pop(0)
        return told

    def finish(self, runs: list) -> list[tuple[int, int]]:
        """The dropouts still to tell, the audio ended: ``runs`` the last found."""
        if not self.lossy:
            return self.trains.told(runs)
        self.unread = sorted(self.unread + runs)
        return self._read(None)

    def waiting(self) -> list[int]:
        """The first sample of the runs found and not told yet (none, or one)."""
        return [first for first, _ in self.unread[:1]]

    def _read(self, decided: int | None) -> list[tuple[int, int]]:
        """Tell the runs whose widening is decided: no run may start before ``decided`` but those
        found (``None``: the audio ended)."""
        edges: dict = {}
        while self.unread:
            # runs closer than the shortest are widened as one, as DropoutScanner.widen joins them
            extent = joined(self.unread, self.scanner.min_length - 1)[0]
            group = [run for run in self.unread if run[0] < extent[1]]
            stop, after = group[-1][1], self.unread[len(group) :][:1]
            if not after and decided is not None and decided < stop + self.reach:
                break  # a run may still join it or stop its widening
            low = max(self.before, group[0][0] - self.reach)
            high = min(after[0][0] if after else self.received, stop + self.reach)
            part = self._audio(low, high)
            group_part = [(a - low, b - low) for a, b in group]
            readings = [self.scanner.widen(part, group_part)[0],
                        coded.evenness_edges(self.scanner, part, group_part)[0]]  # fmt: skip
            edges |= {run: tuple((a + low, b + low) for a, b in readings) for run in group}
            self.unread, self.before = self.unread[len(group) :], stop
        horizon = None if decided is None else min([decided, *self.waiting()])
        return self.trains.told(list(edges), horizon, edges)

    def _audio(self, low: int, high: int) -> np.ndarray:
        """The audio kept from sample ``low`` to ``high``."""
        parts = [block[:, max(0, low - at) : high - at] for at, block in self.blocks
                 if at < high and low < at + block.shape[1]]  # fmt: skip
        return np.concatenate(parts, axis=1)


class _EvenDips:
    """The dips of the codec's gates (``dips``' trains of GATE_COUNT or more) read as the silent
    runs are (:func:`.coded.gate_trains`), told as they come: a run in one of GATE_COUNT in a row
    that start evenly and last alike is that gate's off, no dropout (:func:`.coded.sifted`)."""

    def __init__(self, dips: coded.DipScanner | None, frame: int) -> None:
        self.dips, self.trains, self.dips_told = dips, coded.gate_trains(frame), 0

    def read(self, horizon: int | None) -> None:
        """Tell :attr:`trains` the gates' dips found since (none later starts before
        ``horizon``; ``None``: the audio ended)."""
        gated = self.dips.trains.offs()  # only ever grows at its end: those since are new
        self.trains.told(gated[self.dips_told :], horizon)
        self.dips_told = len(gated)

    def waiting(self) -> list[int]:
        """The first sample of the dips whose evenness is not known yet (none, or one)."""
        return self.trains.waiting()

    def apart(self, runs: list, position: int) -> list[tuple[int, int]]:
        """Those of ``runs`` (samples from ``position``) in no even gate's dip."""
        return apart(runs, [(a - position, b - position) for a, b in self.trains.offs()])
