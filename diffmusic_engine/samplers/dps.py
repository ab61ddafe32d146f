"""Diffusion Posterior Sampling (DPS, Chung et al. 2023) on DDIM: DiffMusic's baseline.

One step, from z_t to z_{t-1}:
    z0_hat  = (z_t - sqrt(1 - abar_t) eps_theta(z_t, t)) / sqrt(abar_t)        # Tweedie
    z'      = sqrt(abar_{t-1}) z0_hat + sqrt(1 - abar_{t-1} - sigma_t^2) eps + sigma_t noise
    z_{t-1} = z' - gamma * grad_{z_t} L(z0_hat(z_t))

The original DPS differentiates through the noise predictor (d eps_theta / d z_t). Here it does
NOT: eps is held constant, so d z0_hat / d z_t = I / sqrt(abar_t) and
    grad_{z_t} L = grad_{z0_hat} L / sqrt(abar_t).
This keeps the UNet out of autograd (the project's rule: gradients run through the decoder,
vocoder and mel only), at the price of ignoring how the prior's denoiser would spread the
correction (exact for a prior that is flat at the scale of the noise).

How gamma relates to the posterior: the DDIM step from the conditional score moves z_{t-1} by
c_t * grad_{z_t} log p(y | z_t), with c_t = sqrt(1 - abar_t) (sqrt(abar_{t-1} (1 - abar_t) / abar_t)
- sqrt(1 - abar_{t-1})); for L = ||H z0 - y||^2 and measurement noise v, log p(y | z_t) is about
-L / (2 (v + r_t^2)) (r_t^2 the variance of H z0 | z_t), so the consistent step is gamma_t =
c_t / (2 (v + r_t^2)). DPS replaces it by one constant gamma; it stays stable while
2 gamma sigma_max(H)^2 < 2 near t = 0, where z0_hat ~ z_t.
"""

from __future__ import annotations

import math

import torch

from diffmusic_engine.samplers.ddim import ddim_step


def dps_step(
    eps: torch.Tensor,
    z0_hat: torch.Tensor,
    gradient: torch.Tensor,
    *,
    abar_t: float,
    abar_prev: float,
    gamma: float,
    eta: float,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """One DPS step; ``gradient`` is grad_{z0_hat} L at z0_hat."""
    # z' = the unguided DDIM step from Tweedie's estimate
    z_prev = ddim_step(z0_hat, eps, abar_t, abar_prev, eta, noise)
    # grad_{z_t} L = (d z0_hat / d z_t)^T grad_{z0_hat} L = grad_{z0_hat} L / sqrt(abar_t)
    # (eps held constant: no gradient through the noise predictor)
    grad_z_t = gradient / math.sqrt(abar_t)
    return z_prev - gamma * grad_z_t
