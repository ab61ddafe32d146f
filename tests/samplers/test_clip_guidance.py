"""The clipping operator guides a diffusion sampler: the Gaussian prior of conftest with the
identity decoder (latents are the signal), y = clip(z_true, theta). The loss is
``ClipOperator.consistency`` (reliable entries match y, clipped ones are pushed beyond theta by a
one-sided penalty): its gradient is 2 (z - y) on reliable entries and -2 relu(theta - z) on
clipped ones, so the same step size as the inpainting problem (Lipschitz constant 1) applies."""

from __future__ import annotations

import numpy as np
import torch
from analytic_prior import ITEM_SHAPE, GaussianNoisePredictor, prior_covariance, prior_mean

from diffmusic_engine.operators import ClipOperator
from diffmusic_engine.samplers import DDIMSchedule, sample

CHAINS = 16


def test_clip_consistency_guidance_declips(
    schedule: DDIMSchedule, predictor: GaussianNoisePredictor
) -> None:
    rng = np.random.default_rng(5)
    z_true = prior_mean() + np.linalg.cholesky(prior_covariance()) @ rng.standard_normal(
        prior_mean().size
    )
    theta = float(np.quantile(np.abs(z_true), 0.8))  # about 20 % of the entries clipped
    operator = ClipOperator(theta, 16000)
    y = torch.from_numpy(np.clip(z_true, -theta, theta))
    clipped = np.abs(z_true) > theta

    def loss(z0: torch.Tensor) -> torch.Tensor:  # summed over the batch: per-item gradients
        return operator.consistency(z0.flatten(1).double(), y)

    shape = (CHAINS, *ITEM_SHAPE)
    guided = sample("irs", predictor, loss, schedule, shape, gamma=0.5, eta=0.0, seed=2)
    unguided = sample("ddim", predictor, None, schedule, shape, gamma=0.0, eta=0.0, seed=2)
    z, z_free = guided.latents.flatten(1).double(), unguided.latents.flatten(1).double()
    per_item = [float(operator.consistency(item, y)) for item in z]
    per_item_free = [float(operator.consistency(item, y)) for item in z_free]
    # consistent: far below unguided sampling's inconsistency
    assert np.mean(per_item) < 0.01 * np.mean(per_item_free)
    mean = z.numpy().mean(0)
    # clipped entries end beyond the level (within the sampler's residual) ...
    beyond = np.sign(z_true[clipped]) * mean[clipped] >= theta - 0.05
    assert beyond.mean() >= 0.95
    # ... and closer to the truth there than the clipped measurement is
    error = np.sum((mean[clipped] - z_true[clipped]) ** 2)
    error_clipped = np.sum((y.numpy()[clipped] - z_true[clipped]) ** 2)
    assert error < 0.7 * error_clipped
