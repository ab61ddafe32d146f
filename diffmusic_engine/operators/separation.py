"""Source separation: ``T(x) = sum_i w_i x_i`` over the source axis (second to last)."""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.operators.base import Operator


class MixOperator(Operator):
    """Weighted sum of sources ``x`` shaped ``(..., sources, samples)`` -> ``(..., samples)``."""

    def __init__(self, weights: tuple[float, ...], sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.weights = tuple(float(w) for w in weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} sources on axis -2, got {x.shape}")
        weights = torch.tensor(self.weights, dtype=x.dtype, device=x.device)
        return torch.einsum("...nt,n->...t", x, weights)

    def degrade(self, clean: np.ndarray) -> np.ndarray:
        """The mix of ``clean`` sources shaped ``(sources, channels, samples)``."""
        sources = torch.from_numpy(np.asarray(clean, np.float32))
        with torch.no_grad():
            return self.forward(sources.movedim(0, -2)).numpy()
