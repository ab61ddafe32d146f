"""``solve``: one batch of windows restored by a guided DDIM chain on a latent diffusion prior.

    y      = T(x_damaged)                      operator.measure(measurement)
    L(z0)  = sum_b || psi(T(V(D(z0_b)))) - psi(y_b) ||   (guidance.build_loss)
    z_0    = sample(method, eps_theta, L, DDIM schedule, ...)
             from z_T ~ N(0, I), or with ``x_init`` from SDEdit's z_t0 = sqrt(abar_t0) E(x_init)
             + sqrt(1 - abar_t0) eps over the last ``strength`` of the steps (samplers.sdedit)
    x      = V(D(z_0))                          decoded once, without gradients

Gradients flow through D, V and psi only: the adapter's eps_theta runs under ``no_grad`` and no
module has trainable parameters.
"""

from __future__ import annotations

import torch

from diffmusic_engine.diffusion.guidance import build_loss, fit_length, resolve_guidance_dtype
from diffmusic_engine.diffusion.options import OPTIONS
from diffmusic_engine.errors import DamageError, InputError
from diffmusic_engine.models.base import ModelAdapter
from diffmusic_engine.operators import MixOperator, Operator
from diffmusic_engine.progress import ProgressCallback
from diffmusic_engine.samplers import (
    DEFAULT_ETA,
    DDIMSchedule,
    GuidanceLoss,
    NoisePredictor,
    sample,
    sdedit,
)

# Step sizes per sampler for the losses of guidance.py (unsquared norms, mel-dB with VMC).
# irs: the authors' code divides the mel-dB norm by 1000 and steps by 1 -> gamma 1e-3;
# dps: the authors' DPS step 5e-4; dsg moves by a fixed radius and uses gamma only as on/off.
DEFAULT_GAMMA = {"irs": 1e-3, "dps": 5e-4, "dsg": 1.0, "ddim": 0.0}
TRAINING_PEAK = 0.5  # AudioLDM2 and MusicLDM were trained on audio normalised to peak 0.5
SILENT_PEAK = 1e-4  # a window whose measurement peaks under this measures nothing


def solve(
    adapter: ModelAdapter,
    operator: Operator,
    measurement: torch.Tensor,
    *,
    sources: int = 1,
    sampler: str = OPTIONS["sampler"].default,
    vmc: bool = OPTIONS["vmc"].default,
    steps: int = 200,
    gamma: float | None = None,
    eta: float | None = None,
    seed: int = 0,
    prompt: str | None = None,
    z_T: torch.Tensor | None = None,  # noqa: N803 - the paper's symbol
    x_init: torch.Tensor | None = None,
    strength: float = 1.0,
    callback: ProgressCallback | None = None,
    target_peak: float | None = TRAINING_PEAK,
    guidance_dtype: str = OPTIONS["guidance_dtype"].default,
) -> torch.Tensor:
    """Restore a batch of damaged windows.

    ``measurement`` is the damaged audio ``(B, n)`` at ``adapter.sample_rate`` with
    ``n <= adapter.window_samples``; the operator acts on ``(B, n)`` waveforms (``(B, sources,
    n)`` for separation, one latent per source in the same batch). ``gamma`` defaults to
    ``DEFAULT_GAMMA[sampler]`` and ``eta`` to ``DEFAULT_ETA[sampler]`` (DPS and DSG need the
    stochastic DDIM step; IRS is the paper's deterministic one). Returns float32 waveforms
    ``(B, n)``, or ``(B, sources, n)`` when ``sources > 1``, on ``adapter.device``.

    Each window is solved at ``target_peak`` (the level the prior was trained at) and the
    result scaled back: every operator is linear (|STFT| positively homogeneous), so this only
    meets the prior at its training level. ``None`` solves at the window's own level.

    ``guidance_dtype`` (float32|bfloat16): the precision D and V run in for the guidance
    gradient (see ``guidance.resolve_guidance_dtype``); the returned audio is decoded as loaded.

    ``x_init`` ``(B, n)``: a guess of the clean windows (SDEdit's guide). It is scaled with the
    measurement's gain, encoded (z0_init = E(x_init)) and noised to t0 with ``z_T`` (or a seeded
    draw) as eps; only ``sdedit.steps_to_run(steps, strength)`` steps are run.
    """
    damaged = _check_measurement(adapter, measurement)
    gain = _training_gain(damaged, target_peak)
    damaged = damaged * gain  # y at the prior's training level
    _check_sources(operator, sources)
    batch, n = damaged.shape
    rows = batch * sources  # one latent per (item, source), source-fastest
    shape = (rows, *adapter.latent_shape(n))
    gamma = DEFAULT_GAMMA.get(sampler, 0.0) if gamma is None else float(gamma)
    eta = DEFAULT_ETA.get(sampler, 0.0) if eta is None else float(eta)

    eps_theta = _noise_predictor(adapter, prompt, rows)
    schedule = DDIMSchedule.from_scheduler_config(adapter.scheduler_config, steps)
    guided = sampler != "ddim" and gamma > 0.0
    loss = _guidance_loss(adapter, operator, damaged, guided, sources, vmc, guidance_dtype)
    start = 0
    if x_init is not None:
        z0_init = _encode_guess(adapter, x_init, damaged, gain, sources)
        start, z_T = _sdedit_start(z0_init, z_T, shape, schedule, strength, seed)

    result = sample(
        sampler, eps_theta, loss, schedule, shape, gamma=gamma, eta=eta, seed=seed, z_T=z_T,
        start=start, callback=callback, device=adapter.device, dtype=torch.float32,
    )  # fmt: skip
    return _decode(adapter, result.latents, gain, sources, n)


def _check_sources(operator: Operator, sources: int) -> None:
    if isinstance(operator, MixOperator) and sources != len(operator.weights):
        raise DamageError(f"separation: {len(operator.weights)} weights but sources={sources}")
    if sources < 1:
        raise DamageError(f"sources must be >= 1, got {sources}")


def _noise_predictor(adapter: ModelAdapter, prompt: str | None, rows: int) -> NoisePredictor:
    """eps_theta(z_t, t): the adapter's noise prediction, conditioned on ``prompt`` for ``rows``
    latents."""
    conditioning = adapter.conditioning(prompt, rows)

    def eps_theta(z_t: torch.Tensor, t: int) -> torch.Tensor:
        return adapter.predict_noise(z_t, t, conditioning)

    return eps_theta


def _guidance_loss(
    adapter: ModelAdapter,
    operator: Operator,
    damaged: torch.Tensor,
    guided: bool,
    sources: int,
    vmc: bool,
    guidance_dtype: str,
) -> GuidanceLoss | None:
    """L(z0) of ``guidance.build_loss`` for the scaled ``damaged`` windows, with D and V in
    ``guidance_dtype`` (checked even when unguided); None when the chain runs unguided."""
    precision = resolve_guidance_dtype(guidance_dtype)
    if not guided:
        return None
    return build_loss(adapter, operator, damaged, sources=sources, vmc=vmc, precision=precision)


def _encode_guess(
    adapter: ModelAdapter,
    x_init: torch.Tensor,
    damaged: torch.Tensor,
    gain: torch.Tensor,
    sources: int,
) -> torch.Tensor:
    """z0_init = E(x_init): SDEdit's guide, one per window of ``damaged``, scaled with its
    ``gain``."""
    batch, n = damaged.shape
    if sources != 1 or tuple(x_init.shape) != (batch, n):
        got = tuple(x_init.shape)
        raise InputError(f"x_init {got}: expected one guess per window, ({batch}, {n})")
    return adapter.encode(x_init.to(damaged.device, torch.float32) * gain)


def _decode(
    adapter: ModelAdapter, z_0: torch.Tensor, gain: torch.Tensor, sources: int, n: int
) -> torch.Tensor:
    """x = V(D(z_0)), without gradients, trimmed to the window's length ``n``, ``(B, sources, n)``
    when ``sources > 1``, and brought back from the training level by ``gain``."""
    with torch.no_grad():
        waveform = fit_length(adapter.vocode(adapter.decode(z_0)), n).float()
    batch = gain.shape[0]
    waveform = waveform.reshape(batch, sources, n) if sources > 1 else waveform
    return waveform / gain.reshape(batch, *([1] * (waveform.dim() - 1)))


def _training_gain(damaged: torch.Tensor, target_peak: float | None) -> torch.Tensor:
    """Per-window gain ``(B, 1)`` that brings each window's peak to ``target_peak`` (1 if None).

    A window that measures nothing (wholly inside a long gap) takes the median gain of the
    windows that do: its own (1e4) had brought the fill back at -80 dB."""
    ones = torch.ones(damaged.shape[0], 1, device=damaged.device, dtype=damaged.dtype)
    if target_peak is None:
        return ones
    peak = damaged.abs().amax(dim=-1, keepdim=True)
    heard = peak > SILENT_PEAK
    shared = peak[heard].median() if bool(heard.any()) else torch.tensor(target_peak)
    return target_peak / torch.where(heard, peak, shared * ones)


def _sdedit_start(
    z0_init: torch.Tensor,
    z_T: torch.Tensor | None,  # noqa: N803 - the paper's symbol
    shape: tuple[int, ...],
    schedule: DDIMSchedule,
    strength: float,
    seed: int,
) -> tuple[int, torch.Tensor]:
    """SDEdit's first step and z_t0 = sqrt(abar_t0) z0_init + sqrt(1 - abar_t0) eps, with eps
    ``z_T`` or a draw of ``shape`` seeded with ``seed``."""
    if z_T is None:
        generator = torch.Generator().manual_seed(int(seed))
        z_T = torch.randn(shape, generator=generator)
    return sdedit.perturb(z0_init, z_T, schedule, strength)


def _check_measurement(adapter: ModelAdapter, measurement: torch.Tensor) -> torch.Tensor:
    if not isinstance(measurement, torch.Tensor) or measurement.dim() != 2:
        shape = getattr(measurement, "shape", None)
        raise InputError(f"measurement must be a (batch, samples) tensor, got shape {shape}")
    n = measurement.shape[-1]
    if n < 1 or n > adapter.window_samples:
        raise InputError(
            f"a window of {n} samples does not fit {adapter.name} "
            f"(1 to {adapter.window_samples} samples at {adapter.sample_rate} Hz)"
        )
    if not bool(torch.isfinite(measurement).all()):
        raise InputError("measurement has non-finite samples")
    return measurement.to(adapter.device, torch.float32)
