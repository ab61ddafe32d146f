"""Inpainting: ``T(x) = M * x`` with ``M`` zero inside each gap."""

from __future__ import annotations

import torch

from diffmusic_engine.damage import Gap, gap_samples
from diffmusic_engine.operators.base import Operator


class InpaintOperator(Operator):
    """Masks the gaps; the mask is built for whatever length it is applied to."""

    def __init__(self, gaps: tuple[Gap, ...], sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.gaps = gaps

    def mask(self, n_samples: int, device: torch.device | None = None) -> torch.Tensor:
        """1 where a sample is observed, 0 inside a gap."""
        mask = torch.ones(n_samples, device=device)
        for gap in self.gaps:
            first, stop = gap_samples(gap, self.sample_rate)
            mask[first:stop] = 0.0
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask(x.shape[-1], x.device).to(x.dtype)


class MaskOperator(Operator):
    """``T(x) = mask * x``, the mask broadcastable to ``x`` (e.g. one row per window)."""

    def __init__(self, mask: torch.Tensor, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.mask = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask.to(x.device, x.dtype)
