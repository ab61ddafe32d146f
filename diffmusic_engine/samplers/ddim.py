"""The pieces every sampler shares: Tweedie's estimate, the DDIM update, the guidance gradient.

Symbols (DDIM paper, Song et al. 2021, eq. 12; DiffMusic's Algorithm 1):
    z_t       the latent at timestep t
    eps       eps_theta(z_t, t), the noise predictor's output
    abar_t    the cumulative product of the alphas at t (``abar_prev`` = abar_{t-1})
    z0_hat    Tweedie's estimate of the clean latent from z_t and eps
    sigma_t   the standard deviation of the fresh noise a DDIM step injects (0 when eta = 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from diffmusic_engine.samplers.types import GuidanceLoss


def tweedie(z_t: torch.Tensor, eps: torch.Tensor, abar_t: float) -> torch.Tensor:
    """z0_hat = (z_t - sqrt(1 - abar_t) * eps) / sqrt(abar_t)."""
    return (z_t - math.sqrt(1.0 - abar_t) * eps) / math.sqrt(abar_t)


def ddim_sigma(abar_t: float, abar_prev: float, eta: float) -> float:
    """sigma_t = eta * sqrt((1 - abar_{t-1}) / (1 - abar_t)) * sqrt(1 - abar_t / abar_{t-1})."""
    if eta == 0.0:
        return 0.0
    variance = (1.0 - abar_prev) / (1.0 - abar_t) * (1.0 - abar_t / abar_prev)
    return eta * math.sqrt(max(variance, 0.0))


def ddim_mean(z0: torch.Tensor, eps: torch.Tensor, abar_prev: float, sigma: float) -> torch.Tensor:
    """The deterministic part of a DDIM step.

    sqrt(abar_{t-1}) z0 + sqrt(1 - abar_{t-1} - sigma^2) eps
    """
    direction = math.sqrt(max(1.0 - abar_prev - sigma**2, 0.0))
    return math.sqrt(abar_prev) * z0 + direction * eps


def ddim_step(
    z0: torch.Tensor,
    eps: torch.Tensor,
    abar_t: float,
    abar_prev: float,
    eta: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """z_{t-1} = sqrt(abar_{t-1}) z0 + sqrt(1 - abar_{t-1} - sigma_t^2) eps + sigma_t * noise.

    The same update as ``diffusers.DDIMScheduler.step`` (epsilon prediction, no clipping), but
    taking z0 and eps separately, so that a sampler can hand in guided versions of either.
    ``noise`` is needed only when eta > 0.
    """
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    z_prev = ddim_mean(z0, eps, abar_prev, sigma)
    if sigma > 0.0:
        if noise is None:
            raise ValueError("a DDIM step with eta > 0 needs noise")
        z_prev = z_prev + sigma * noise
    return z_prev


@dataclass(frozen=True)
class Guidance:
    """The loss at z0_hat and its gradient grad_{z0_hat} loss (``None``: not finite)."""

    value: float
    gradient: torch.Tensor | None

    @property
    def usable(self) -> bool:
        return self.gradient is not None


def guidance_gradient(loss: GuidanceLoss, z0_hat: torch.Tensor) -> Guidance:
    """Evaluate ``loss`` at z0_hat and differentiate it with respect to z0_hat.

    z0_hat is detached first, so the gradient runs through the loss (decoder, vocoder, mel,
    operator) only, never back into the noise predictor. A non-finite loss or gradient gives
    ``Guidance(value, None)``: the caller then takes the step unguided.
    """
    with torch.enable_grad():
        z0 = z0_hat.detach().requires_grad_(True)
        value = loss(z0)
        if value.dim() != 0:
            shape = tuple(value.shape)
            raise ValueError(f"the guidance loss must return a scalar, got shape {shape}")
        loss_value = float(value.detach())
        if not math.isfinite(loss_value):
            return Guidance(loss_value, None)
        (gradient,) = torch.autograd.grad(value, z0)
    if not bool(torch.isfinite(gradient).all()):
        return Guidance(loss_value, None)
    return Guidance(loss_value, gradient.detach())
