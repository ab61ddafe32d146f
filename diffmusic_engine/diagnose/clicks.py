"""Clicks: short impulsive bursts, found by the dsp declick detector (AR prediction error)."""

from __future__ import annotations

import numpy as np


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]`` in seconds, one per click found at default sensitivity."""
    from diffmusic_engine.dsp.declick import detect_clicks

    return [
        {"start": round(first / sample_rate, 5), "end": round(stop / sample_rate, 5)}
        for first, stop in detect_clicks(audio, sample_rate)
    ]
