"""The guidance loss L(z0) that the samplers differentiate: z0 -> scalar, summed over the batch.

With VMC (the paper's "vocoder-mel consistency"; docs/method.md) each item's loss is
    L_b = || psi(T(V(D(z0_b)))) - psi(y_b) ||_F
with psi the reference code's mel-dB transform (power mel, n_fft 1024, hop 160, 64 HTK mels up to
Nyquist, 10 log10(max(., 1e-10)) clamped to [-80, 80]) and the plain, unsquared Frobenius norm.
For phase retrieval T(x) already is |STFT(x)|, so psi is applied to that magnitude directly
(mel filterbank of the operator's n_fft on |S|^2, then dB).

Without VMC the vocoder is skipped and the comparison happens in the VAE's own log-mel space,
with T carried over to that space where it has a faithful counterpart:
- inpainting: mel frames whose window touches a gap are left out (a frame mask);
- super-resolution: mel bands reaching above the cutoff are left out;
- phase retrieval: the measurement |STFT| is put through the model's mel filterbank;
- separation: the sources' mel magnitudes are mixed with the weights, an approximation
  (it assumes the sources rarely share a time-frequency cell, the premise of mask-based
  separation);
- dereverberation: refused, since a room's convolution is far longer than an STFT frame and
  has no faithful form in a magnitude mel space; use VMC.
Both losses are in dB (the log-mel difference is scaled by 20 / ln 10), so one gamma suits both.
Summing the per-item losses keeps each item's gradient its own.

Precision: D and V may run under bf16 autocast for the guidance gradient (``guidance_dtype``),
psi and the norm always in fp32; the final decode of the solver is never autocast.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F  # noqa: N812

from diffmusic_engine.diffusion.options import GUIDANCE_DTYPES
from diffmusic_engine.errors import DamageError
from diffmusic_engine.models.base import ModelAdapter
from diffmusic_engine.models.mel import LOG_FLOOR, mel_filterbank
from diffmusic_engine.operators import (
    BlindConvolutionOperator,
    ConvolutionOperator,
    InpaintOperator,
    LowPassOperator,
    MagnitudeOperator,
    MaskOperator,
    MixOperator,
    Operator,
    safe_magnitude,
    stft,
)
from diffmusic_engine.samplers import GuidanceLoss

# log-magnitude (nepers) -> dB, so that both losses are in dB and one gamma suits both
DB_PER_NEPER = 20.0 / math.log(10.0)
# psi, as the authors' code computes it (torchaudio MelSpectrogram + AmplitudeToDB, at 16 kHz)
VMC_N_FFT, VMC_HOP, VMC_MELS, VMC_DB_RANGE = 1024, 160, 64, 80.0


def resolve_guidance_dtype(name: str) -> torch.dtype | None:
    """The autocast precision of D and V in the guidance loss for option value ``name``;
    None runs them as loaded (fp32, see ``models.base.decoder_dtype``).

    ``bfloat16`` roughly halves the cost of D, V and their backward (1.75x per IRS step measured
    on a CPU with AVX512-BF16, bench/solver.py) and keeps fp32's range (the mel-dB gradient
    overflows fp16's). Its price: 8 significant bits put a rounding floor about 50 dB under the
    signal into x = V(D(z0)), so mel bins more than ~40 dB below the loudest steer the chain by
    noise; dense, loud material spans less. Only the gradient is affected: the output is
    decoded as loaded. The default stays ``float32``.
    """
    check_guidance_dtype(name)
    return torch.bfloat16 if name == "bfloat16" else None


def check_guidance_dtype(name: object) -> None:
    """Raise :class:`DamageError` unless ``name`` is one of ``GUIDANCE_DTYPES``."""
    if name not in GUIDANCE_DTYPES:
        raise DamageError(
            f"diffusion: guidance_dtype {name!r}: expected one of {', '.join(GUIDANCE_DTYPES)}"
            + (" (float16 overflows the mel-dB gradient)" if name == "float16" else "")
        )


def guidance_precision(
    adapter: ModelAdapter, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    """The context D and V run in for the guidance gradient (see :func:`resolve_guidance_dtype`)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(adapter.device.type, dtype=dtype)


class MelDB:
    """psi: waveform ``(..., n)`` or magnitude ``(..., bins, frames)`` -> mel-dB."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.hop = round(VMC_HOP * sample_rate / 16000)
        self._banks: dict[int, torch.Tensor] = {}

    def bank(self, n_fft: int, device: torch.device) -> torch.Tensor:
        if n_fft not in self._banks:
            self._banks[n_fft] = mel_filterbank(
                self.sample_rate, n_fft, VMC_MELS, self.sample_rate / 2, htk=True
            )
        return self._banks[n_fft].to(device)

    def from_magnitude(self, magnitude: torch.Tensor, n_fft: int) -> torch.Tensor:
        power = torch.matmul(self.bank(n_fft, magnitude.device), magnitude.float() ** 2)
        db = 10.0 * torch.log10(torch.clamp(power, min=1e-10))
        return torch.clamp(db, -VMC_DB_RANGE, VMC_DB_RANGE)

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform.float()
        lead = x.shape[:-1]
        spec = stft(x.reshape(-1, x.shape[-1]), VMC_N_FFT, self.hop)
        return self.from_magnitude(safe_magnitude(spec), VMC_N_FFT).reshape(*lead, VMC_MELS, -1)


def build_loss(
    adapter: ModelAdapter,
    operator: Operator,
    measurement: torch.Tensor,
    *,
    sources: int = 1,
    vmc: bool = True,
    precision: torch.dtype | None = None,
) -> GuidanceLoss:
    """L for latents of ``B * sources`` items; ``measurement`` is the damaged audio ``(B, n)``.

    The measurement y is ``operator.measure(measurement)``. Separation latents are ordered
    source-fastest (item b, source i at row ``b * sources + i``). ``precision``: autocast dtype
    of D and V (:func:`resolve_guidance_dtype`); None runs them as loaded.
    """
    damaged = measurement.to(adapter.device, torch.float32)
    n = damaged.shape[-1]
    with torch.no_grad():
        y = operator.measure(damaged)
    if vmc:
        return _vmc_loss(adapter, operator, y, n, sources, precision)
    return _mel_space_loss(adapter, operator, damaged, y, n, sources, precision)


def synthesize(adapter: ModelAdapter, z0: torch.Tensor, n: int, sources: int) -> torch.Tensor:
    """x = V(D(z0)) fitted to ``n`` samples: ``(B, n)``, or ``(B, sources, n)`` for several."""
    x = fit_length(adapter.vocode(adapter.decode(z0)), n)
    return x.reshape(-1, sources, n) if sources > 1 else x


def fit_length(x: torch.Tensor, n: int) -> torch.Tensor:
    """Trim or zero-pad the last axis to ``n``."""
    return x[..., :n] if x.shape[-1] >= n else F.pad(x, (0, n - x.shape[-1]))


def per_item_norm(difference: torch.Tensor) -> torch.Tensor:
    """sum_b ||difference_b||_F: the batch's loss with per-item gradients."""
    return torch.linalg.vector_norm(difference.reshape(difference.shape[0], -1), dim=1).sum()


def _vmc_loss(
    adapter: ModelAdapter,
    operator: Operator,
    y: torch.Tensor,
    n: int,
    sources: int,
    precision: torch.dtype | None,
) -> GuidanceLoss:
    psi = MelDB(adapter.sample_rate)
    if isinstance(operator, MagnitudeOperator):

        def transform(v: torch.Tensor) -> torch.Tensor:
            return psi.from_magnitude(v, operator.n_fft)
    else:
        transform = psi
    with torch.no_grad():
        psi_y = transform(y)

    def loss(z0: torch.Tensor) -> torch.Tensor:
        # || psi(T(V(D(z0)))) - psi(y) ||_F per item
        with guidance_precision(adapter, precision):
            x = synthesize(adapter, z0, n, sources).float()
        fit_room_to(operator, x, y)  # blind: theta's K steps on sg(x0_hat), one decode for both
        return per_item_norm(transform(operator(x)) - psi_y)

    return loss


def fit_room_to(operator: Operator, x0_hat: torch.Tensor, y: torch.Tensor) -> None:
    """Blind dereverberation: BUDDy's K optimiser steps on the room theta against y, taken
    with the current x0_hat = V(D(z0_hat)) detached, before the guidance step uses the room."""
    if isinstance(operator, BlindConvolutionOperator):
        operator.fit(x0_hat, y)


def _mel_space_loss(
    adapter: ModelAdapter,
    operator: Operator,
    damaged: torch.Tensor,
    y: torch.Tensor,
    n: int,
    sources: int,
    precision: torch.dtype | None,
) -> GuidanceLoss:
    frames = adapter.front_end.frames(n)
    weight: torch.Tensor | float = 1.0
    if isinstance(operator, MixOperator):
        return _mixed_mel_loss(adapter, operator, damaged, frames, sources, precision)
    if isinstance(operator, (InpaintOperator, MaskOperator)):
        with torch.no_grad():
            observed = operator(torch.ones_like(damaged))
        weight = observed_frames(observed, adapter.front_end).to(adapter.device)
        target = adapter.mel(damaged)
    elif isinstance(operator, LowPassOperator):
        weight = bands_below(adapter, operator.cutoff).to(adapter.device)
        target = adapter.mel(damaged)
    elif isinstance(operator, MagnitudeOperator):
        target = _magnitude_to_model_mel(adapter, operator, y, frames)
    elif isinstance(operator, ConvolutionOperator | BlindConvolutionOperator):
        raise DamageError(
            "dereverb needs VMC: a room's convolution has no faithful form in the VAE's mel space"
        )
    else:
        raise DamageError(f"no mel-space form of {type(operator).__name__}; use VMC")
    target = target.detach()

    def loss(z0: torch.Tensor) -> torch.Tensor:
        # || W * (D(z0) - mel(y)) ||_F per item in dB, D(z0) trimmed to the measured frames
        with guidance_precision(adapter, precision):
            mel = adapter.decode(z0)[:, :, :frames].float()
        return DB_PER_NEPER * per_item_norm(weight * (mel - target))

    return loss


def _mixed_mel_loss(
    adapter: ModelAdapter,
    operator: MixOperator,
    damaged: torch.Tensor,
    frames: int,
    sources: int,
    precision: torch.dtype | None,
) -> GuidanceLoss:
    if sources != len(operator.weights):
        raise DamageError(f"separation: {len(operator.weights)} weights but {sources} sources")
    target = adapter.mel(damaged).detach()
    weights = torch.tensor(operator.weights, device=adapter.device).view(1, sources, 1, 1, 1)

    def loss(z0: torch.Tensor) -> torch.Tensor:
        # mel magnitudes add where sources do not overlap: log(sum_i w_i exp(D(z0_i)))
        with guidance_precision(adapter, precision):
            mel = adapter.decode(z0)[:, :, :frames].float()
        mel = mel.reshape(-1, sources, *mel.shape[1:])
        mixed = torch.log(torch.clamp((weights * torch.exp(mel)).sum(dim=1), min=LOG_FLOOR))
        return DB_PER_NEPER * per_item_norm(mixed - target)

    return loss


def observed_frames(observed: torch.Tensor, front_end: object) -> torch.Tensor:
    """``(B, 1, frames, 1)``: 1 for mel frames whose whole window lies on observed samples."""
    missing = 1.0 - observed.reshape(-1, observed.shape[-1]).float()
    frames = front_end.frames(observed.shape[-1])
    missing = F.pad(missing, (0, frames * front_end.hop - missing.shape[-1]))
    missing = F.pad(missing, (front_end.pad, front_end.pad))
    touched = F.max_pool1d(missing.unsqueeze(1), front_end.n_fft, front_end.hop)[:, 0, :frames]
    return (touched == 0).float()[:, None, :, None]


def bands_below(adapter: ModelAdapter, cutoff: float) -> torch.Tensor:
    """``(1, 1, 1, n_mels)``: 1 for mel bands that end at or below ``cutoff`` Hz."""
    bank = adapter.front_end.filterbank  # (n_mels, bins)
    freqs = torch.linspace(0, adapter.sample_rate / 2, bank.shape[1])
    top = torch.stack([freqs[row > 0].max() if (row > 0).any() else freqs[0] for row in bank])
    return (top <= cutoff).float().view(1, 1, 1, -1)


def _magnitude_to_model_mel(
    adapter: ModelAdapter, operator: MagnitudeOperator, magnitude: torch.Tensor, frames: int
) -> torch.Tensor:
    """|STFT| measured at the operator's n_fft/hop -> the model's log-mel at the model's frames.

    Bins go through the model's filterbank built for the operator's n_fft; frames (centred at
    j * hop_op) are linearly interpolated to the model's frame centres ((k + 1/2) * hop).
    """
    from diffmusic_engine.models.mel import MelFrontEnd

    front = adapter.front_end
    mapping = MelFrontEnd(front.sample_rate, front.hop, front.n_mels, n_fft=operator.n_fft)
    mel = mapping.magnitude_to_mel(magnitude.float())  # (B, frames_op, n_mels)
    position = (torch.arange(frames, device=mel.device) + 0.5) * front.hop / operator.hop
    position = position.clamp(0, mel.shape[-2] - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=mel.shape[-2] - 1)
    frac = (position - low).view(1, -1, 1)
    mel = mel[:, low] * (1 - frac) + mel[:, high] * frac
    return mel.unsqueeze(1)
