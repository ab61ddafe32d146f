"""Helpers of the engine's tests that the engine imports by name (a backend)."""

from __future__ import annotations

from diffmusic_engine.api import Restoration
from diffmusic_engine.damage import gap_samples


def marking_backend(audio, sample_rate, damage, *, options, callback) -> Restoration:
    """Marks each gap it is asked to fill with 1.0, on every channel (the engine keeps the
    channels it does not fill, so a 1.0 shows where it asked)."""
    out = audio.copy()
    for gap in damage.gaps:
        first, stop = gap_samples(gap, sample_rate)
        out[:, first:stop] = 1.0
    return Restoration((out,), sample_rate)
