"""The DDIM noise schedule: abar_t over the training timesteps and the inference timesteps.

The numbers come from :class:`diffusers.DDIMScheduler` (its beta schedules and timestep spacings are
the rules the pretrained checkpoints were trained and published with); the sampling update itself
is written by hand in :mod:`diffmusic_engine.samplers.ddim`, so that guidance can act between
its parts.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from diffmusic_engine.errors import DiffMusicError


@dataclass(frozen=True)
class DDIMSchedule:
    """A DDIM schedule with ``len(timesteps)`` inference steps.

    ``alphas_cumprod[t]`` is abar_t (float64) for every training timestep t; ``timesteps`` are the
    inference timesteps, descending; ``final_alpha_cumprod`` is the abar used after the last step
    (1.0 with diffusers' ``set_alpha_to_one``, else abar_0).
    """

    alphas_cumprod: torch.Tensor
    timesteps: torch.Tensor
    final_alpha_cumprod: float

    @classmethod
    def from_scheduler_config(cls, config: Mapping, steps: int) -> DDIMSchedule:
        """The schedule a diffusers scheduler with ``config`` would run for ``steps`` steps.

        ``config`` is a diffusers scheduler config (``num_train_timesteps``, ``beta_start``,
        ``beta_end``, ``beta_schedule``, ``steps_offset``, ``set_alpha_to_one``,
        ``timestep_spacing``, ...); keys DDIM does not know (``_class_name``, other schedulers'
        options) are ignored. The noise predictor must return eps: an adapter for a
        v-prediction model converts its output before handing it to a sampler.
        """
        from diffusers import DDIMScheduler  # heavy import, only when a schedule is built

        known = inspect.signature(DDIMScheduler.__init__).parameters
        options = {key: value for key, value in config.items() if key in known}
        scheduler = DDIMScheduler(**options)
        train_steps = scheduler.config.num_train_timesteps
        if not 1 <= int(steps) <= train_steps:
            raise DiffMusicError(f"steps must be between 1 and {train_steps}, got {steps}")
        scheduler.set_timesteps(int(steps))
        return cls(
            alphas_cumprod=scheduler.alphas_cumprod.to(torch.float64),
            timesteps=scheduler.timesteps.to(torch.int64),
            final_alpha_cumprod=float(scheduler.final_alpha_cumprod),
        )

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def num_train_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def alpha_bar(self, timestep: int) -> float:
        """abar_t; a negative timestep (past the end of the chain) gives ``final_alpha_cumprod``."""
        return float(self.alphas_cumprod[timestep]) if timestep >= 0 else self.final_alpha_cumprod

    def previous_timestep(self, timestep: int) -> int:
        """The timestep a DDIM step from ``timestep`` lands on (diffusers' rule: t - T // steps)."""
        return int(timestep) - self.num_train_timesteps // len(self)

    def alpha_bars(self, index: int) -> tuple[int, float, float]:
        """(t, abar_t, abar_{t-1}) for the ``index``-th inference step (0 = the noisiest)."""
        t = int(self.timesteps[index])
        return t, self.alpha_bar(t), self.alpha_bar(self.previous_timestep(t))
