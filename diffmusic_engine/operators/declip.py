"""Clipping: ``T(x) = clip(x, -theta, theta)``; finding ``theta`` in clipped audio is
:mod:`diffmusic_engine.clipping`'s.

With this ``T`` the waveform residual ``||T(x) - y||^2`` is exactly the declipping consistency
measure: on the reliable samples (``|y| < theta``) it is ``(x - y)^2``; on a sample clipped at
``+theta`` it is ``relu(theta - x)^2``, a one-sided penalty that is zero once ``x`` reaches
beyond the level (and symmetrically at ``-theta``). ``consistency`` spells that out, and the
diffusion solver's VMC guidance (``psi(T(V(D(z0)))) - psi(y)``) uses ``forward`` directly.
"""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.clipping import LEVEL_TOLERANCE, Levels
from diffmusic_engine.operators.base import Operator


class ClipOperator(Operator):
    """Hard clipping at ``level`` (full-scale amplitude), symmetric: one level, or one per row
    of the ``(rows, samples)`` signals it acts on (channels clipped apart, solved per channel;
    :meth:`for_signals` picks the rows of a batch)."""

    def __init__(self, level: Levels, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.level: float | tuple[float, ...] = (
            float(level) if np.ndim(level) == 0 else tuple(float(own) for own in level)
        )

    def for_signals(self, signals: np.ndarray) -> ClipOperator:
        """The operator for a batch whose row ``i`` is signal ``signals[i]`` (a channel)."""
        if isinstance(self.level, float):
            return self
        return ClipOperator([self.level[signal] for signal in signals], self.sample_rate)

    def _theta(self, x: torch.Tensor) -> float | torch.Tensor:
        """The level: a float, or a ``(rows, 1)`` column of ``x``'s dtype and device."""
        if isinstance(self.level, float):
            return self.level  # one level computes exactly as it always did
        return torch.tensor(self.level, dtype=x.dtype, device=x.device)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self._theta(x)
        return torch.clamp(x, -theta, theta)

    def consistency(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_R (x - y)^2 + sum_H relu(theta - x)^2 + sum_L relu(x + theta)^2`` (a scalar):
        reliable samples ``R`` match, clipped ones ``H``/``L`` lie beyond the level (each
        row's own, with one per row)."""
        level = self._theta(y)
        theta = level * (1 - LEVEL_TOLERANCE)
        high, low = y >= theta, y <= -theta
        reliable = ~(high | low)
        return (
            torch.sum(torch.where(reliable, x - y, 0.0) ** 2)
            + torch.sum(torch.where(high, torch.relu(level - x), 0.0) ** 2)
            + torch.sum(torch.where(low, torch.relu(x + level), 0.0) ** 2)
        )
