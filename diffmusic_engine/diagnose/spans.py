"""Runs of samples, ``(first, stop)``: joining those that overlap (the dropout rule's runs found
on every channel and on single channels meet here, :mod:`.dropouts`), and how a span is written
for the user."""

from __future__ import annotations


def taken_over(runs: list, spans: list) -> list:
    """The dropouts on every channel (``runs``) widened over the one-channel runs (``spans``)
    that overlap them: a tape dropout that hits the channels a few ms apart is silent on all of
    them only where they overlap, and that alone had been filled, the staggered ends left as
    digital silence on one channel each."""
    if not spans:
        return runs
    return [
        (first, stop) for first, stop in overlapping_joined(sorted(runs + spans))
        if any(a < stop and first < b for a, b in runs)
    ]  # fmt: skip


def overlapping_joined(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ``spans`` with those that overlap joined into one."""
    joined: list[tuple[int, int]] = []
    for first, stop in spans:
        if joined and first < joined[-1][1]:
            first, stop = joined[-1][0], max(stop, joined.pop()[1])
        joined.append((first, stop))
    return joined


def seconds_text(start: float, end: float) -> str:
    """``4.0030-4.1970 s``: a span in seconds as every note and line gives it, to a tenth of a
    millisecond (diagnose's JSON precision; the REAPER actions read this form back)."""
    return f"{start:.4f}-{end:.4f} s"


def as_findings(runs: list[tuple[int, int]], sample_rate: int) -> list[dict[str, float]]:
    """Runs of samples as ``diagnose`` reports them: ``{"start", "end"}`` in seconds, rounded to
    0.1 ms."""
    return [{"start": round(a / sample_rate, 4), "end": round(b / sample_rate, 4)} for a, b in runs]
