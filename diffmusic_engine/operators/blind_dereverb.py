"""Blind dereverberation's operator: ``T_theta(x) = h_theta * x`` with the room fitted as it goes.

BUDDy (Moliner et al., 2024) alternates, at every diffusion step, the guidance update of x0
under the current room ``h_theta`` and ``K`` optimiser steps on ``theta`` (per-band ``log T60_b``
and level ``A_b`` of :class:`~diffmusic_engine.operators.subband_rir.SubbandRIR`) minimising the
measurement residual ``||c psi(h_theta * sg(x0_hat)) - psi(y)||^2`` with x0_hat detached (``sg``).
Here the K steps come first within a step (:func:`diffmusic_engine.diffusion.guidance.fit_room_to`),
so that one decoding ``x0_hat = V(D(z0_hat))`` serves both; over the chain it is the same
alternation. ``psi`` is BUDDy's compression ``|STFT|^(2/3)`` taken on power pooled over
neighbouring bins, and ``c`` the best gain: the model's tail phase is a fixed draw that cannot
equal the real room's (a waveform residual would rather shrink an uncorrelated tail than grow it
to the true decay, and a plain magnitude is biased by it), and Tweedie's x0_hat is shrunken in the
early steps (without ``c`` the tail level grows to make up for it).

Minimum phase: not done. A minimum-phase filter puts its energy as early as any filter of its
magnitude response allows, so an impulse response made minimum phase from the tail's smooth
per-band magnitude would be a few milliseconds long: the decay of a room lives in the fine
structure of its phase. The fixed random phase keeps the per-band decay exact
(tests/engine/test_subband_rir.py), which is what the fit needs.

The room is one per job: :func:`blind_operator` warm-starts it from
:func:`diffmusic_engine.room.estimate_room` on the observed audio, and the same operator (and
optimiser state) serves every window and chunk of the job.

No room is left alone here, dry or short: dsp dereverb's rules (``reason_to_skip``: a dry room,
and one told under ``PRODUCED_RT60_S``, option ``min_rt60``) rest on what WPE did to dry takes,
and what the fitted room does to them is unmeasured (no run with real weights); the band above
the model's comes from dsp dereverb, so that band is left as it is where those rules say.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from diffmusic_engine.diffusion.options import DEFAULT_ROOM_STEPS  # K per diffusion step
from diffmusic_engine.operators.base import Operator
from diffmusic_engine.operators.dereverb import fft_convolve
from diffmusic_engine.operators.stft import stft
from diffmusic_engine.operators.subband_rir import SubbandRIR
from diffmusic_engine.room import RoomEstimate, estimate_room, octave_bands

ROOM_LR = 0.05  # Adam's step on log T60 (5 % per step) and on the level (dB)
COMPRESSION = 2.0 / 3.0  # BUDDy's magnitude compression
FIT_N_FFT = 512
POOL_BINS = 8  # bins whose power psi averages (250 Hz at 16 kHz)
FALLBACK_RT60_S, FALLBACK_DRR_DB = 0.5, 0.0  # the warm start when the room can't be estimated
MAX_LENGTH_S = 3.0


def tail_level_for_drr(rt60_bands: dict[int, float], drr_db: float, sample_rate: int) -> float:
    """The tail level ``A`` (dB, every band) that puts the model's DRR at ``drr_db``."""
    probe = SubbandRIR(rt60_bands, 0.0, sample_rate, room_length(rt60_bands))
    with torch.no_grad():
        tail_energy = float(torch.sum(probe()[1:] ** 2))  # the direct path's energy is 1
    return -drr_db - 10 * np.log10(tail_energy)


def room_length(rt60_bands: dict[int, float]) -> float:
    """Seconds of impulse response: 1.5 x the longest band T60 (-90 dB), at most 3 s."""
    return min(MAX_LENGTH_S, 1.5 * max(rt60_bands.values()))


class BlindConvolutionOperator(Operator):
    """``T_theta(x) = h_theta * x``; :meth:`fit` takes ``steps`` Adam steps on theta."""

    def __init__(self, room: SubbandRIR, steps: int = DEFAULT_ROOM_STEPS, lr: float = ROOM_LR):
        super().__init__(room.sample_rate)
        self.room, self.steps = room, int(steps)
        self.optimiser = torch.optim.Adam(room.parameters(), lr=lr)  # kept for the whole job
        self.residuals: list[float] = []  # the normalised residual before each fit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.room().detach()  # theta is fitted by fit(), never by the guidance gradient
        return fft_convolve(x, h.to(x.device, x.dtype))

    def residual_of(self, x0_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``||psi(h_theta * x0_hat) - psi(y)||^2 / ||psi(y)||^2``, differentiable in theta."""
        h = self.room().to(x0_hat.device, torch.float32)
        estimate = compressed_magnitude(fft_convolve(x0_hat.float(), h))
        target = compressed_magnitude(y.float())
        # c: the best gain of psi(h * x0_hat) per item, so that the fit sees the room's shape,
        # not the early steps' shrunken x0_hat (Tweedie's estimate is E[x0 | x_t], small at first)
        dims = tuple(range(1, estimate.dim()))
        c = torch.sum(estimate * target, dims, keepdim=True)
        c = c / torch.sum(estimate**2, dims, keepdim=True).clamp_min(1e-12)
        return torch.sum((c * estimate - target) ** 2) / torch.sum(target**2).clamp_min(1e-12)

    def fit(self, x0_hat: torch.Tensor, y: torch.Tensor) -> None:
        """K Adam steps on theta against the measurement, x0_hat detached (BUDDy's sg)."""
        x0_hat, y = x0_hat.detach(), y.detach()
        for k in range(self.steps):
            self.optimiser.zero_grad()
            residual = self.residual_of(x0_hat, y)
            if k == 0:
                self.residuals.append(float(residual.detach()))
            residual.backward()
            self.optimiser.step()

    def details(self) -> dict[str, Any]:
        """The fitted room for the job details: band T60s (s) and tail levels (dB)."""
        centres = [int(c) for c in self.room.centres]
        t60 = torch.exp(self.room.log_t60).detach().tolist()
        level = self.room.level_db.detach().tolist()
        return {
            "rt60_bands": {str(c): round(t, 3) for c, t in zip(centres, t60, strict=True)},
            "level_db_bands": {str(c): round(a, 2) for c, a in zip(centres, level, strict=True)},
            "room_steps": self.steps,
        }


def compressed_magnitude(x: torch.Tensor) -> torch.Tensor:
    """psi: ``(mean of |STFT(x)|^2 over POOL_BINS bins)^(1/3)`` over the last axis.

    BUDDy's compressed magnitude |STFT|^(2/3), taken on power averaged over neighbouring bins:
    the room's and the model's phases differ, and averaging the power (whose expectation adds
    over the tail, unlike the magnitude's) keeps that from biasing the fitted decay.
    """
    spec = stft(x.reshape(-1, x.shape[-1]), FIT_N_FFT, FIT_N_FFT // 4)
    power = F.avg_pool1d((spec.abs() ** 2).transpose(1, 2), POOL_BINS, POOL_BINS)
    return (power.transpose(1, 2) + 1e-12) ** (COMPRESSION / 2)


def blind_operator(
    audio: np.ndarray, sample_rate: int, rate: int, steps: int = DEFAULT_ROOM_STEPS
) -> tuple[BlindConvolutionOperator, RoomEstimate | None]:
    """The operator at the model's ``rate``, warm-started from the room of ``audio``.

    ``audio`` ``(channels, samples)`` at ``sample_rate`` is the observed, reverberant track; a
    recording too short to estimate gets a plain warm start (RT60 0.5 s, DRR 0 dB).
    """
    found = estimate_room(audio, sample_rate)
    estimate = None if found is None else found.lengthened_only()  # as dsp dereverb is told
    bands = octave_bands(rate)
    if estimate is None:
        rt60_bands, drr_db = dict.fromkeys(bands, FALLBACK_RT60_S), FALLBACK_DRR_DB
    else:  # the model's bands; a band above the track's own is given its top band's T60
        known = estimate.rt60_bands
        rt60_bands = {f: known.get(f, known[max(known)]) for f in bands}
        drr_db = estimate.drr_db
    level = tail_level_for_drr(rt60_bands, drr_db, rate)
    room = SubbandRIR(rt60_bands, level, rate, room_length(rt60_bands))
    return BlindConvolutionOperator(room, steps), estimate
