"""Band limit: the frequency above which the recording is empty (an MP3 or a low-rate source)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.operators import detect_cutoff

# A cutoff this close to Nyquist is no band limit: the recording uses its whole band.
FULL_BAND = 0.95


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """``{"cutoff_hz": Hz}`` where content stops, or ``{"cutoff_hz": None}`` for full band."""
    cutoff = detect_cutoff(audio, sample_rate)
    full = cutoff >= FULL_BAND * sample_rate / 2
    return {"cutoff_hz": None if full else round(float(cutoff))}
