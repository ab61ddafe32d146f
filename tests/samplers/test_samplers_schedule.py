"""The DDIM schedule and the hand-written DDIM update, against the formulas and diffusers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from analytic_prior import REFERENCE_CONFIG
from diffusers import DDIMScheduler

from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.samplers import DDIMSchedule, ddim_step, tweedie


def test_reference_schedule_follows_the_scaled_linear_formula() -> None:
    schedule = DDIMSchedule.from_scheduler_config(REFERENCE_CONFIG, 50)
    # scaled_linear: beta = linspace(sqrt(0.0015), sqrt(0.0195), 1000)^2; abar_t = prod(1 - beta)
    betas = np.linspace(np.sqrt(0.0015), np.sqrt(0.0195), 1000) ** 2
    expected = np.cumprod(1.0 - betas)
    assert schedule.alphas_cumprod.dtype == torch.float64
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), expected, rtol=1e-5)
    # "leading" spacing with steps_offset 1: 1000 // 50 = 20 apart, 981, 961, ..., 1
    assert schedule.timesteps.tolist() == list(range(981, 0, -20))
    # set_alpha_to_one = False: the step after t = 1 lands on abar_0 = 1 - beta_0
    assert schedule.final_alpha_cumprod == pytest.approx(1 - 0.0015, rel=1e-6)
    t, abar_t, abar_prev = schedule.alpha_bars(len(schedule) - 1)
    assert (t, abar_prev) == (1, schedule.final_alpha_cumprod)
    assert schedule.alpha_bars(0)[2] == pytest.approx(expected[961], rel=1e-5)


def test_other_diffusers_options_are_honoured() -> None:
    config = {"num_train_timesteps": 100, "beta_start": 1e-4, "beta_end": 0.02}
    linear = DDIMSchedule.from_scheduler_config(
        config
        | {"beta_schedule": "linear", "set_alpha_to_one": True, "timestep_spacing": "trailing"},
        10,
    )
    betas = np.linspace(1e-4, 0.02, 100)
    np.testing.assert_allclose(linear.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-5)
    assert linear.final_alpha_cumprod == 1.0
    assert linear.timesteps.tolist() == list(range(99, 0, -10))  # trailing: ends at T - 1


@pytest.mark.parametrize("steps", [0, 1001])
def test_impossible_step_counts_are_refused(steps: int) -> None:
    with pytest.raises(DiffMusicError, match="steps must be between 1 and 1000"):
        DDIMSchedule.from_scheduler_config(REFERENCE_CONFIG, steps)


@pytest.mark.parametrize("eta", [0.0, 0.6])
def test_ddim_step_equals_diffusers_step(eta: float) -> None:
    """Tweedie + ddim_step reproduce diffusers.DDIMScheduler.step (epsilon prediction)."""
    config = {k: v for k, v in REFERENCE_CONFIG.items() if not k.startswith("_")}
    scheduler = DDIMScheduler(**config)
    scheduler.set_timesteps(25)
    schedule = DDIMSchedule.from_scheduler_config(REFERENCE_CONFIG, 25)
    generator = torch.Generator().manual_seed(0)
    for index in (0, 12, 24):
        z_t, eps, noise = (torch.randn(2, 8, 10, 4, generator=generator) for _ in range(3))
        t, abar_t, abar_prev = schedule.alpha_bars(index)
        expected = scheduler.step(eps, t, z_t, eta=eta, variance_noise=noise).prev_sample
        ours = ddim_step(tweedie(z_t, eps, abar_t), eps, abar_t, abar_prev, eta, noise)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
