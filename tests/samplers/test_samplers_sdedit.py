"""SDEdit's start (samplers.sdedit): the step t0, the first latent and the number of steps run."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler

from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.models.testing import SCHEDULER
from diffmusic_engine.samplers import DDIMSchedule, sample, sdedit

STEPS, SHAPE = 10, (2, 3, 4)


class Recorder:
    """eps_theta = 0.1 z_t, recording every (z_t, t) it is called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, int]] = []

    def __call__(self, z_t: torch.Tensor, t: int) -> torch.Tensor:
        self.calls.append((z_t.clone(), int(t)))
        return 0.1 * z_t


@pytest.mark.parametrize(("strength", "expected"), [(0.5, 5), (0.3, 3), (1.0, 10), (0.01, 1)])
def test_the_chain_starts_at_t0_from_the_noised_guide(strength, expected) -> None:
    schedule = DDIMSchedule.from_scheduler_config(SCHEDULER, STEPS)
    # diffusers' own numbers: the last round(s * steps) of its timesteps, abar from its table
    reference = DDIMScheduler(**SCHEDULER)
    reference.set_timesteps(STEPS)
    t0 = int(reference.timesteps[STEPS - expected])
    abar_t0 = float(reference.alphas_cumprod[t0])
    z0_init = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))

    start, z_t0 = sdedit.perturb(z0_init, eps, schedule, strength)
    predictor = Recorder()
    sample("ddim", predictor, None, schedule, SHAPE, gamma=0.0, z_T=z_t0, start=start)

    assert len(predictor.calls) == expected == sdedit.steps_to_run(STEPS, strength)
    assert [t for _, t in predictor.calls] == reference.timesteps[STEPS - expected :].tolist()
    first = math.sqrt(abar_t0) * z0_init + math.sqrt(1 - abar_t0) * eps
    torch.testing.assert_close(predictor.calls[0][0], first, rtol=0, atol=1e-6)


def test_progress_counts_the_steps_run() -> None:
    schedule = DDIMSchedule.from_scheduler_config(SCHEDULER, STEPS)
    start, z_t0 = sdedit.perturb(torch.zeros(SHAPE), torch.ones(SHAPE), schedule, 0.4)
    seen = []
    sample("ddim", Recorder(), None, schedule, SHAPE, gamma=0.0, z_T=z_t0, start=start,
           callback=lambda p: seen.append((p.step, p.total)))  # fmt: skip
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5])
def test_a_strength_outside_0_1_is_refused(strength) -> None:
    with pytest.raises(DiffMusicError, match="strength"):
        sdedit.steps_to_run(STEPS, strength)


def test_a_start_without_z_t0_is_refused() -> None:
    schedule = DDIMSchedule.from_scheduler_config(SCHEDULER, STEPS)
    with pytest.raises(DiffMusicError, match="start 3 needs z_T"):
        sample("ddim", Recorder(), None, schedule, SHAPE, gamma=0.0, start=3)
