"""Clicks: short impulsive bursts, found by the dsp declick detector (AR prediction error)."""

from __future__ import annotations

import numpy as np

# A diagnosis must not report clicks a clean recording does not have; the repair may look harder.
# On 140 s of clean real stems and mixes declick's default (0.5) marked 30 attacks as clicks, 0.25
# one, while still finding most bursts (docs/results.md, "Clicks in clean music").
DIAGNOSE_SENSITIVITY = 0.25


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]`` in seconds, one per click found at
    :data:`DIAGNOSE_SENSITIVITY`."""
    from diffmusic_engine.dsp.declick import detect_clicks

    return [
        {"start": round(first / sample_rate, 5), "end": round(stop / sample_rate, 5)}
        for first, stop in detect_clicks(
            audio, sample_rate, options={"sensitivity": DIAGNOSE_SENSITIVITY}
        )
    ]
