"""Restorations that change only some samples, as the dsp backend's do: the model's estimate
of the whole track is kept only where the damage is (declip: the clipped samples, declick: the
click spans) and every other sample is the input's, bit for bit (README: "unclipped samples are
bit-identical"; a model's rebuild of the whole track had changed every sample)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.backends import UNCHANGED
from diffmusic_engine.damage import Declick, Declip
from diffmusic_engine.operators import clipped_mask, gap_samples


def click_spans(audio: np.ndarray, sample_rate: int, damage: Declick) -> list[tuple[int, int]]:
    """The clicks given, or those the dsp detector finds (its default sensitivity)."""
    from diffmusic_engine.dsp.declick import detect_clicks

    if damage.clicks:
        return [gap_samples(gap, sample_rate) for gap in damage.clicks]
    return detect_clicks(audio, sample_rate, damage.mode)


def declipped(audio: np.ndarray, estimate: np.ndarray, damage: Declip) -> np.ndarray:
    """The estimate in the clipped samples, held at or beyond the level with the input's sign
    (what clipping leaves known), the input elsewhere."""
    level = float(damage.level)
    clipped = clipped_mask(audio, level)
    beyond = np.sign(audio) * np.maximum(np.abs(estimate), level)
    return np.where(clipped, beyond, audio).astype(np.float32)


def declicked(
    audio: np.ndarray, estimate: np.ndarray, spans: list[tuple[int, int]], sample_rate: int
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """(restored, removed) with the estimate inside ``spans`` only, and details as dsp's."""
    out = audio.copy()
    for first, stop in spans:
        out[:, first:stop] = estimate[:, first:stop]
    details: dict[str, Any] = {
        "clicks": [[first / sample_rate, stop / sample_rate] for first, stop in spans],
        "count": len(spans),
    }
    if not spans:
        details[UNCHANGED] = (
            "no click found at the default sensitivity: nothing changed; give the clicks with "
            "--click START:END"
        )
    return (out, audio - out), details
