"""Super-resolution: ``T(x)`` = zero-phase low-pass at the cutoff (everything above is lost)."""

from __future__ import annotations

import torch

from diffmusic_engine.band_limit import lowpass_response
from diffmusic_engine.operators.base import Operator


class LowPassOperator(Operator):
    """Zero-phase FFT low-pass over the whole signal: linear, exact and differentiable."""

    def __init__(self, cutoff: float, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.cutoff = float(cutoff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        gain = torch.from_numpy(lowpass_response(n, self.sample_rate, self.cutoff)).to(x.device)
        return torch.fft.irfft(torch.fft.rfft(x) * gain, n=n)
