"""Samplers over a DDIM schedule: IRS (DiffMusic's Algorithm 1), DPS, DSG and unguided DDIM.

>>> schedule = DDIMSchedule.from_scheduler_config(adapter.scheduler_config, steps=200)
>>> result = sample("irs", eps_theta, loss, schedule, (1, 8, 125, 16), gamma=0.5, seed=0)
>>> result.latents, result.losses, result.skipped_steps
"""

from diffmusic_engine.samplers.ddim import ddim_step, guidance_gradient, tweedie
from diffmusic_engine.samplers.loop import DEFAULT_ETA, SAMPLERS, sample
from diffmusic_engine.samplers.schedule import DDIMSchedule
from diffmusic_engine.samplers.types import GuidanceLoss, NoisePredictor, SampleResult

__all__ = [
    "DEFAULT_ETA",
    "SAMPLERS",
    "DDIMSchedule",
    "GuidanceLoss",
    "NoisePredictor",
    "SampleResult",
    "ddim_step",
    "guidance_gradient",
    "sample",
    "tweedie",
]
