"""SDEdit's start (Meng et al. 2022, "SDEdit: guided image synthesis and editing with SDEs").

Instead of sampling from pure noise z_T, start from a guide x^(g) (here: the dsp pattern fill of a
gap) perturbed to an intermediate timestep t0 and run the reverse chain from there:

    z0_init = E(x^(g))                                     the guide's latent
    t0      = the inference timestep where a fraction ``strength`` (SDEdit's t0 in (0, 1]) of
              the chain is left to run
    z_t0    = sqrt(abar_t0) z0_init + sqrt(1 - abar_t0) eps,   eps ~ N(0, I)
    z_0     = the DDIM chain (guided or not) from z_t0, the last ``steps_to_run`` steps only

``strength`` 1 is the plain sampler (z_T ~ N(0, I) up to abar_T > 0); small ``strength`` keeps more
of the guide and runs fewer steps.
"""

from __future__ import annotations

import math

import torch

from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.samplers.schedule import DDIMSchedule


def steps_to_run(steps: int, strength: float) -> int:
    """round(strength * steps), at least 1: the steps of a ``steps``-step schedule SDEdit runs."""
    if not 0.0 < strength <= 1.0:
        raise DiffMusicError(f"strength must lie in (0, 1], got {strength}")
    return min(steps, max(1, round(strength * steps)))


def start_index(schedule: DDIMSchedule, strength: float) -> int:
    """The index of t0 in ``schedule.timesteps`` (0 = the noisiest step)."""
    return len(schedule) - steps_to_run(len(schedule), strength)


def perturb(
    z0_init: torch.Tensor,
    eps: torch.Tensor,
    schedule: DDIMSchedule,
    strength: float,
) -> tuple[int, torch.Tensor]:
    """``(start, z_t0)``: the first step's index and z_t0 = sqrt(abar_t0) z0_init +
    sqrt(1 - abar_t0) eps, with t0 = ``schedule.timesteps[start]``."""
    if eps.shape != z0_init.shape:
        raise DiffMusicError(f"eps has shape {tuple(eps.shape)}, z0_init {tuple(z0_init.shape)}")
    start = start_index(schedule, strength)
    _, abar_t0, _ = schedule.alpha_bars(start)
    eps = eps.to(z0_init.device, z0_init.dtype)
    return start, math.sqrt(abar_t0) * z0_init + math.sqrt(1.0 - abar_t0) * eps
