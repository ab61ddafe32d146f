"""Diffusion with Spherical Gaussian constraint (DSG, Yang et al. 2024, arXiv:2402.03201).

In n dimensions the fresh noise sigma_t * noise of a stochastic DDIM step lies, with high
probability, on the sphere of radius r = sqrt(n) * sigma_t around the step's mean. DSG keeps the
step on that sphere and only turns it toward the measurement:
    z0_hat  = (z_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)                          # Tweedie
    mean    = sqrt(abar_{t-1}) z0_hat + sqrt(1 - abar_{t-1} - sigma_t^2) eps         # DDIM mean
    d_star  = -r * g / ||g||,  g = grad_{z_t} L (eps constant, so g is parallel to grad_{z0_hat} L)
    d_samp  = sigma_t * noise
    d_mix   = d_samp + w * (d_star - d_samp)                        # w = dsg_weight
    z_{t-1} = mean + r * d_mix / ||d_mix||
with sigma_t = eta * sqrt((1 - abar_{t-1}) / (1 - abar_t)) * sqrt(1 - abar_t / abar_{t-1}), DDIM's
noise scale. (docs/method.md writes the radius without the last factor; with it r is the norm of the
noise DDIM itself would add, which is what the spherical constraint is about.) Norms and n are
per batch item, so each item of a batch is solved as if alone.

The step length is fixed by the sphere, so the loss scale and gamma do not change it: gamma > 0
switches guidance on, gamma = 0 gives the unguided DDIM step. DSG needs noise (r = 0 when
eta = 0): with eta = 0 the sampler runs DSG at eta = 1, as the DSG paper and DiffMusic's code do.
"""

from __future__ import annotations

import math

import torch

from diffmusic_engine.samplers.ddim import ddim_mean, ddim_sigma


def _unit(x: torch.Tensor) -> torch.Tensor:
    """x divided by its norm over every axis but the batch axis (zero stays zero)."""
    norms = torch.linalg.vector_norm(x.flatten(1), dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    return x / norms.view(-1, *([1] * (x.dim() - 1)))


def dsg_step(
    eps: torch.Tensor,
    z0_hat: torch.Tensor,
    gradient: torch.Tensor,
    *,
    abar_t: float,
    abar_prev: float,
    eta: float,
    weight: float,
    noise: torch.Tensor,
) -> torch.Tensor:
    """One DSG step; ``gradient`` is grad_{z0_hat} L at z0_hat, ``noise`` standard normal."""
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    mean = ddim_mean(z0_hat, eps, abar_prev, sigma)
    # r = sqrt(n) * sigma_t, n the size of one item
    radius = math.sqrt(z0_hat[0].numel()) * sigma
    d_star = -radius * _unit(gradient)
    d_sample = sigma * noise
    d_mix = d_sample + weight * (d_star - d_sample)
    return mean + radius * _unit(d_mix)
