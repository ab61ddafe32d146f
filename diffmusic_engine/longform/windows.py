"""Overlapping model windows over a long signal, and their weighted overlap-add.

The model sees at most ``adapter.window_samples`` (10.24 s at 16 kHz), so a longer region is cut
into windows that overlap, all solved as one batch, and joined back as in demucs' ``apply.py``:
each window is weighted by a taper that is 1 in its middle and falls to near 0 at an edge it
shares with a neighbour (a raised cosine over ``fade`` samples), and the weighted sum is divided
by the sum of the weights. An identity solve therefore gives the input back exactly, and a
sample that only one window covers gets that window's value unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OVERLAP = 0.25  # fraction of a window shared with each neighbour


@dataclass(frozen=True)
class WindowPlan:
    """Windows of ``length`` samples starting at ``starts`` over a signal of ``total`` samples.

    ``fade`` is the taper length at every window edge that is not an end of the signal.
    """

    starts: tuple[int, ...]
    length: int
    total: int
    fade: int

    def __post_init__(self) -> None:
        for start in self.starts:
            if start < 0 or start + self.length > self.total:
                raise ValueError(f"window [{start}, {start + self.length}) outside 0..{self.total}")
        if not 0 <= self.fade <= self.length // 2:
            raise ValueError(f"fade {self.fade}: expected 0..{self.length // 2}")

    def __len__(self) -> int:
        return len(self.starts)


def plan_windows(total: int, window: int, overlap: float = OVERLAP) -> WindowPlan:
    """Cover ``total`` samples with as few ``window``-sample windows as ``overlap`` allows.

    A signal that fits is one window of its own length. Otherwise the starts are spread evenly
    from 0 to ``total - window``, so every window is full of real audio (no padding) and any two
    neighbours share at least ``overlap * window`` samples.
    """
    if total <= window:
        return WindowPlan((0,), total, total, 0)
    fade = int(window * overlap)
    hop = window - fade
    count = math.ceil((total - window) / hop) + 1
    starts = tuple(round(i * (total - window) / (count - 1)) for i in range(count))
    return WindowPlan(starts, window, total, fade)


def taper(length: int, fade: int, *, rise: bool = True, fall: bool = True) -> np.ndarray:
    """Weights of one window: raised-cosine ``rise``/``fall`` over ``fade`` samples, else 1.

    The ramp never reaches 0 (half-sample offset), so every covered sample has weight > 0.
    """
    weight = np.ones(length, np.float64)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        if rise:
            weight[:fade] = ramp
        if fall:
            weight[length - fade :] = ramp[::-1]
    return weight


def window_weights(plan: WindowPlan) -> np.ndarray:
    """``(windows, length)`` tapers; edges at the signal's ends are not tapered."""
    return np.stack(
        [
            taper(plan.length, plan.fade, rise=start > 0, fall=start + plan.length < plan.total)
            for start in plan.starts
        ]
    )


def split(signal: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """Cut ``(..., total)`` into ``(..., windows, length)``."""
    return np.stack([signal[..., s : s + plan.length] for s in plan.starts], axis=-2)


def overlap_add(chunks: np.ndarray, plan: WindowPlan) -> tuple[np.ndarray, np.ndarray]:
    """Join ``(..., windows, length)`` into ``(..., total)`` by weighted overlap-add.

    Returns the joined signal and the weight sum per sample; samples that no window covers
    (weight 0) come out as 0.
    """
    weights = window_weights(plan)
    out = np.zeros((*chunks.shape[:-2], plan.total), np.float64)
    norm = np.zeros(plan.total, np.float64)
    for chunk, weight, start in zip(np.moveaxis(chunks, -2, 0), weights, plan.starts, strict=True):
        out[..., start : start + plan.length] += chunk * weight
        norm[start : start + plan.length] += weight
    covered = norm > 0
    out[..., covered] /= norm[covered]
    return out.astype(np.float32), norm
