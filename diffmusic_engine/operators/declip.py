"""Clipping: ``T(x) = clip(x, -theta-, theta+)`` (``theta+ = theta- = theta`` unless the two
sides were clipped apart); finding the levels in clipped audio is
:mod:`diffmusic_engine.clipping`'s.

With this ``T`` the waveform residual ``||T(x) - y||^2`` is exactly the declipping consistency
measure: on the reliable samples (``|y| < theta``) it is ``(x - y)^2``; on a sample clipped at
``+theta`` it is ``relu(theta - x)^2``, a one-sided penalty that is zero once ``x`` reaches
beyond the level (and so at ``-theta-``). ``consistency`` spells that out, and the
diffusion solver's VMC guidance (``psi(T(V(D(z0)))) - psi(y)``) uses ``forward`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from diffmusic_engine.clipping import LEVEL_TOLERANCE, Levels, SideLevels
from diffmusic_engine.operators.base import Operator


class ClipOperator(Operator):
    """Hard clipping at ``level`` (full-scale amplitude): one level, one per row of the
    ``(rows, samples)`` signals it acts on (channels clipped apart, solved per channel;
    :meth:`for_signals` picks the rows of a batch), or one per side of each row
    (:class:`~diffmusic_engine.clipping.SideLevels`)."""

    def __init__(self, level: Levels, sample_rate: int) -> None:
        super().__init__(sample_rate)
        sides = (level.positive, level.negative) if isinstance(level, SideLevels) else (level,) * 2
        # theta+ and theta- (a magnitude): a float each, or a tuple each, one per row
        self.positive, self.negative = (_one_or_rows(side) for side in sides)

    def for_signals(self, signals: np.ndarray) -> ClipOperator:
        """The operator for a batch whose row ``i`` is signal ``signals[i]`` (a channel)."""
        if isinstance(self.positive, float):
            return self
        positive, negative = (
            tuple(side[signal] for signal in signals) for side in (self.positive, self.negative)
        )  # one per row both: a SideLevels holds tuples
        level = positive if positive == negative else SideLevels(positive, negative)
        return ClipOperator(level, self.sample_rate)

    def _theta(self, x: torch.Tensor) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """``(theta+, theta-)``: floats, or ``(rows, 1)`` columns of ``x``'s dtype and device."""
        return tuple(
            side if isinstance(side, float)  # one level computes exactly as it always did
            else torch.tensor(side, dtype=x.dtype, device=x.device)[:, None]
            for side in (self.positive, self.negative)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta_high, theta_low = self._theta(x)
        return torch.clamp(x, -theta_low, theta_high)

    def consistency(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_R (x - y)^2 + sum_H relu(theta+ - x)^2 + sum_L relu(x + theta-)^2`` (a
        scalar): reliable samples ``R`` match, clipped ones ``H``/``L`` lie beyond the level
        (each row's own, with one per row)."""
        theta_high, theta_low = self._theta(y)
        high = y >= theta_high * (1 - LEVEL_TOLERANCE)
        low = y <= -theta_low * (1 - LEVEL_TOLERANCE)
        reliable = ~(high | low)
        return (
            torch.sum(torch.where(reliable, x - y, 0.0) ** 2)
            + torch.sum(torch.where(high, torch.relu(theta_high - x), 0.0) ** 2)
            + torch.sum(torch.where(low, torch.relu(x + theta_low), 0.0) ** 2)
        )


def _one_or_rows(level: float | Sequence[float]) -> float | tuple[float, ...]:
    """A level as a float, or one per row as a tuple of floats."""
    return float(level) if np.ndim(level) == 0 else tuple(float(own) for own in level)
