"""Reverberation: the room estimated from the recording alone (:mod:`diffmusic_engine.room`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.room import estimate_room


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any] | None:
    """``{"rt60_s", "rt60_bands": {"125": s, ...}, "drr_db", "confidence"}``, or ``None`` when
    the recording shows no decay to measure (too short, silent, or no free decays)."""
    room = estimate_room(audio, sample_rate)
    return None if room is None else room.to_dict()
