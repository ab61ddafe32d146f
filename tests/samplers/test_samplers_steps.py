"""One step of each sampler against the paper's formulas, written out literally in float64."""

from __future__ import annotations

import math

import torch

from diffmusic_engine.samplers.ddim import ddim_sigma, guidance_gradient, tweedie
from diffmusic_engine.samplers.dps import dps_step
from diffmusic_engine.samplers.dsg import dsg_step
from diffmusic_engine.samplers.irs import irs_step

ABAR_T, ABAR_PREV = 0.3, 0.45
GENERATOR = torch.Generator().manual_seed(0)
Z_T, EPS, NOISE, TARGET = (
    torch.randn(2, 3, 16, generator=GENERATOR, dtype=torch.float64) for _ in range(4)
)


def loss(z0: torch.Tensor) -> torch.Tensor:
    return ((z0 - TARGET) ** 2).sum()


def test_irs_step_is_algorithm_1() -> None:
    gamma, eta = 0.2, 0.7
    z0_hat = (Z_T - math.sqrt(1 - ABAR_T) * EPS) / math.sqrt(ABAR_T)
    grad = 2 * (z0_hat - TARGET)  # grad of ||z0 - target||^2
    z0_star = z0_hat - gamma * grad
    eps_hat = (Z_T - math.sqrt(ABAR_T) * z0_star) / math.sqrt(1 - ABAR_T)
    sigma = eta * math.sqrt((1 - ABAR_PREV) / (1 - ABAR_T) * (1 - ABAR_T / ABAR_PREV))
    expected = (
        math.sqrt(ABAR_PREV) * z0_star
        + math.sqrt(1 - ABAR_PREV - sigma**2) * eps_hat
        + sigma * NOISE
    )
    gradient = guidance_gradient(loss, tweedie(Z_T, EPS, ABAR_T)).gradient
    torch.testing.assert_close(gradient, grad)
    ours = irs_step(
        EPS, z0_hat, gradient, abar_t=ABAR_T, abar_prev=ABAR_PREV, gamma=gamma, eta=eta,
        noise=NOISE,
    )  # fmt: skip
    torch.testing.assert_close(ours, expected)


def test_dps_step_uses_the_gradient_with_respect_to_z_t_with_eps_held() -> None:
    gamma = 0.05
    z_t = Z_T.clone().requires_grad_(True)
    z0_of_z_t = (z_t - math.sqrt(1 - ABAR_T) * EPS) / math.sqrt(ABAR_T)  # EPS constant
    (grad_z_t,) = torch.autograd.grad(loss(z0_of_z_t), z_t)
    z0_hat = z0_of_z_t.detach()
    unguided = math.sqrt(ABAR_PREV) * z0_hat + math.sqrt(1 - ABAR_PREV) * EPS
    gradient = guidance_gradient(loss, z0_hat).gradient
    ours = dps_step(
        EPS, z0_hat, gradient, abar_t=ABAR_T, abar_prev=ABAR_PREV, gamma=gamma, eta=0.0,
        noise=None,
    )  # fmt: skip
    torch.testing.assert_close(ours, unguided - gamma * grad_z_t)


def test_dsg_step_stays_on_the_sphere_and_turns_toward_the_measurement() -> None:
    eta, weight = 1.0, 0.3
    z0_hat = tweedie(Z_T, EPS, ABAR_T)
    gradient = guidance_gradient(loss, z0_hat).gradient
    ours = dsg_step(
        EPS, z0_hat, gradient, abar_t=ABAR_T, abar_prev=ABAR_PREV, eta=eta, weight=weight,
        noise=NOISE,
    )  # fmt: skip
    sigma = ddim_sigma(ABAR_T, ABAR_PREV, eta)
    mean = math.sqrt(ABAR_PREV) * z0_hat + math.sqrt(1 - ABAR_PREV - sigma**2) * EPS
    radius = math.sqrt(3 * 16) * sigma  # sqrt(n) sigma_t, n = one item's size
    step = (ours - mean).flatten(1)
    torch.testing.assert_close(step.norm(dim=1), torch.full((2,), radius, dtype=torch.float64))
    # per item, the step is the normalised mix (1 - w) sigma noise + w (-r g / ||g||)
    for b in range(2):
        g = gradient[b].flatten()
        mix = (1 - weight) * sigma * NOISE[b].flatten() - weight * radius * g / g.norm()
        torch.testing.assert_close(step[b], radius * mix / mix.norm())
        assert torch.dot(step[b], -g) > torch.dot(sigma * NOISE[b].flatten(), -g)
