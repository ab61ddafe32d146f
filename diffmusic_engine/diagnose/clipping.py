"""Clipping: flat tops at a channel's peak level (``operators.declip.detect_clip_level``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.operators.declip import clipped_mask, detect_clip_level

# Clipped samples closer than this (s) make one region.
JOIN_SECONDS = 0.02


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any] | None:
    """``{"level": amplitude, "fraction": of samples clipped, "regions": [{"start", "end"}]}``,
    or None when the audio shows no clipping."""
    level = detect_clip_level(audio)
    if level is None:
        return None
    clipped = clipped_mask(audio, level).any(axis=0)
    where = np.flatnonzero(clipped)
    breaks = np.flatnonzero(np.diff(where) > JOIN_SECONDS * sample_rate)
    starts = where[np.concatenate([[0], breaks + 1])]
    stops = where[np.concatenate([breaks, [where.size - 1]])] + 1
    return {
        "level": round(level, 6),
        "fraction": round(float(clipped.mean()), 6),
        "regions": [
            {"start": round(a / sample_rate, 4), "end": round(b / sample_rate, 4)}
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
        ],
    }
