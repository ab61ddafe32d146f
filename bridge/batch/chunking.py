"""Restoring a long signal a piece at a time, so that memory stays bounded.

Two plans, both fixed in *file time* (sample positions counted from the start of the file), so
that a file streamed block by block gives exactly what the same file gives in one call:

* :class:`OverlapStream`: overlapping chunks of about ``chunk`` samples, each restored on its own,
  joined by a raised-cosine crossfade over the ``overlap`` samples they share. Used by every task
  whose damage is spread over the whole signal (bandwidth, reverb, phase, mixing).
* :class:`RegionStream`: inpainting's natural chunking. Only a region around each gap (``context``
  samples or five gap lengths either side) is restored; the rest passes through untouched.
  Regions that touch merge, up to a length (:func:`add_span`), so that memory stays bounded
  however many dropouts a long file has, however close (down to two crossfade margins apart, and
  found ones a crossfade margin and the 70 ms their sift reads after one: closer ones are restored
  as one region). Gaps are given, or found as the
  audio goes by (``diagnose.dropouts.DropoutScanner``, whose ``sift`` takes a found dropout's
  smeared edges in when its region is restored, and leaves pauses between songs alone: the
  region holds the context_seconds of music either side that its pause test reads); given gaps
  are taken over the dropouts at their edges then (``extend``: ``diagnose.selections.extend``,
  as the engine does).

Both take input in blocks of any size (``push``) and hand back output as soon as it is final; the
total output has exactly as many samples as the input (``finish`` returns the rest). The chunk
arithmetic is written by hand because it is specific to this streaming contract (no library
splits a stream into file-time chunks that a one-shot call reproduces bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diffmusic_engine.diagnose.channel_scanner import ChannelScanner
from diffmusic_engine.diagnose.dropouts import EDGE_FRAME_SECONDS, WIDEN_FRAMES, DropoutScanner
from diffmusic_engine.diagnose.pause_edges import PAUSE_EDGE_SECONDS, PAUSE_FRAME_SECONDS
from diffmusic_engine.errors import InputError
from diffmusic_engine.longform.windows import taper

# The least correlation _keep_power corrects for (two chunks' top bands, rebuilt each on its own,
# correlated at -0.28; floored at 0, a 2 dB dip was left)
MIN_CORRELATION = -0.5

# Restore one piece: (audio (channels, samples), first sample of the piece in file time, damaged
# spans in file samples or None for a chunk of spread damage) -> audio.
PieceRestorer = Callable[[np.ndarray, int, tuple[tuple[int, int], ...] | None], np.ndarray]


def chunk_plan(total: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """Chunks ``[start, end)`` covering ``[0, total)``; neighbours share exactly ``overlap``.

    Chunks start every ``chunk - overlap`` samples. A remainder shorter than half a chunk is
    merged into the last chunk (which is then at most 1.5 chunks long), so that no piece is too
    short for a backend to work on; a signal up to 1.5 chunks long is one chunk.
    """
    if chunk <= 2 * overlap:
        raise ValueError(f"chunk ({chunk}) must be more than twice the overlap ({overlap})")
    if total <= chunk + chunk // 2:
        return [(0, total)]
    hop = chunk - overlap
    full = (total - overlap) // hop  # chunks of exactly `chunk` samples that fit
    starts = [k * hop for k in range(full)]
    remainder = total - (starts[-1] + chunk)
    if remainder >= chunk // 2:
        starts.append(full * hop)
    return [(s, s + chunk) for s in starts[:-1]] + [(starts[-1], total)]


def _crossfade(tail: np.ndarray, head: np.ndarray, keep_power: bool = False) -> np.ndarray:
    """``tail`` fading out into ``head`` (raised cosine ``w``, the engine's one ``taper``).

    ``tail + (head - tail) w``: exactly the input where both chunks left it unchanged (``tail
    (1 - w) + head w`` changed such samples by an ulp). ``keep_power``: for chunks restored
    independently of each other, see :func:`_keep_power`."""
    w = taper(tail.shape[1], tail.shape[1], fall=False)
    faded = tail + (head - tail) * w.astype(np.float32)
    return _keep_power(tail, head, faded, w) if keep_power else faded


def _keep_power(tail: np.ndarray, head: np.ndarray, faded: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The crossfade ``faded`` with the power the chunks' independence loses given back, per
    frequency. Where two chunks rebuilt a part of the signal each on its own (phase retrieval
    its phase: correlation 0.01-0.11 over a real mix's overlaps; super-resolution its top band:
    -0.28 there, while the band below it correlates at 0.9998), ``a t + b h`` (``a = 1 - w``,
    ``b = w``) sums to less power in the middle (-3 dB for independent parts; a -4.2 dB dip
    and a -4 dB top-band dip measured). Each STFT bin ``k`` of the crossfade is divided by
    ``sqrt(a^2 + b^2 + 2 rho_k a b)``, the crossfade's power at the two chunks' correlation
    ``rho_k`` in that bin over the overlap (floored at ``MIN_CORRELATION``: at most +6 dB in the
    middle); 1 at the ends and where the chunks agree. One correlation for every frequency had
    left the top band's dip whole, the band below dominating it. Written here: no library
    crossfades at a correlation per bin."""
    import librosa

    if np.array_equal(tail, head):  # both chunks left it as it was: exactly the input
        return faded
    n = tail.shape[1]
    n_fft = min(2048, 1 << int(np.log2(max(n, 16))) - 1)
    hop = n_fft // 4
    t, h = (librosa.stft(x.astype(np.float64), n_fft=n_fft, hop_length=hop) for x in (tail, head))
    power = np.sum(np.abs(t) ** 2, axis=(0, 2)) * np.sum(np.abs(h) ** 2, axis=(0, 2))
    rho = np.sum(np.real(t * np.conj(h)), axis=(0, 2)) / np.sqrt(np.maximum(power, 1e-300))
    rho = np.clip(rho, MIN_CORRELATION, 1.0)[:, None]  # (bins, 1)
    b = w[np.minimum(np.arange(t.shape[-1]) * hop, n - 1)][None, :]  # w at each frame's centre
    a = 1.0 - b
    gain = 1.0 / np.sqrt(a * a + b * b + 2.0 * rho * a * b)  # (bins, frames)
    spectrum = librosa.stft(faded.astype(np.float64), n_fft=n_fft, hop_length=hop)
    out = librosa.istft(spectrum * gain, n_fft=n_fft, hop_length=hop, length=n)
    return out.astype(np.float32)


class _Buffer:
    """Input samples from file position ``start`` on; ``append`` grows it, ``drop_before`` cuts."""

    def __init__(self, channels: int) -> None:
        self.start = 0
        self.data = np.zeros((channels, 0), dtype=np.float32)

    @property
    def end(self) -> int:
        return self.start + self.data.shape[1]

    def append(self, block: np.ndarray) -> None:
        self.data = np.concatenate([self.data, block], axis=1)

    def view(self, start: int, end: int) -> np.ndarray:
        return self.data[:, start - self.start : end - self.start]

    def drop_before(self, position: int) -> None:
        self.data = self.data[:, position - self.start :].copy()
        self.start = position


class OverlapStream:
    """Overlapping chunks with crossfade (see :func:`chunk_plan`)."""

    def __init__(
        self,
        restore: PieceRestorer,
        total: int,
        channels: int,
        chunk: int,
        overlap: int,
        *,
        keep_power: bool = False,  # chunks restored independently (see _crossfade)
        silent: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.restore = restore
        self.keep_power = keep_power
        # A chunk's (channels, samples) -> True where its restoration gives the input back
        # (dropouts and pauses: diffmusic_engine.silence.silent_samples), or None. A seam cuts
        # a dropout that the other chunk's scan sees whole (read as a lead-in or a tail), and
        # the crossfade (keep_power's gain most) would mix sound into it: such samples are given
        # back as they came in wherever either chunk found them. One longer than the overlap
        # may be whole in neither chunk, and is processed as music.
        self.silent = silent
        self.tail_silent: np.ndarray | None = None  # the previous chunk's, over the overlap
        self.total = total
        self.overlap = overlap
        self.plan = chunk_plan(total, chunk, overlap)
        self.next_chunk = 0
        self.buffer = _Buffer(channels)
        self.tail: np.ndarray | None = None  # previous chunk's output over the shared overlap
        self.received = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        self.received += block.shape[1]
        if self.received > self.total:
            raise InputError(f"stream: got {self.received} samples, {self.total} announced")
        self.buffer.append(block)
        outputs = []
        while self.next_chunk < len(self.plan) and self.buffer.end >= self.plan[self.next_chunk][1]:
            outputs.append(self._restore_next())
        return _join(outputs, self.buffer.data.shape[0])

    def finish(self) -> np.ndarray:
        if self.received != self.total:
            raise InputError(f"stream: got {self.received} samples, {self.total} announced")
        return self.push(np.zeros((self.buffer.data.shape[0], 0), dtype=np.float32))

    def _restore_next(self) -> np.ndarray:
        start, end = self.plan[self.next_chunk]
        piece = self.buffer.view(start, end)
        y = self.restore(piece, start, None)
        silent = None if self.silent is None else self.silent(piece)
        if self.tail is not None:  # crossfade the overlap shared with the previous chunk
            overlap = self.tail.shape[1]
            y[:, :overlap] = _crossfade(self.tail, y[:, :overlap], self.keep_power)
            if silent is not None:
                silent[:, :overlap] |= self.tail_silent
        if silent is not None:
            y[silent] = piece[silent]
        self.next_chunk += 1
        if self.next_chunk == len(self.plan):
            self.tail = None
            self.buffer.drop_before(end)
            return y
        next_start = self.plan[self.next_chunk][0]
        self.tail = y[:, next_start - start :].copy()
        self.tail_silent = None if silent is None else silent[:, next_start - start :]
        self.buffer.drop_before(next_start)
        return y[:, : next_start - start]


@dataclass(frozen=True)
class Region:
    """Samples ``[start, end)`` restored together, holding the damaged ``spans`` (file samples).

    Regions follow each other in file order; the next may start before this one ends: it is
    restored after this one, from this one's output."""

    start: int
    end: int
    spans: tuple[tuple[int, int], ...]


# Regions that touch merge, up to this many contexts long; past it a span at least
# SPLIT_APART contexts from the last one starts a region of its own. Merging without a limit
# held a tape with a dropout every 40 s whole (one region of the file: 1.2 GB at 6 minutes).
LONGEST_REGION_CONTEXTS = 4
SPLIT_APART = 0.25
# Past this many contexts any span two margins from the last one starts a region of its own:
# damage denser than SPLIT_APART all along (a noise-gated channel, a dropout every 0.4 s) had
# held the whole file (3 min: lag 180 s, 183 MB; an hour: over a gigabyte). One context more
# than LONGEST_REGION_CONTEXTS: a burst of damage that ends within it is still split after it.
DENSE_REGION_CONTEXTS = LONGEST_REGION_CONTEXTS + 1
# ... and leaves the last region's last span this much music after it, past its margin, in the
# finder's edge frames (1 ms): what its sift reads there to keep the span a dropout (the smeared
# edge it widens into, then the edge and a frame of the level beside). With two margins alone, a
# one-channel dropout 6 ms before the split read no level after it and was left unfilled.
SIFT_READS_FRAMES = WIDEN_FRAMES + round(
    (PAUSE_EDGE_SECONDS + PAUSE_FRAME_SECONDS) / EDGE_FRAME_SECONDS
)


def region_reach(span: tuple[int, int], context: int) -> int:
    """Context either side of a damaged span: ``context`` or five span lengths, the more."""
    return max(context, 5 * (span[1] - span[0]))


def add_span(
    regions: list[Region],
    span: tuple[int, int],
    total: int,
    context: int,
    margin: int = 0,
    sift_reads: int = 0,
) -> None:
    """Append the region around ``span`` (later than the others), merged with the last one
    when they touch, unless that would make it longer than ``LONGEST_REGION_CONTEXTS`` contexts
    and ``span`` is ``SPLIT_APART`` contexts (and two margins) or more from the last one's
    spans, or longer than ``DENSE_REGION_CONTEXTS`` contexts and ``span`` is two margins, and
    a margin and ``sift_reads`` (the samples a finder's sift reads after a run), or more from
    them: then the last
    region ends ``margin`` before ``span`` (its context keeps clear of this damage) and the new
    one starts where it would (its context takes in the last region's restored samples)."""
    reach = region_reach(span, context)
    start, end = max(0, span[0] - reach), min(total, span[1] + reach)
    if regions and start <= regions[-1].end:
        last = regions[-1]
        too_long = end - last.start > LONGEST_REGION_CONTEXTS * context
        dense = end - last.start > DENSE_REGION_CONTEXTS * context  # no clear gap came
        apart = span[0] - max(b for _, b in last.spans)
        least = margin + sift_reads if dense else SPLIT_APART * context
        if context > 0 and too_long and apart >= max(least, 2 * margin + 1):
            regions[-1] = Region(last.start, min(last.end, span[0] - margin), last.spans)
            start = max(start, last.start)
            regions.append(Region(start, end, (span,)))
            return
        regions.pop()
        start, end, spans = last.start, max(last.end, end), (*last.spans, span)
    else:
        spans = (span,)
    regions.append(Region(start, end, spans))


def region_plan(
    spans: list[tuple[int, int]], total: int, context: int, margin: int = 0
) -> list[Region]:
    """Regions around damaged ``spans`` (file samples), merged where they touch (see
    :func:`add_span`)."""
    regions: list[Region] = []
    for span in sorted(spans):
        add_span(regions, span, total, context, margin)
    return regions


class RegionStream:
    """Restore only regions around damaged spans; everything else passes through untouched.

    Spans are known up front (``spans``), or found as the audio streams by (``finder``): then a
    sample is held until no dropout found later could need it as context.
    """

    def __init__(
        self,
        restore: PieceRestorer,
        total: int,
        channels: int,
        spans: list[tuple[int, int]],
        *,
        context: int,
        margin: int,
        finder: DropoutScanner | ChannelScanner | None = None,
        extend: Callable[[np.ndarray, list[tuple[int, int]]], list[tuple[int, int]]] | None = None,
    ) -> None:
        self.restore = restore
        self.total = total
        self.context = context
        self.margin = margin  # samples beside a span the backend may change (its crossfade)
        self.finder = finder
        # given spans (file samples) -> the same spans taken over the dropouts at their edges,
        # given the piece and the spans within it
        self.extend = extend
        self.extended: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (given, restored)
        if finder is not None and finder.max_length is None:
            raise ValueError("a stream can hold back only so much: give the finder a max_length")
        self.reach = context if finder is None else region_reach((0, finder.max_length), context)
        self.sift_reads = 0 if finder is None else SIFT_READS_FRAMES * finder.edge_frame
        self.regions = region_plan(spans, total, context, margin)  # not restored yet, in order
        self.buffer = _Buffer(channels)
        self.received = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        position = self.received
        self.received += block.shape[1]
        if self.received > self.total:
            raise InputError(f"stream: got {self.received} samples, {self.total} announced")
        self.buffer.append(block)
        if self.finder is not None:
            found = self.finder.scan(block, position)
            if self.received == self.total:  # the audio's end decides what is still open
                found = sorted(found + self.finder.finish())
            for span in found:
                add_span(self.regions, span, self.total, self.context, self.margin, self.sift_reads)
        outputs = []
        while True:
            horizon = self._horizon()
            if not self.regions:
                outputs.append(self._emit(horizon))
                break
            region = self.regions[0]
            outputs.append(self._emit(min(region.start, horizon)))
            if not self._settled(region, horizon):
                break
            self._restore_region(region)
            self.regions.pop(0)
            # the next region may start inside this one: its context is held from there
            outputs.append(self._emit(min([region.end] + [r.start for r in self.regions[:1]])))
        return _join(outputs, self.buffer.data.shape[0])

    def finish(self) -> np.ndarray:
        if self.received != self.total:
            raise InputError(f"stream: got {self.received} samples, {self.total} announced")
        return self.push(np.zeros((self.buffer.data.shape[0], 0), dtype=np.float32))

    def _settled(self, region: Region, horizon: int) -> bool:
        """Whether ``region`` is all here and no dropout found later can join it (none can
        once a region follows it)."""
        if self.buffer.end < region.end:
            return False
        if self.finder is None or self.received == self.total or len(self.regions) > 1:
            return True
        return horizon > region.end

    def _horizon(self) -> int:
        """Samples before this can no longer join a region that is not known yet."""
        if self.finder is None or self.received == self.total:
            return self.buffer.end
        return max(self.buffer.start, self.finder.open_from(self.received) - self.reach)

    def _restore_region(self, region: Region) -> None:
        piece = self.buffer.view(region.start, region.end)
        spans = region.spans
        local = [(a - region.start, b - region.start) for a, b in spans]
        if self.finder is not None:  # found runs: their smeared edges join them; pauses go
            spans = tuple((a + region.start, b + region.start)
                          for a, b in self.finder.sift(piece, local, region.start))  # fmt: skip
            if not spans:  # all pauses between songs (the finder keeps them for the report)
                return
        elif self.extend is not None:  # given ones: the dropouts at their edges join them
            given, spans = spans, tuple((a + region.start, b + region.start)
                                        for a, b in self.extend(piece, local))  # fmt: skip
            self.extended += [pair for pair in zip(given, spans, strict=True) if pair[0] != pair[1]]
        restored = self.restore(piece.copy(), region.start, spans)
        for first, stop in spans:
            a = max(0, first - self.margin - region.start)
            b = min(region.end, stop + self.margin) - region.start
            piece[:, a:b] = restored[:, a:b]

    def _emit(self, position: int) -> np.ndarray:
        """Hand out the buffered samples before ``position``."""
        if position <= self.buffer.start:
            return self.buffer.data[:, :0]
        out = self.buffer.view(self.buffer.start, position).copy()
        self.buffer.drop_before(position)
        return out


def _join(outputs: list[np.ndarray], channels: int) -> np.ndarray:
    outputs = [o for o in outputs if o.shape[1]]
    if not outputs:
        return np.zeros((channels, 0), dtype=np.float32)
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=1)
