"""Dereverberation: ``T(x) = h * x``, causal convolution with a fixed room impulse response.

The impulse response is fixed for the whole job (the reference code redraws it on every call).
Exact FFT convolution, truncated to the input length (a recording stops when the take stops);
pedalboard's Convolution is not used because it normalises the impulse response.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diffmusic_engine.audio import read_audio, resample
from diffmusic_engine.errors import DamageError
from diffmusic_engine.operators.base import Operator


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Causal linear convolution of ``x (..., N)`` with ``h (..., L)``, first ``N`` samples."""
    n = x.shape[-1]
    size = n + h.shape[-1] - 1
    return torch.fft.irfft(torch.fft.rfft(x, n=size) * torch.fft.rfft(h, n=size), n=size)[..., :n]


def check_ir_channels(impulse_response: np.ndarray, channels: int) -> None:
    """An impulse response is one for every channel or one per channel: raise
    :class:`DamageError` otherwise (a stereo one had made ``degrade`` turn mono into stereo)."""
    rows = np.atleast_2d(np.asarray(impulse_response)).shape[0]
    if rows not in (1, channels):
        raise DamageError(
            f"dereverb: the impulse response has {rows} channels, the audio {channels}"
        )


class ConvolutionOperator(Operator):
    """Convolution with ``impulse_response`` shaped ``(L,)`` or ``(channels, L)``."""

    def __init__(self, impulse_response: np.ndarray, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.impulse_response = torch.from_numpy(np.asarray(impulse_response, np.float32))

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        check_ir_channels(self.impulse_response.numpy(), np.atleast_2d(clean).shape[0])
        return super().degrade(clean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fft_convolve(x, self.impulse_response.to(x.device, x.dtype))


def load_impulse_response(
    rir: str | Path | np.ndarray, sample_rate: int, rir_rate: int | None = None
) -> np.ndarray:
    """An impulse response at ``sample_rate``: ``(L,)`` if mono, else ``(channels, L)``.

    ``rir`` is a file, or samples ``(L,)``/``(channels, L)`` at ``rir_rate`` (default
    ``sample_rate``), as :class:`~diffmusic_engine.damage.Dereverb` holds them.
    """
    if isinstance(rir, np.ndarray):
        ir, rate = np.atleast_2d(rir).astype(np.float32), rir_rate or sample_rate
    else:
        ir, info = read_audio(rir)
        rate = info.sample_rate
    ir = resample(ir, rate, sample_rate)
    return ir[0] if ir.shape[0] == 1 else ir


def synthetic_rir(rt60: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A room impulse response: a unit direct path, then Gaussian noise decaying 60 dB in ``rt60``.

    The method's model h_t = alpha * h_(t-1) + noise in its simplest exact form; the tail starts
    after 2 ms and its energy is set so that the direct-to-reverberant ratio is about 0 dB.
    """
    rng = np.random.default_rng(seed)
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * 10 ** (-3 * t / rt60)
    tail[: int(0.002 * sample_rate)] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    ir = tail
    ir[0] = 1.0
    return ir.astype(np.float32)
