"""Dropouts on every channel and on some channels only, found while the audio streams in (the
batch's ``gaps="auto"``): :func:`.dropouts.find_dropouts`'s rule, block by block."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import coded, pause_edges
from diffmusic_engine.diagnose.dropouts import QUIET, DropoutScanner, some_channels
from diffmusic_engine.diagnose.spans import apart, holding, taken_over

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
    of digital silence, left alone and said with ``gated``)."""

    def __init__(
        self, every: DropoutScanner, channels: int, dips: coded.DipScanner | None = None
    ) -> None:
        self.every = every
        self.dips = dips
        self.each = [
            DropoutScanner(every.min_length, every.max_length, silence=every.silence,
                           quiet=every.quiet, edge_frame=every.edge_frame)
            for _ in range(channels if channels > 1 else 0)
        ]  # fmt: skip
        self.trains = coded.gate_trains(every.edge_frame)  # every's runs, told once their train is
        self.each_trains = [coded.gate_trains(every.edge_frame) for _ in self.each]  # known
        self.each_dips = [] if dips is None else [
            coded.DipScanner(dips.frame, dips.longest) for _ in self.each
        ]  # fmt: skip
        self.origins: dict[tuple[int, int], set[int]] = {}  # run (file samples) -> who found it
        self.held: list[tuple[int, int]] = []  # runs found, a run not decided could lie before
        self.ones: list[tuple[int, int]] = []  # the dropouts on some channels kept (file samples)

    @property
    def max_length(self) -> int | None:
        return self.every.max_length

    @property
    def longer(self) -> list[tuple[int, int]]:
        return self.every.longer

    @property
    def pauses(self) -> list[tuple[int, int]]:
        return self.every.pauses

    @property
    def gated(self) -> list[coded.Gate]:
        """The gates whose offs were left alone (recording samples): runs of ``every``
        (:func:`.coded.ungated`), and dips through a lossy codec (:func:`.coded.left_alone`: not
        those ``every`` found as runs or a gate's)."""
        dipped = [] if self.dips is None else self._left_alone(self.dips.trains.gates)
        alone = [gate for trains in self.each_trains for gate in trains.gates]  # a channel's own
        return coded.said_gates(sorted(self.trains.gates + dipped), alone, self._every_runs())

    def _left_alone(self, gates: list[coded.Gate]) -> list[coded.Gate]:
        return coded.left_alone(gates, sorted(self._every_runs() + self.trains.offs()))

    def _every_runs(self) -> list[tuple[int, int]]:
        """The runs ``every`` found (pauses too; recording samples)."""
        return [run for run, origins in self.origins.items() if EVERY in origins]

    @property
    def dipped(self) -> list[tuple[int, int]]:
        """The dropouts found as dips through a lossy codec (recording samples): ``every``'s, and
        those on some channels that hold a channel's dip (:func:`.dropouts.find_all`'s)."""
        channel_dips = [dip for scanner in self.each for dip in scanner.dips]
        return sorted(self.every.dips + holding(self.ones, channel_dips))

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The runs decided in ``block`` (as :meth:`DropoutScanner.scan`) on any channel."""
        received = position + block.shape[1]
        runs = self.every.scan(block, position)
        found = self._noted(EVERY, self.trains.told(runs, self.every.open_from(received)))
        if self.dips is not None:
            found += self._noted(DIP, self.dips.scan(block, position))
        for channel, scanner in enumerate(self.each):
            runs = scanner.scan(block[channel : channel + 1], position)
            trains = self.each_trains[channel]
            found += self._noted(channel, trains.told(runs, scanner.open_from(received)))
        for channel, dips in enumerate(self.each_dips):
            found += self._noted(
                channel_dip(channel), dips.scan(block[channel : channel + 1], position)
            )
        runs, start = sorted({*self.held, *found}), self._undecided(received)
        self.held = [run for run in runs if run[0] >= start]
        return [run for run in runs if run[0] < start]

    def finish(self) -> list[tuple[int, int]]:
        found = self._noted(EVERY, self.trains.told(self.every.finish()))
        if self.dips is not None:
            found += self._noted(DIP, self.dips.finish())
        for channel, scanner in enumerate(self.each):
            found += self._noted(channel, self.each_trains[channel].told(scanner.finish()))
        for channel, dips in enumerate(self.each_dips):
            found += self._noted(channel_dip(channel), dips.finish())
        runs, self.held = sorted({*self.held, *found}), []
        return runs

    def _noted(self, origin: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for run in runs:
            self.origins.setdefault(run, set()).add(origin)
        return runs

    def open_from(self, received: int) -> int:
        """The earliest sample a run not handed out yet could start at; a channel's silence
        longer than ``max_length`` can no longer be a dropout (a hard-panned part's silent
        side would hold the stream back)."""
        return min([self._undecided(received)] + [first for first, _ in self.held[:1]])

    def _undecided(self, received: int) -> int:
        """The earliest sample a run that no scanner has decided yet could start at."""
        starts = [self.every.open_from(received), *self.trains.waiting()]
        if self.dips is not None:
            starts.append(self.dips.open_from(received))
        for scanner, trains in zip(self.each, self.each_trains, strict=True):
            start = min([scanner.open_from(received), *trains.waiting()])
            starts.append(received if received - start > scanner.max_length else start)
        return min(starts + [dips.open_from(received) for dips in self.each_dips])

    def sift(self, audio: np.ndarray, runs: tuple | list, position: int = 0) -> list:
        """The dropouts among ``runs`` (samples into ``audio``, which starts at sample
        ``position`` of the recording): those on every channel sifted by ``every``, those of
        single channels by their own scanner and :func:`.dropouts.some_channels`."""
        mine = self._found_by(EVERY, runs, position)
        if self.dips is None:
            dropouts = self.every.sift(audio, mine, position)
        else:
            # as find_all: the gates' offs, in the piece's samples
            gate_offs = [(a - position, b - position) for a, b in self.trains.offs()]
            dipped = apart(self._found_by(DIP, runs, position), gate_offs)
            dropouts = coded.sifted(self.every, audio, mine, dipped, position)
        spans = []
        for channel, scanner in enumerate(self.each):
            track, mine = audio[channel : channel + 1], self._found_by(channel, runs, position)
            frame = scanner.edge_frame
            if self.dips is None:
                sifted = scanner.sift(track, mine, position)
            else:  # and the channel's dips, as dropouts.find_all reads them
                dipped = self._found_by(channel_dip(channel), runs, position)
                sifted = coded.sifted(scanner, track, mine, dipped, position)
            spans += [(a, b) for a, b in sifted
                      if pause_edges.plays_beside(track, a, b, frame, QUIET)]  # fmt: skip
        set_apart = self._offs(position) + [(a - position, b - position) for a, b in self.pauses]
        dropouts = taken_over(dropouts, spans)  # over a channel's few ms apart
        coded_frame = 0 if self.dips is None else self.every.edge_frame
        ones = some_channels(audio, spans, dropouts + set_apart, coded_frame)
        self.ones += [(a + position, b + position) for a, b, _ in ones]
        return sorted(dropouts + [(a, b) for a, b, _ in ones])

    def _offs(self, position: int) -> list[tuple[int, int]]:
        """The offs of the gates left alone (:attr:`gated`) and still open, of every channel's
        runs or dips and each channel's own (a channel's run within one is that gate's too),
        samples from ``position``."""
        offs = self.trains.offs() + [off for trains in self.each_trains for off in trains.offs()]
        if self.dips is not None:
            gates = self.dips.trains.gates + [self.dips.trains.gate or []]  # and the one open
            offs += [dip for gate in self._left_alone(gates) for dip in gate]
            offs += [dip for dips in self.each_dips for dip in dips.trains.offs()]
        return sorted((first - position, stop - position) for first, stop in offs)

    def _found_by(self, origin: int, runs: tuple | list, position: int) -> list[tuple[int, int]]:
        """Those of ``runs`` (samples from ``position``) that ``origin`` found."""
        return [(a, b) for a, b in runs
                if origin in self.origins.get((a + position, b + position), ())]  # fmt: skip
