"""Declicking with the model: its estimate of the whole track is kept in the click spans only,
every other sample is the input's, bit for bit, as the dsp backend's (README: "samples away from
the clicks are bit-identical"; the model's rebuild of the whole track had changed every sample).
Declip does the same through ``diffmusic_engine.clipping.consistent_with_clipping``."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.backends import REPAIRED_CLICKS
from diffmusic_engine.damage import Declick, gap_samples


def declicked(
    audio: np.ndarray, estimate: np.ndarray, damage: Declick, sample_rate: int
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """(restored, removed): the estimate inside the click spans ``damage.clicks`` only; and the
    details that list those spans (:data:`REPAIRED_CLICKS`, in seconds at whole samples, as the
    dsp backend's), which ``restore --spectrogram`` zooms on."""
    out, repaired = audio.copy(), []
    for gap in damage.clicks:
        first, stop = gap_samples(gap, sample_rate)
        out[:, first:stop] = estimate[:, first:stop]
        repaired.append([first / sample_rate, stop / sample_rate])
    return (out, audio - out), {REPAIRED_CLICKS: repaired}
