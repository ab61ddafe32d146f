"""The sampling loop: one DDIM chain, guided by IRS, DPS or DSG, or unguided ("ddim")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from diffmusic_engine.diffusion.options import DSG_DEFAULT_ETA, DSG_NEEDS_NOISE
from diffmusic_engine.errors import DiffMusicError, ModelError
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.samplers.ddim import Guidance, ddim_step, guidance_gradient, tweedie
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
    _check_start(start, len(schedule), z_T)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    # z_T ~ N(0, I)
    z_t = _standard_normal(shape, generator, device, dtype) if z_T is None else z_T
    z_t = z_t.detach().to(device=device, dtype=dtype)
    chain = _Chain(
        method, noise_predictor, loss, guided=method != "ddim" and gamma > 0.0, eta=eta,
        # the guided update's own setting: DSG's weight, the step size gamma of the others
        setting={"weight": dsg_weight} if method == "dsg" else {"gamma": gamma},
        generator=generator, shape=shape, device=device, dtype=dtype,
    )  # fmt: skip
    total = len(schedule) - start
    for i in range(start, len(schedule)):
        t, abar_t, abar_prev = schedule.alpha_bars(i)
        z_t = chain.step(z_t, t, abar_t, abar_prev)
        report(callback, i + 1 - start, total, method)
    return SampleResult(latents=z_t, losses=chain.losses, skipped_steps=chain.skipped_steps)


@dataclass
class _Chain:
    """What every step of one chain shares: eps_theta, L and the update's settings, the CPU
    generator of its noise; and what it gathers: L(z0_hat) at each guided step, and how many of
    those steps went unguided (loss or gradient not finite)."""

    method: str
    noise_predictor: NoisePredictor  # eps_theta(z_t, t), called under no_grad
    loss: GuidanceLoss | None  # L(z0), read only when guided
    guided: bool  # a guided sampler with gamma > 0
    eta: float
    setting: dict[str, float]  # the guided update's: {"weight": ...} for DSG, {"gamma": ...}
    generator: torch.Generator
    shape: tuple[int, ...]
    device: torch.device | str | None
    dtype: torch.dtype
    losses: list[float] = field(default_factory=list)
    skipped_steps: int = 0

    def step(self, z_t: torch.Tensor, t: int, abar_t: float, abar_prev: float) -> torch.Tensor:
        """z_{t-1} from z_t: eps_theta(z_t, t), Tweedie's z0_hat, then the guided update (DDIM's
        when unguided or when the guidance is not usable), detached."""
        with torch.no_grad():
            eps = self.noise_predictor(z_t, t)  # eps_theta(z_t, t)
        _check_noise_prediction(eps, z_t, t)
        z0_hat = tweedie(z_t, eps, abar_t)
        noise = self._fresh_noise()
        guidance = self._guidance(z0_hat)
        if guidance is None or not guidance.usable:  # unguided, or a non-finite loss/gradient
            z_prev = ddim_step(z0_hat, eps, abar_t, abar_prev, self.eta, noise)
        else:
            z_prev = GUIDED_STEPS[self.method](
                eps, z0_hat, guidance.gradient, abar_t=abar_t, abar_prev=abar_prev,
                eta=self.eta, noise=noise, **self.setting,
            )  # fmt: skip
        return z_prev.detach()

    def _fresh_noise(self) -> torch.Tensor | None:
        """Fresh noise for eta > 0, drawn at every step, guided or not, so that the draws line up
        between samplers (gamma = 0 reproduces "ddim" exactly)."""
        if self.eta > 0.0:
            return _standard_normal(self.shape, self.generator, self.device, self.dtype)
        return None

    def _guidance(self, z0_hat: torch.Tensor) -> Guidance | None:
        """L(z0_hat) and grad_{z0_hat} L, through the loss only (z0_hat is detached inside), kept
        in ``losses`` and ``skipped_steps``; None when unguided."""
        if not self.guided:
            return None
        guidance = guidance_gradient(self.loss, z0_hat)
        self.losses.append(guidance.value)
        self.skipped_steps += 0 if guidance.usable else 1
        return guidance


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


def _check_start(start: int, steps: int, z_T: torch.Tensor | None) -> None:  # noqa: N803
    """SDEdit's start: one of the ``steps`` inference steps, and only with z_t0 given as z_T."""
    if not 0 <= start < steps or (start and z_T is None):
        raise DiffMusicError(f"start {start} needs z_T and must lie in 0..{steps - 1}")


def _check_noise_prediction(eps: torch.Tensor, z_t: torch.Tensor, t: int) -> None:
    if eps.shape != z_t.shape:
        raise ModelError(
            f"the noise predictor returned shape {tuple(eps.shape)} for latents {tuple(z_t.shape)}"
        )
    if not bool(torch.isfinite(eps).all()):
        raise ModelError(f"the noise predictor returned non-finite values at timestep {t}")
