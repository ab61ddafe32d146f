"""Phase retrieval: ``T(x) = |STFT(x)|`` (Hann window, centred frames)."""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.operators.base import Operator


def stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT of ``(..., samples)`` -> ``(..., bins, frames)``, Hann window, centred."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    lead = x.shape[:-1]
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, return_complex=True)
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add) to ``length`` samples."""
    window = torch.hann_window(n_fft, device=spec.device)
    lead = spec.shape[:-2]
    x = torch.istft(spec.reshape(-1, *spec.shape[-2:]), n_fft, hop, window=window, length=length)
    return x.reshape(*lead, length)


class MagnitudeOperator(Operator):
    """``|STFT(x)|``; the measurement of damaged audio is its own magnitude."""

    def __init__(self, n_fft: int, hop: int, sample_rate: int, seed: int = 0) -> None:
        super().__init__(sample_rate)
        self.n_fft, self.hop, self.seed = n_fft, hop, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = stft(x, self.n_fft, self.hop)
        return torch.sqrt(spec.real**2 + spec.imag**2 + 1e-12)

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
