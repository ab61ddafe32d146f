"""Clipping: flat tops at each channel's peak level (``operators.declip.levels_per_channel``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.backends import CHANNEL_LEVELS
from diffmusic_engine.operators.declip import clipped_mask, levels_per_channel

# Clipped samples closer than this (s) make one region.
JOIN_SECONDS = 0.02


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any] | None:
    """``{"level": amplitude, "fraction": of samples clipped, "regions": [{"start", "end"}]}``,
    or None when the audio shows no clipping; with ``"channel_levels": [amplitude, ...]`` where
    the channels are clipped at different levels (``level`` is then the highest), as
    ``--level auto`` declips them (:func:`levels_per_channel`)."""
    levels = levels_per_channel(audio)
    if levels is None:
        return None
    apart = len(set(levels)) > 1
    clipped = clipped_mask(audio, levels if apart else levels[0]).any(axis=0)
    where = np.flatnonzero(clipped)
    breaks = np.flatnonzero(np.diff(where) > JOIN_SECONDS * sample_rate)
    starts = where[np.concatenate([[0], breaks + 1])]
    stops = where[np.concatenate([breaks, [where.size - 1]])] + 1
    per_channel = {CHANNEL_LEVELS: [round(level, 6) for level in levels]} if apart else {}
    return {
        "level": round(max(levels), 6),
        **per_channel,
        "fraction": round(float(clipped.mean()), 6),
        "regions": [
            {"start": round(a / sample_rate, 4), "end": round(b / sample_rate, 4)}
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
        ],
    }
