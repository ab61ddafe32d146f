"""Clicks: ``y = x + b`` with ``b`` short noise bursts; the reliable samples are those outside them.

As a forward model the click spans are a mask (``T(x) = M * x``, as for inpainting): once the
clicks are found, repairing them is inpainting. ``degrade`` injects the bursts: white Gaussian
noise with a rectangular envelope (the sharp edges of a vinyl click or a digital glitch), at
``rate`` per second, each burst's RMS ``burst_db`` +- 6 dB (uniform) from the channel's RMS.
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.damage import Declick, gap_samples
from diffmusic_engine.operators.inpaint import InpaintOperator

# Burst durations (s) per mode: clicks 0.3-2 ms, crackle 1 sample up to 0.25 ms.
BURST_SECONDS = {"click": (0.3e-3, 2e-3), "crackle": (0.0, 0.25e-3)}
BURST_SPREAD_DB = 6.0  # each burst's level is burst_db +- this (uniform)


def burst_spans(damage: Declick, n_samples: int, sample_rate: int) -> list[tuple[int, int]]:
    """The ``[first, stop)`` sample spans ``degrade`` puts bursts in: ``damage.clicks`` if given,
    else ``round(rate * duration)`` spans at seeded uniform positions, sorted."""
    if damage.clicks:
        spans = (gap_samples(g, sample_rate) for g in damage.clicks)
        return sorted(spans)
    rng = np.random.default_rng(damage.seed)
    count = int(round(damage.rate * n_samples / sample_rate))
    low, high = BURST_SECONDS[damage.mode]
    lengths = np.maximum(1, np.round(rng.uniform(low, high, count) * sample_rate)).astype(int)
    starts = rng.integers(0, max(1, n_samples - int(lengths.max(initial=1))), count)
    return sorted((int(s), int(s + m)) for s, m in zip(starts, lengths, strict=True))


class ClickOperator(InpaintOperator):
    """Masks the click spans (``damage.clicks``); ``degrade`` adds the noise bursts."""

    def __init__(self, damage: Declick, sample_rate: int) -> None:
        super().__init__(damage.clicks, sample_rate)
        self.damage = damage

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        clean = np.atleast_2d(np.asarray(clean, np.float32))
        rng = np.random.default_rng([self.damage.seed, 1])
        spans = burst_spans(self.damage, clean.shape[-1], self.sample_rate)
        out = clean.astype(np.float64)
        rms = np.sqrt(np.mean(out**2, axis=-1))  # per channel
        for first, stop in spans:
            gain_db = self.damage.burst_db + rng.uniform(-BURST_SPREAD_DB, BURST_SPREAD_DB)
            scale = rms * 10 ** (gain_db / 20)
            out[:, first:stop] += scale[:, None] * rng.standard_normal((out.shape[0], stop - first))
        return out.astype(np.float32).reshape(np.shape(clean))
