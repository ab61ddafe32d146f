"""Forward models ``T`` of the damages (torch), built from a damage description.

Measuring damage in audio (clipping levels, band limits) and loading impulse responses are
NumPy modules of their own (:mod:`diffmusic_engine.clipping`, :mod:`diffmusic_engine.band_limit`,
:mod:`diffmusic_engine.impulse_response`), so that the dsp backend, the damage report and the
CLI run without torch."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.damage import (
    Damage,
    Declick,
    Declip,
    Dereverb,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.errors import DamageError
from diffmusic_engine.impulse_response import load_impulse_response
from diffmusic_engine.operators.base import Operator
from diffmusic_engine.operators.blind_dereverb import BlindConvolutionOperator, blind_operator
from diffmusic_engine.operators.declick import ClickOperator
from diffmusic_engine.operators.declip import ClipOperator
from diffmusic_engine.operators.dereverb import ConvolutionOperator, fft_convolve
from diffmusic_engine.operators.inpaint import InpaintOperator, MaskOperator
from diffmusic_engine.operators.phase_retrieval import MagnitudeOperator
from diffmusic_engine.operators.separation import MixOperator
from diffmusic_engine.operators.stft import istft, safe_magnitude, stft
from diffmusic_engine.operators.super_resolution import LowPassOperator

__all__ = [
    "BlindConvolutionOperator",
    "ClickOperator",
    "ClipOperator",
    "ConvolutionOperator",
    "InpaintOperator",
    "LowPassOperator",
    "MaskOperator",
    "MagnitudeOperator",
    "MixOperator",
    "Operator",
    "blind_operator",
    "fft_convolve",
    "istft",
    "make_operator",
    "safe_magnitude",
    "stft",
]


def make_operator(
    damage: Damage, sample_rate: int, *, impulse_response: np.ndarray | None = None
) -> Operator:
    """The operator for ``damage`` at ``sample_rate``.

    Super-resolution needs a numeric cutoff (``restore`` resolves ``"auto"`` by
    :func:`diffmusic_engine.diagnose.bandwidth.band_limit`).
    Dereverberation uses ``impulse_response`` if given, else the description's file; blind
    dereverberation has no known operator and raises.
    """
    if isinstance(damage, Inpaint):
        return InpaintOperator(damage.gaps, sample_rate)
    if isinstance(damage, SuperResolution):
        if damage.cutoff == "auto":
            raise DamageError("super-resolution: resolve cutoff 'auto' before building T")
        return LowPassOperator(damage.cutoff, sample_rate)
    if isinstance(damage, PhaseRetrieval):
        return MagnitudeOperator(damage.n_fft, damage.hop, sample_rate)
    if isinstance(damage, Separate):
        return MixOperator(damage.weights, sample_rate)
    if isinstance(damage, Dereverb):
        if impulse_response is None:
            if damage.rir is None:
                raise DamageError("dereverb: blind (no impulse response), so T is unknown")
            impulse_response = load_impulse_response(damage.rir, sample_rate, damage.rir_rate)
        return ConvolutionOperator(impulse_response, sample_rate)
    if isinstance(damage, Declick):
        return ClickOperator(damage, sample_rate)
    if isinstance(damage, Declip):
        if damage.level == "auto":
            raise DamageError("declip: resolve level 'auto' before building T")
        return ClipOperator(damage.levels, sample_rate)  # per channel, per side if clipped apart
    raise DamageError(f"no operator for {damage!r}")
