"""A parametric room for blind dereverberation: the subband exponential-decay RIR of BUDDy.

BUDDy (Moliner et al., 2024) fits the room jointly with diffusion sampling; its impulse response
is a direct path fixed to 1 plus a diffuse tail whose STFT magnitude decays exponentially in
each frequency band: ``|H(f, tau)| = 10^(A(f) / 20) exp(-6.91 tau / T60(f))``, with the per-band
level ``A_b`` (dB) and ``T60_b`` interpolated in log frequency. The tail's phase is a fixed random
draw (seeded), so the model is differentiable in ``(log T60_b, A_b)`` and nothing else; a few
optimiser steps per diffusion step fit it (``BlindConvolutionOperator.fit``). Warm start: the
blind room estimate (:func:`diffmusic_engine.room.estimate_room`). The sampler integration:
:mod:`diffmusic_engine.operators.blind_dereverb`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from diffmusic_engine.impulse_response import TAIL_ONSET_S
from diffmusic_engine.operators.stft import istft, stft

N_FFT = 512  # the tail's STFT (hop N_FFT / 4)


class SubbandRIR(torch.nn.Module):
    """``h``: 1 at sample 0, then the tail; parameters ``log_t60`` and ``level_db`` per band."""

    def __init__(
        self,
        rt60_bands: Mapping[int, float],
        level_db: float,
        sample_rate: int,
        length_s: float,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.centres = torch.tensor(list(rt60_bands), dtype=torch.float64)
        self.log_t60 = torch.nn.Parameter(torch.log(torch.tensor(list(rt60_bands.values()))))
        self.level_db = torch.nn.Parameter(torch.full((len(rt60_bands),), float(level_db)))
        self.length = int(length_s * sample_rate)
        noise = torch.from_numpy(np.random.default_rng(seed).standard_normal(self.length))
        self.phase = stft(noise, N_FFT, N_FFT // 4)
        self.phase = self.phase / (self.phase.abs() + 1e-12)  # unit magnitude: phase only
        freqs = torch.fft.rfftfreq(N_FFT, 1 / sample_rate, dtype=torch.float64)
        self.log_freqs = torch.log(freqs.clamp(min=self.centres[0] / 2))
        self.times = torch.arange(self.phase.shape[-1], dtype=torch.float64) * (N_FFT // 4)
        self.times = self.times / sample_rate

    def per_bin(self, values: torch.Tensor) -> torch.Tensor:
        """Per-band ``values`` interpolated linearly in log frequency to every STFT bin."""
        knots = torch.log(self.centres)
        index = torch.searchsorted(knots, self.log_freqs).clamp(1, len(knots) - 1)
        low, high = knots[index - 1], knots[index]
        weight = ((self.log_freqs - low) / (high - low)).clamp(0, 1)
        values = values.to(torch.float64)
        return values[index - 1] * (1 - weight) + values[index] * weight

    def forward(self) -> torch.Tensor:
        t60 = torch.exp(self.per_bin(self.log_t60))[:, None]
        gain = 10 ** (self.per_bin(self.level_db)[:, None] / 20)
        magnitude = gain * torch.exp(-6.91 * self.times[None] / t60)
        tail = istft(self.phase * magnitude, N_FFT, N_FFT // 4, self.length)
        onset = torch.arange(self.length) >= int(TAIL_ONSET_S * self.sample_rate)
        direct = torch.zeros(self.length, dtype=torch.float64)
        direct[0] = 1.0
        return direct + tail * onset
