"""Phase retrieval: ``T(x) = |STFT(x)|`` (Hann window, centred frames)."""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.operators.base import Operator
from diffmusic_engine.operators.stft import istft, safe_magnitude, stft


class MagnitudeOperator(Operator):
    """``|STFT(x)|``; the measurement of damaged audio is its own magnitude."""

    def __init__(self, n_fft: int, hop: int, sample_rate: int, seed: int = 0) -> None:
        super().__init__(sample_rate)
        self.n_fft, self.hop, self.seed = n_fft, hop, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return safe_magnitude(stft(x, self.n_fft, self.hop))

    def measure(self, damaged: torch.Tensor) -> torch.Tensor:
        return self.forward(damaged)

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        """Audio with the clean magnitude and a random phase (seeded): the phase is lost."""
        x = torch.from_numpy(np.asarray(clean, np.float32))
        generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            magnitude = stft(x, self.n_fft, self.hop).abs()
            phase = torch.rand(magnitude.shape, generator=generator) * (2 * torch.pi)
            return istft(torch.polar(magnitude, phase), self.n_fft, self.hop, x.shape[-1]).numpy()
