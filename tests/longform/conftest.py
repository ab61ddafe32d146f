"""Stand-ins for the model and the solver, for testing the long-form plumbing on its own.

The stand-in adapter has the adapter's shape attributes and nothing else (a strict stand-in:
any other call fails); the stand-in solve records every call and returns a derivable answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from diffmusic_engine.progress import Progress
from diffmusic_engine.synth import music_excerpt


class StandInAdapter:
    """Only what longform reads from a ModelAdapter: name, rate, window, device, latent shape."""

    name = "stand-in"
    sample_rate = 16000
    dtype = torch.float32

    def __init__(self, window_samples: int = 16000) -> None:
        self.window_samples = window_samples
        self.device = torch.device("cpu")

    def latent_shape(self, n_samples: int) -> tuple[int, ...]:
        return (2, math.ceil(n_samples / 640), 4)


@dataclass
class StandInSolve:
    """``solve`` that answers ``answer(operator, measurement, sources)`` and records each call."""

    mode: str = "identity"  # "identity": y itself; "constant": value everywhere
    value: float = 0.25
    steps: int = 3
    calls: list[dict] = field(default_factory=list)

    def __call__(self, adapter, operator, measurement, *, sources=1, z_T=None, callback=None,
                 **kwargs):  # fmt: skip
        assert measurement.ndim == 2 and measurement.shape[-1] <= adapter.window_samples
        assert z_T is not None and z_T.shape[0] == measurement.shape[0] * sources
        self.calls.append(
            {"operator": operator, "y": measurement.clone(), "z_T": z_T.clone(), **kwargs}
        )
        for step in range(1, self.steps + 1):
            if callback is not None:
                callback(Progress(step, self.steps, "stand-in"))
        out = (
            measurement.clone()
            if self.mode == "identity"
            else torch.full_like(measurement, self.value)
        )
        if sources > 1:
            out = out.unsqueeze(1).repeat(1, sources, 1)
        return out


@pytest.fixture
def adapter() -> StandInAdapter:
    return StandInAdapter()


@pytest.fixture
def stand_in() -> StandInSolve:
    return StandInSolve()


@pytest.fixture(scope="session")
def music_48k() -> np.ndarray:
    """4 s of stereo music at 48 kHz (float32, (2, 192000))."""
    return music_excerpt(duration=4.0, sample_rate=48000, channels=2, seed=3)


@pytest.fixture
def make_solve() -> type[StandInSolve]:
    """The stand-in solve class, for tests that need several or a non-identity one."""
    return StandInSolve


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random-weight AudioLDM2 folder (``save_pretrained``), loaded by the real loader."""
    from diffmusic_engine import diffusion
    from diffmusic_engine.models.testing import save_tiny_pipeline

    path = save_tiny_pipeline("audioldm2", tmp_path_factory.mktemp("longform") / "tiny", seed=0)
    yield str(path)
    diffusion.clear_models()
