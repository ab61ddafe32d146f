"""The callables and the result a sampler works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

NoisePredictor = Callable[[torch.Tensor, int], torch.Tensor]
"""eps_theta(z_t, t): the predicted noise, same shape as z_t. Always called under ``no_grad``."""

GuidanceLoss = Callable[[torch.Tensor], torch.Tensor]
"""z0 -> scalar: the sum over the batch of each item's measurement loss (z0 requires grad)."""


@dataclass
class SampleResult:
    """The final latents z_0, the guidance loss at each step (empty when unguided), and how many
    steps went unguided because the loss or its gradient was not finite."""

    latents: torch.Tensor
    losses: list[float] = field(default_factory=list)
    skipped_steps: int = 0
