"""Inpainting long audio: solve only a context window around each group of gaps, then splice.

Gaps close enough to share one model window form a group; each group gets one window of
``length`` samples centred on it (or, for a gap longer than the model window, overlapping
windows across it). Every window masks every gap it contains, so the context is only audio the
user trusts. The result is spliced into the original full-rate audio inside the gaps only, with a
raised-cosine crossfade at each edge of each gap, so every sample outside the gaps is the input's.
"""

from __future__ import annotations

import math

import numpy as np

from diffmusic_engine.damage import Gap, gap_samples
from diffmusic_engine.diagnose.spans import joined
from diffmusic_engine.longform.windows import WindowPlan, plan_windows, taper

CONTEXT = 2.0  # seconds of trusted audio wanted on each side of a group of gaps
EDGE_GUARD = 0.002  # seconds added to each side of a gap at the model rate (resampling smear)

Range = tuple[int, int]  # half-open [first, stop) in samples


def full_rate_ranges(gaps: tuple[Gap, ...], sample_rate: int, total: int) -> list[Range]:
    """The gaps as sorted, merged sample ranges at the input's rate."""
    ranges = sorted(gap_samples(gap, sample_rate) for gap in gaps)
    return joined([(max(0, a), min(total, b)) for a, b in ranges if b > a])


def model_rate_ranges(ranges: list[Range], sample_rate: int, rate: int, total: int) -> list[Range]:
    """``ranges`` at the model's ``rate``, widened by :data:`EDGE_GUARD` and clipped to ``total``.

    The 16 kHz version of the input is smeared across each gap edge by the resampling filter,
    so a little more than the gap is masked.
    """
    guard = math.ceil(EDGE_GUARD * rate)
    scaled = [
        (max(0, math.floor(a * rate / sample_rate) - guard),
         min(total, math.ceil(b * rate / sample_rate) + guard))
        for a, b in ranges
    ]  # fmt: skip
    return joined(scaled)


def group_gaps(ranges: list[Range], window: int, context: int) -> list[Range]:
    """Spans of gaps that fit one ``window`` together with ``context`` samples on each side."""
    groups: list[Range] = []
    for a, b in ranges:
        if groups and b - groups[-1][0] + 2 * context <= window:
            groups[-1] = (groups[-1][0], b)
        else:
            groups.append((a, b))
    return groups


def plan_gap_windows(ranges: list[Range], total: int, window: int, rate: int) -> WindowPlan:
    """Windows (all of one length, for one batch) covering every gap with context around it.

    ``ranges`` are model-rate gap ranges of a signal of ``total`` samples; ``window`` is the
    model's maximum. The common length is the longest group's span plus context, at most
    ``window``; shorter groups get more context for free.
    """
    context = min(round(CONTEXT * rate), window // 4)
    groups = group_gaps(ranges, window, context)
    spans = [(max(0, a - context), min(total, b + context)) for a, b in groups]
    length = min(total, window, max(b - a for a, b in spans))
    starts: set[int] = set()
    for (a, b), (first, stop) in zip(groups, spans, strict=True):
        if stop - first <= length:
            centre = (a + b) // 2
            starts.add(min(max(0, centre - length // 2), total - length))
        else:  # a gap longer than the model window: overlapping windows across it
            starts.update(first + s for s in plan_windows(stop - first, length).starts)
    return WindowPlan(tuple(sorted(starts)), length, total, fade=length // 8)


def window_masks(ranges: list[Range], plan: WindowPlan) -> np.ndarray:
    """``(windows, length)`` masks: 1 where the window's audio is trusted, 0 in every gap."""
    masks = np.ones((len(plan), plan.length), np.float32)
    for row, start in zip(masks, plan.starts, strict=True):
        for a, b in ranges:
            row[max(a - start, 0) : max(min(b - start, plan.length), 0)] = 0.0
    return masks


def splice(
    original: np.ndarray, fill: np.ndarray, ranges: list[Range], crossfade: int
) -> np.ndarray:
    """``original`` ``(ch, n)`` with ``fill`` inside each range, nothing changed outside.

    Over the first and last ``crossfade`` samples inside a gap the output blends from the
    original into ``fill`` with a raised cosine (the gap's edges may still hold usable audio).
    """
    out = original.copy()
    for a, b in ranges:
        ramp = taper(b - a, min(crossfade, (b - a) // 2))  # 0 -> 1 -> 0 across the gap
        out[:, a:b] = original[:, a:b] + ramp * (fill[:, a:b] - original[:, a:b])
    return out


def segments(ranges: list[Range], margin: int, total: int) -> list[Range]:
    """The ranges widened by ``margin`` on each side, clipped to ``total`` and merged."""
    return joined([(max(0, a - margin), min(total, b + margin)) for a, b in ranges])
