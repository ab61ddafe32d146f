"""Declicking with the model: its estimate of the whole track is kept in the click spans only,
every other sample is the input's, bit for bit, as the dsp backend's (README: "samples away from
the clicks are bit-identical"; the model's rebuild of the whole track had changed every sample).
Declip does the same through ``operators.declip.consistent_with_clipping``."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.damage import Declick, gap_samples


def declicked(
    audio: np.ndarray, estimate: np.ndarray, damage: Declick, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """(restored, removed): the estimate inside the click spans ``damage.clicks`` only."""
    out = audio.copy()
    for gap in damage.clicks:
        first, stop = gap_samples(gap, sample_rate)
        out[:, first:stop] = estimate[:, first:stop]
    return out, audio - out
