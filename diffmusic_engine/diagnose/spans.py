"""Runs of samples, ``(first, stop)``: joining those that overlap or lie close (:func:`joined`,
which every module that joins spans calls; the dropout rule's runs found on every channel and
on single channels meet here, :mod:`.dropouts`), how a span is written for the user, and where
a mask's runs start and stop (:func:`edges`, the scanner's)."""

from __future__ import annotations

import numpy as np


def taken_over(runs: list, spans: list) -> list:
    """The dropouts on every channel (``runs``) widened over the one-channel runs (``spans``)
    that overlap them: a tape dropout that hits the channels a few ms apart is silent on all of
    them only where they overlap, and that alone had been filled, the staggered ends left as
    digital silence on one channel each."""
    if not spans:
        return runs
    return [
        (first, stop) for first, stop in joined(runs + spans, reach=-1)
        if any(a < stop and first < b for a, b in runs)
    ]  # fmt: skip


def holding(runs: list, inner: list) -> list:
    """Those of ``runs`` that hold one of ``inner`` whole (a run as found, since widened)."""
    return [(first, stop) for first, stop in runs
            if any(first <= a and b <= stop for a, b in inner)]  # fmt: skip


def apart(spans: list, runs: list) -> list:
    """Those of ``spans`` that none of ``runs`` overlaps."""
    return [(first, stop) for first, stop in spans
            if not any(a < stop and first < b for a, b in runs)]  # fmt: skip


def joined(spans: list[tuple[int, int]], reach: int = 0) -> list[tuple[int, int]]:
    """``spans`` in order, those that overlap, touch or lie ``reach`` samples apart or closer
    joined into one; ``reach=-1`` keeps touching spans apart (two dropouts that meet are two)."""
    out: list[tuple[int, int]] = []
    for first, stop in sorted(spans):
        if out and first <= out[-1][1] + reach:
            first, stop = out[-1][0], max(stop, out.pop()[1])
        out.append((first, stop))
    return out


def seconds_text(start: float, end: float) -> str:
    """``4.0030-4.1970 s``: a span in seconds as every note and line gives it, to a tenth of a
    millisecond (diagnose's JSON precision; the REAPER actions read this form back)."""
    return f"{start:.4f}-{end:.4f} s"


def as_findings(runs: list[tuple[int, int]], sample_rate: int) -> list[dict[str, float]]:
    """Runs of samples as ``diagnose`` reports them: ``{"start", "end"}`` in seconds, rounded to
    0.1 ms."""
    return [{"start": round(a / sample_rate, 4), "end": round(b / sample_rate, 4)} for a, b in runs]


def edges(mask: np.ndarray, position: int, open_start: int | None) -> tuple[list, list]:
    """Starts and stops (recording samples) of the runs of ``mask``, a block starting at
    ``position``; ``open_start``: where a run still open before the block began. A run open
    after the block has one more start than stops."""
    was_open = int(open_start is not None)
    changes = np.diff(np.concatenate([[was_open], mask.astype(np.int8)]))
    starts = list(position + np.flatnonzero(changes == 1))
    stops = list(position + np.flatnonzero(changes == -1))
    if open_start is not None:
        starts.insert(0, open_start)
    return starts, stops
