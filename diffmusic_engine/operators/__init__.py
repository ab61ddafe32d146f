"""Forward models ``T`` of the damages, built from a damage description."""

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
from diffmusic_engine.operators.base import Operator
from diffmusic_engine.operators.blind_dereverb import BlindConvolutionOperator, blind_operator
from diffmusic_engine.operators.declick import ClickOperator
from diffmusic_engine.operators.declip import (
    ClipOperator,
    clip_level_for_sdr,
    clipped_mask,
    consistent_with_clipping,
    detect_clip_level,
)
from diffmusic_engine.operators.dereverb import (
    ConvolutionOperator,
    fft_convolve,
    load_impulse_response,
    synthetic_rir,
)
from diffmusic_engine.operators.inpaint import InpaintOperator, MaskOperator
from diffmusic_engine.operators.phase_retrieval import MagnitudeOperator, istft, stft
from diffmusic_engine.operators.separation import MixOperator
from diffmusic_engine.operators.super_resolution import (
    LowPassOperator,
    detect_cutoff,
    lowpass_response,
)

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
    "clip_level_for_sdr",
    "clipped_mask",
    "consistent_with_clipping",
    "detect_clip_level",
    "detect_cutoff",
    "fft_convolve",
    "istft",
    "load_impulse_response",
    "lowpass_response",
    "make_operator",
    "stft",
    "synthetic_rir",
]


def make_operator(
    damage: Damage, sample_rate: int, *, impulse_response: np.ndarray | None = None
) -> Operator:
    """The operator for ``damage`` at ``sample_rate``.

    Super-resolution needs a numeric cutoff (resolve ``"auto"`` with :func:`detect_cutoff` first).
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
        return ClipOperator(damage.levels, sample_rate)  # one per channel if clipped apart
    raise DamageError(f"no operator for {damage!r}")
