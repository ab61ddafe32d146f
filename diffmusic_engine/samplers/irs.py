"""Iterative Refinement Sampling (IRS), DiffMusic's Algorithm 1 (see docs/method.md).

One step, from z_t to z_{t-1}:
    z0_hat  = (z_t - sqrt(1 - abar_t) eps_theta(z_t, t)) / sqrt(abar_t)   # Tweedie
    z0_star = z0_hat - gamma * grad_{z0_hat} L(z0_hat)                    # refine
    eps_hat = (z_t - sqrt(abar_t) z0_star) / sqrt(1 - abar_t)             # matching noise
    z_{t-1} = sqrt(abar_{t-1}) z0_star + sqrt(1 - abar_{t-1} - sigma_t^2) eps_hat + sigma_t noise
The paper runs eta = 0 (sigma_t = 0); eta > 0 is the same step with DDIM's fresh noise.

How gamma relates to the posterior: for a squared loss L = ||H z0 - y||^2 the refined estimate is
z0_hat - 2 gamma H^T (H z0_hat - y). When z0 | z_t is roughly isotropic and the measurement noise v
is small against it, the exact Gaussian update E[z0 | z_t, y] is the projection onto H z0 = y; for
an H with orthonormal rows (a mask) that is the step with gamma = 1/2. Larger gamma overshoots
(unstable beyond gamma = 1 / sigma_max(H)^2); smaller gamma refines part of the way each step.
"""

from __future__ import annotations

import math

import torch

from diffmusic_engine.samplers.ddim import ddim_step


def irs_step(
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
    """One IRS step; ``gradient`` is grad_{z0_hat} L at z0_hat.

    eps_hat below is the paper's expression rewritten without z_t, so that no cancellation
    costs precision and gamma = 0 gives the unguided DDIM step bit for bit.
    """
    # z0* = z0_hat - gamma * grad_{z0_hat} ||T(x0_hat) - y||^2
    z0_star = z0_hat - gamma * gradient
    # eps_hat = (z_t - sqrt(abar_t) z0*) / sqrt(1 - abar_t); since z_t = sqrt(abar_t) z0_hat +
    # sqrt(1 - abar_t) eps, this is exactly eps + sqrt(abar_t / (1 - abar_t)) * gamma * grad.
    eps_hat = eps + math.sqrt(abar_t / (1.0 - abar_t)) * gamma * gradient
    return ddim_step(z0_star, eps_hat, abar_t, abar_prev, eta, noise)
