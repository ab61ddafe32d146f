"""The STFT every torch operator and the guidance loss take: Hann window, centred frames."""

from __future__ import annotations

import torch


def stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT of ``(..., samples)`` -> ``(..., bins, frames)``, Hann window, centred."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    lead = x.shape[:-1]
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, return_complex=True)
    return spec.reshape(*lead, *spec.shape[-2:])


def safe_magnitude(spec: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``sqrt(re^2 + im^2 + eps)``: ``|spec|`` with a finite gradient at 0 (``abs`` has none)."""
    return torch.sqrt(spec.real**2 + spec.imag**2 + eps)


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add) to ``length`` samples."""
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    lead = spec.shape[:-2]
    x = torch.istft(spec.reshape(-1, *spec.shape[-2:]), n_fft, hop, window=window, length=length)
    return x.reshape(*lead, length)
