"""The forward model of a damage: ``y = T(x)`` on waveforms, differentiable in torch.

Every operator acts on the last axis (time) and broadcasts over the leading ones, so one operator
serves a mono clip, a stereo pair and a batch of diffusion windows alike. ``measure`` turns the
damaged audio a user has into the measurement ``y``; ``degrade`` synthesises that damaged audio
from clean audio (for tests, demos and evaluation).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch


class Operator(ABC):
    """A differentiable forward model ``T`` at a fixed ``sample_rate``."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``T(x)`` for waveforms ``x`` of shape ``(..., samples)``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def for_signals(self, signals: np.ndarray) -> Operator:
        """The operator for a batch whose row ``i`` is signal ``signals[i]`` of a track (a
        channel, or mid/side): itself, unless it holds something per signal (a clipping
        level per channel, :class:`~diffmusic_engine.operators.declip.ClipOperator`)."""
        return self

    def measure(self, damaged: torch.Tensor) -> torch.Tensor:
        """The measurement ``y`` held by the damaged audio (for most tasks, the audio itself)."""
        return damaged

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        """Damaged float32 audio ``(channels, samples)`` synthesised from ``clean``."""
        with torch.no_grad():
            return self.forward(torch.from_numpy(np.asarray(clean, np.float32))).numpy()
