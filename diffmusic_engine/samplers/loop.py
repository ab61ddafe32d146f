"""The sampling loop: one DDIM chain, guided by IRS, DPS or DSG, or unguided ("ddim")."""

from __future__ import annotations

import math

import torch

from diffmusic_engine.diffusion.options import DSG_DEFAULT_ETA, DSG_NEEDS_NOISE
from diffmusic_engine.errors import DiffMusicError, ModelError
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.samplers.ddim import ddim_step, guidance_gradient, tweedie
from diffmusic_engine.samplers.dps import dps_step
from diffmusic_engine.samplers.dsg import dsg_step
from diffmusic_engine.samplers.irs import irs_step
from diffmusic_engine.samplers.schedule import DDIMSchedule
from diffmusic_engine.samplers.types import GuidanceLoss, NoisePredictor, SampleResult

# z_{t-1} from eps_theta(z_t, t), z0_hat and grad L, for each guided sampler (the users' choice,
# diffusion.options.SAMPLERS, is these), and unguided DDIM
GUIDED_STEPS = {"irs": irs_step, "dps": dps_step, "dsg": dsg_step}
SAMPLERS = (*GUIDED_STEPS, "ddim")

# The eta each sampler is meant to run at, for callers with no setting of their own: IRS as the
# paper runs it (deterministic); DPS as an ancestral (DDPM-like) sampler, without which its
# constant-step correction does not converge (tests/samplers); DSG needs noise for its sphere.
DEFAULT_ETA = {"irs": 0.0, "dps": 1.0, "dsg": DSG_DEFAULT_ETA, "ddim": 0.0}


def sample(
    method: str,
    noise_predictor: NoisePredictor,
    loss: GuidanceLoss | None,
    schedule: DDIMSchedule,
    shape: tuple[int, ...],
    *,
    gamma: float,
    eta: float | None = None,
    seed: int = 0,
    z_T: torch.Tensor | None = None,  # noqa: N803 - the paper's symbol
    start: int = 0,
    dsg_weight: float = 0.1,
    callback: ProgressCallback | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> SampleResult:
    """Run ``len(schedule) - start`` DDIM steps from z_T to z_0, guided by ``method``.

    ``start`` > 0 begins at the ``start``-th inference timestep t0, with ``z_T`` holding z_t0
    (SDEdit's start, :mod:`.sdedit`); the steps before it are not run.

    ``shape`` is (batch, ...): items of a batch are independent chains (the loss is the sum of
    their losses, so its gradient is per item). z_T and the noise of eta > 0 come from a CPU
    ``torch.Generator`` seeded with ``seed``: same arguments, same result, on any device.
    ``noise_predictor`` is called under ``torch.no_grad``; gradients run through ``loss`` only.
    A step whose loss or gradient is not finite is taken unguided and counted in
    ``skipped_steps``. ``callback`` gets ``Progress(i, len(schedule), method)`` after each step
    and may raise ``Cancelled`` to stop.
    """
    eta = DEFAULT_ETA.get(method, 0.0) if eta is None else eta
    _check_arguments(method, loss, gamma, eta, dsg_weight, shape, z_T)
    if not 0 <= start < len(schedule) or (start and z_T is None):
        raise DiffMusicError(f"start {start} needs z_T and must lie in 0..{len(schedule) - 1}")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    # z_T ~ N(0, I)
    z_t = _standard_normal(shape, generator, device, dtype) if z_T is None else z_T
    z_t = z_t.detach().to(device=device, dtype=dtype)
    guided = method != "ddim" and gamma > 0.0
    # the guided update's own setting: DSG's weight, the step size gamma of the others
    setting = {"weight": dsg_weight} if method == "dsg" else {"gamma": gamma}
    losses: list[float] = []
    skipped = 0
    total = len(schedule) - start

    for i in range(start, len(schedule)):
        t, abar_t, abar_prev = schedule.alpha_bars(i)
        with torch.no_grad():
            eps = noise_predictor(z_t, t)  # eps_theta(z_t, t)
        _check_noise_prediction(eps, z_t, t)
        z0_hat = tweedie(z_t, eps, abar_t)
        # fresh noise for eta > 0, drawn at every step, guided or not, so that the draws line up
        # between samplers (gamma = 0 reproduces "ddim" exactly)
        noise = _standard_normal(shape, generator, device, dtype) if eta > 0.0 else None

        # L(z0_hat) and grad_{z0_hat} L, through the loss only (z0_hat is detached inside)
        guidance = guidance_gradient(loss, z0_hat) if guided else None
        if guidance is not None:
            losses.append(guidance.value)
            skipped += 0 if guidance.usable else 1

        if guidance is None or not guidance.usable:  # unguided, or a non-finite loss/gradient
            z_t = ddim_step(z0_hat, eps, abar_t, abar_prev, eta, noise)
        else:
            z_t = GUIDED_STEPS[method](
                eps, z0_hat, guidance.gradient, abar_t=abar_t, abar_prev=abar_prev,
                eta=eta, noise=noise, **setting,
            )  # fmt: skip
        z_t = z_t.detach()
        report(callback, i + 1 - start, total, method)

    return SampleResult(latents=z_t, losses=losses, skipped_steps=skipped)


def _standard_normal(
    shape: tuple[int, ...],
    generator: torch.Generator,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """N(0, I) drawn on the CPU in float32 (the same numbers on every device), then moved."""
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)


def _check_arguments(
    method: str,
    loss: GuidanceLoss | None,
    gamma: float,
    eta: float,
    dsg_weight: float,
    shape: tuple[int, ...],
    z_T: torch.Tensor | None,  # noqa: N803
) -> None:
    if method not in SAMPLERS:
        raise DiffMusicError(f"unknown sampler {method!r}; choose one of {', '.join(SAMPLERS)}")
    if not (math.isfinite(gamma) and gamma >= 0.0):
        raise DiffMusicError(f"gamma must be a finite number >= 0, got {gamma}")
    if not (math.isfinite(eta) and eta >= 0.0):
        raise DiffMusicError(f"eta must be a finite number >= 0, got {eta}")
    if method == "dsg" and eta == 0.0:
        raise DiffMusicError(DSG_NEEDS_NOISE)
    if not 0.0 <= dsg_weight <= 1.0:
        raise DiffMusicError(f"dsg_weight must be between 0 and 1, got {dsg_weight}")
    if method != "ddim" and gamma > 0.0 and loss is None:
        raise DiffMusicError(f"sampler {method!r} with gamma > 0 needs a guidance loss")
    if len(shape) < 2:
        raise DiffMusicError(f"latent shape must be (batch, ...), got {tuple(shape)}")
    if z_T is not None and tuple(z_T.shape) != tuple(shape):
        raise DiffMusicError(f"z_T has shape {tuple(z_T.shape)}, expected {tuple(shape)}")


def _check_noise_prediction(eps: torch.Tensor, z_t: torch.Tensor, t: int) -> None:
    if eps.shape != z_t.shape:
        raise ModelError(
            f"the noise predictor returned shape {tuple(eps.shape)} for latents {tuple(z_t.shape)}"
        )
    if not bool(torch.isfinite(eps).all()):
        raise ModelError(f"the noise predictor returned non-finite values at timestep {t}")
