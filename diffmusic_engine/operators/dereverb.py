"""Dereverberation: ``T(x) = h * x``, causal convolution with a fixed room impulse response.

The impulse response is fixed for the whole job (the reference code redraws it on every call).
Exact FFT convolution, truncated to the input length (a recording stops when the take stops);
pedalboard's Convolution is not used because it normalises the impulse response.
"""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.impulse_response import check_impulse_response
from diffmusic_engine.operators.base import Operator


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Causal linear convolution of ``x (..., N)`` with ``h (..., L)``, first ``N`` samples."""
    n = x.shape[-1]
    size = n + h.shape[-1] - 1
    return torch.fft.irfft(torch.fft.rfft(x, n=size) * torch.fft.rfft(h, n=size), n=size)[..., :n]


class ConvolutionOperator(Operator):
    """Convolution with ``impulse_response`` shaped ``(L,)`` or ``(channels, L)``."""

    def __init__(self, impulse_response: np.ndarray, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.impulse_response = torch.from_numpy(np.asarray(impulse_response, np.float32))

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        check_impulse_response(self.impulse_response.numpy(), np.atleast_2d(clean).shape[0])
        return super().degrade(clean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fft_convolve(x, self.impulse_response.to(x.device, x.dtype))
