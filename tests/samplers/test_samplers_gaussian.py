"""The samplers' mathematics against an exact Gaussian prior (docs/method.md).

Items of a batch are independent chains (each has its own z_T; the loss is a sum over items, so
its gradient is per item), so one batch of B items stands for B seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from analytic_prior import (
    ITEM_SHAPE,
    STEPS,
    GaussianNoisePredictor,
    LinearProblem,
    prior_covariance,
    prior_mean,
)
from scipy import stats

from diffmusic_engine.samplers import DDIMSchedule, sample

PRIOR_SAMPLES = 2000  # unguided chains for the prior's statistics
POSTERIOR_SAMPLES = 128  # chains per guided run


def exact_chain(schedule: DDIMSchedule, eigenvalues: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The gain g_k of the whole unguided DDIM (eta = 0) chain along each eigenvector of S.

    With u_t = z_t - sqrt(a_t) mu, eps* = sqrt(1 - a) K^{-1} u and z0_hat = mu + sqrt(a) S K^{-1} u,
    so one step is u_{t-1} = (sqrt(a' a) S + sqrt((1 - a')(1 - a)) I) K_t^{-1} u_t: diagonal in
    S's eigenbasis with factor (sqrt(a' a) lam + sqrt((1 - a')(1 - a))) / (a lam + 1 - a).
    Returns (g, a_T, a_final): z_0 = sqrt(a_final) mu + Q diag(g) Q^T (z_T - sqrt(a_T) mu).
    """
    a_all = schedule.alphas_cumprod.numpy()
    levels = [a_all[t] for t in schedule.timesteps.tolist()] + [schedule.final_alpha_cumprod]
    gain = np.ones_like(eigenvalues)
    for a, a_prev in zip(levels[:-1], levels[1:], strict=True):
        numerator = np.sqrt(a_prev * a) * eigenvalues + np.sqrt((1 - a_prev) * (1 - a))
        gain *= numerator / (a * eigenvalues + 1 - a)
    return gain, levels[0], levels[-1]


def test_unguided_ddim_reproduces_the_prior(
    schedule: DDIMSchedule, predictor: GaussianNoisePredictor
) -> None:
    """DDIM (eta = 0) with eps* follows its exact chain, and that chain is close to the prior."""
    covariance, mu = prior_covariance(), prior_mean()
    lam, q = np.linalg.eigh(covariance)
    gain, a_first, a_final = exact_chain(schedule, lam)
    # Exact law of the output: mean m_chain, covariance Q diag(gain^2) Q^T
    m_chain = np.sqrt(a_final) * mu - np.sqrt(a_first) * q @ (gain * (q.T @ mu))
    c_chain = (q * gain**2) @ q.T

    result = sample("ddim", predictor, None, schedule, (PRIOR_SAMPLES, *ITEM_SHAPE), gamma=0.0)
    z = result.latents.flatten(1).double().numpy()
    n, d = z.shape
    w = (z - m_chain) @ q  # eigen-coordinates; exact law: independent N(0, gain_k^2)
    # Mean: sum_k n mean_k^2 / gain_k^2 is chi-square with d degrees of freedom
    chi2_mean = float(np.sum(n * w.mean(0) ** 2 / gain**2))
    assert chi2_mean < stats.chi2.ppf(1 - 1e-6, df=d)
    # Variance along each eigenvector: n var_k / gain_k^2 is chi-square with n degrees of freedom
    ratios = (w**2).mean(0) / gain**2
    low, high = stats.chi2.ppf([1e-7, 1 - 1e-7], df=n) / n
    assert np.all((ratios > low) & (ratios < high))
    # No correlation between eigen-coordinates: each normalised covariance is about N(0, 1/n)
    normalised = (w / gain).T @ (w / gain) / n
    assert np.max(np.abs(normalised[~np.eye(d, dtype=bool)])) < 6.0 / np.sqrt(n)

    # The prior itself, N(mu, S), up to the chain's discretisation (each step's variance factor is
    # a cos^2 of the angle it turns through: with 50 steps the chain keeps 70-95 % of the prior's
    # variance per direction, about 6 % in Frobenius norm) and sampling error (E ||C_hat - C||_F^2
    # = (tr C^2 + ||C||_F^2) / n, E ||m_hat - m||^2 = tr C / n), at three standard errors.
    covariance_error = np.linalg.norm(c_chain - covariance) + 3 * np.sqrt(
        (np.trace(c_chain) ** 2 + np.linalg.norm(c_chain) ** 2) / n
    )
    mean_error = np.linalg.norm(m_chain - mu) + 3 * np.sqrt(np.trace(c_chain) / n)
    assert np.linalg.norm(np.cov(z, rowvar=False) - covariance) < covariance_error
    assert np.linalg.norm(z.mean(0) - mu) < mean_error
    # Cauchy-Schwarz: a DDIM step never adds variance; and 50 steps keep at least 65 % of it
    retained = gain**2 / (a_final * lam + 1 - a_final)
    assert np.all((retained > 0.65) & (retained <= 1.0))


# How each guided sampler is run on the Gaussian problems, and why (L = sigma_max(H A)^2):
# - IRS, squared loss ||H A z0 - y||^2: gamma = 1 / (2 L). The posterior update of z0_hat for an
#   isotropic z0 | z_t and v -> 0 is the projection onto H A z0 = y, which for H A with orthonormal
#   rows (the mask) is exactly the step gamma = 1/2, and the largest step that never overshoots in
#   general: the 1 / (2 v) likelihood weight with v replaced by the prior's own spread, in the
#   regime v << that spread. At the paper's eta = 0, and at eta = 1.
# - DPS, plain norm ||H A z0 - y|| (DPS paper, method.md) at eta = 1 (DPS is an ancestral,
#   DDPM-style sampler): gamma = 1 is the DPS paper's zeta' / ||y - H A z0_hat|| with zeta' = 1/2.
#   The norm makes the step length gamma / sqrt(abar_t) whatever the residual, so the early,
#   amplified steps cannot blow up, and late steps move about gamma per step.
# - DSG at eta = 1 (its sphere needs noise) with weight 1/2: gradient and noise directions count
#   equally; gamma only switches guidance on.
GUIDED = {
    "irs-eta0": ("irs", {"eta": 0.0, "squared": True, "gamma": lambda p: 0.5 / p.lipschitz}),
    "irs-eta1": ("irs", {"eta": 1.0, "squared": True, "gamma": lambda p: 0.5 / p.lipschitz}),
    "dps": ("dps", {"eta": 1.0, "squared": False, "gamma": lambda p: 1.0}),
    "dsg": ("dsg", {"eta": 1.0, "squared": True, "gamma": lambda p: 1.0, "dsg_weight": 0.5}),
}


def chain_mean(
    method: str,
    predictor: GaussianNoisePredictor,
    loss: Callable | None,
    schedule: DDIMSchedule,
    gamma: float,
    eta: float,
    batch: torch.Tensor,
) -> np.ndarray:
    """The mean of the sampler's output over seeds.

    At eta = 0 with a squared loss, IRS and DDIM are affine maps of z_T (eps* and the gradient
    are affine), so their mean is exactly their output from z_T = E[z_T] = 0. Otherwise the
    mean over the batch's B chains, whose sampling error moves the squared distances compared
    below by about 2 sqrt(d^T C_out d / B), a few per cent of them here.
    """
    if eta == 0.0 and method in ("irs", "ddim"):
        zero = torch.zeros(1, *ITEM_SHAPE)
        result = sample(method, predictor, loss, schedule, zero.shape, gamma=gamma, z_T=zero)
        return result.latents.flatten().double().numpy()
    return batch.flatten(1).double().numpy().mean(0)


@pytest.mark.parametrize("case", sorted(GUIDED))
def test_guided_sampling_moves_to_the_posterior(
    case: str, schedule: DDIMSchedule, predictor: GaussianNoisePredictor, problem: LinearProblem
) -> None:
    method, settings = GUIDED[case]
    shape = (POSTERIOR_SAMPLES, *ITEM_SHAPE)
    loss = problem.loss if settings["squared"] else problem.norm_loss
    gamma = settings["gamma"](problem)
    eta = settings["eta"]
    guided = sample(
        method, predictor, loss, schedule, shape, gamma=gamma, eta=eta, seed=3,
        dsg_weight=settings.get("dsg_weight", 0.1),
    )  # fmt: skip
    unguided = sample("ddim", predictor, None, schedule, shape, gamma=0.0, eta=eta, seed=3)
    assert guided.skipped_steps == 0 and len(guided.losses) == STEPS
    assert torch.isfinite(guided.latents).all()

    # The measurement residual falls far below unguided sampling's
    residual = problem.residuals(guided.latents).mean()
    residual_unguided = problem.residuals(unguided.latents).mean()

    # The mean over seeds lies much closer to m_post than the unguided mean (about mu), on the
    # whole latent and on the part H A does not see (the gap; the high frequencies), where only
    # the prior's correlations carry information.
    m_post, _ = problem.posterior
    hidden = problem.unobserved
    mean = chain_mean(method, predictor, loss, schedule, gamma, eta, guided.latents)
    mean_unguided = chain_mean("ddim", predictor, None, schedule, 0.0, eta, unguided.latents)
    distance = np.sum((mean - m_post) ** 2) / np.sum((mean_unguided - m_post) ** 2)
    distance_hidden = np.sum((hidden @ (mean - m_post)) ** 2) / np.sum(
        (hidden @ (mean_unguided - m_post)) ** 2
    )
    print(
        f"{case} {problem.name}: residual {residual:.3f} / unguided {residual_unguided:.3f}"
        f" = {residual / residual_unguided:.4f}; squared distance to m_post {distance:.4f},"
        f" unobserved part {distance_hidden:.4f} of unguided's"
    )
    assert residual < 0.1 * residual_unguided
    assert distance <= 0.5
    assert distance_hidden <= 0.5
