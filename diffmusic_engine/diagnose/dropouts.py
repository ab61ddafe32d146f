"""Dropouts: runs of digital silence (every channel exactly zero) inside the recording.

Silence at the very start or end is a lead-in or a tail, not a dropout, and is not reported.
"""

from __future__ import annotations

import numpy as np

# At or below this every channel counts as digital silence (below half a 24-bit step).
SILENCE = 2.0**-25
# Shorter runs are zero crossings or quiet samples, not dropouts.
MIN_SECONDS = 0.002


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]`` in seconds, one per interior digital-silence run."""
    silent = np.max(np.abs(audio), axis=0) <= SILENCE
    edges = np.diff(silent.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    n = audio.shape[-1]
    runs = []
    for start, end in zip(starts, ends, strict=True):
        if start == 0 or end == n or end - start < MIN_SECONDS * sample_rate:
            continue
        runs.append({"start": round(start / sample_rate, 4), "end": round(end / sample_rate, 4)})
    return runs
