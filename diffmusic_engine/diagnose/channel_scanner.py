"""Dropouts on every channel and on some channels only, found while the audio streams in (the
batch's ``gaps="auto"``): :func:`.dropouts.find_dropouts`'s rule, block by block."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import coded, pause_edges
from diffmusic_engine.diagnose.dropouts import QUIET, DropoutScanner, some_channels
from diffmusic_engine.diagnose.spans import holding, taken_over

EVERY = -1  # the origin of a run found on every channel at once
DIP = -2  # the origin of a dip through a lossy codec (coded.DipScanner); DIP - 1 - c: channel c's


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
    the batch's regions are added in order (``bridge.batch.chunking.add_span``)."""

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
        """The gates whose offs, dips through a lossy codec, were left alone (recording
        samples; :func:`.coded.left_alone`: not those ``every`` found as runs)."""
        return [] if self.dips is None else self._left_alone(self.dips.trains.gates)

    def _left_alone(self, gates: list[coded.Gate]) -> list[coded.Gate]:
        runs = [run for run, origins in self.origins.items() if EVERY in origins]
        return coded.left_alone(gates, sorted(runs))

    @property
    def dipped(self) -> list[tuple[int, int]]:
        """The dropouts found as dips through a lossy codec (recording samples): ``every``'s, and
        those on some channels that hold a channel's dip (:func:`.dropouts.find_all`'s)."""
        channel_dips = [dip for scanner in self.each for dip in scanner.dips]
        return sorted(self.every.dips + holding(self.ones, channel_dips))

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """The runs decided in ``block`` (as :meth:`DropoutScanner.scan`) on any channel."""
        found = self._noted(EVERY, self.every.scan(block, position))
        if self.dips is not None:
            found += self._noted(DIP, self.dips.scan(block, position))
        for channel, scanner in enumerate(self.each):
            found += self._noted(channel, scanner.scan(block[channel : channel + 1], position))
        for channel, dips in enumerate(self.each_dips):
            found += self._noted(
                DIP - 1 - channel, dips.scan(block[channel : channel + 1], position)
            )
        runs, start = sorted({*self.held, *found}), self._undecided(position + block.shape[1])
        self.held = [run for run in runs if run[0] >= start]
        return [run for run in runs if run[0] < start]

    def finish(self) -> list[tuple[int, int]]:
        found = self._noted(EVERY, self.every.finish())
        if self.dips is not None:
            found += self._noted(DIP, self.dips.finish())
        for channel, scanner in enumerate(self.each):
            found += self._noted(channel, scanner.finish())
        for channel, dips in enumerate(self.each_dips):
            found += self._noted(DIP - 1 - channel, dips.finish())
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
        starts = [self.every.open_from(received)]
        if self.dips is not None:
            starts.append(self.dips.open_from(received))
        for scanner in self.each:
            start = scanner.open_from(received)
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
            dipped = self._found_by(DIP, runs, position)
            dropouts = coded.sifted(self.every, audio, mine, dipped, position)
        spans = []
        for channel, scanner in enumerate(self.each):
            track, mine = audio[channel : channel + 1], self._found_by(channel, runs, position)
            frame = scanner.edge_frame
            if self.dips is None:
                sifted = scanner.sift(track, mine, position)
            else:  # and the channel's dips, as dropouts.find_all reads them
                dipped = self._found_by(DIP - 1 - channel, runs, position)
                sifted = coded.sifted(scanner, track, mine, dipped, position)
            spans += [(a, b) for a, b in sifted
                      if pause_edges.plays_beside(track, a, b, frame, QUIET)]  # fmt: skip
        set_apart = [(a - position, b - position) for a, b in self.every.pauses + self._offs()]
        dropouts = taken_over(dropouts, spans)  # over a channel's few ms apart
        coded_frame = 0 if self.dips is None else self.every.edge_frame
        ones = some_channels(audio, spans, dropouts + set_apart, coded_frame)
        self.ones += [(a + position, b + position) for a, b, _ in ones]
        return sorted(dropouts + [(a, b) for a, b, _ in ones])

    def _offs(self) -> list[tuple[int, int]]:
        """The dips of the gates left alone (:attr:`gated`), of the gate still open, and of each
        channel's own: a channel's run within one is that gate's too (recording samples)."""
        if self.dips is None:
            return []
        gate = self.dips.trains.gate
        gates = self.gated + self._left_alone([gate] if gate is not None else [])
        for trains in [dips.trains for dips in self.each_dips]:  # a channel's own (coded.gate_offs)
            gates += trains.gates + ([trains.gate] if trains.gate is not None else [])
        return [dip for gate in gates for dip in gate]

    def _found_by(self, origin: int, runs: tuple | list, position: int) -> list[tuple[int, int]]:
        """Those of ``runs`` (samples from ``position``) that ``origin`` found."""
        return [(a, b) for a, b in runs
                if origin in self.origins.get((a + position, b + position), ())]  # fmt: skip
