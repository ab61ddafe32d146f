"""Helpers shared by the journal tests (a uniquely named module, importable from tests)."""

from __future__ import annotations

import numpy as np


class FakeClock:
    """A wall clock that only moves when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def job_audio(seed: int, channels: int = 2, samples: int = 4800) -> np.ndarray:
    """Deterministic float32 audio with values that only a bit-exact store keeps: -0.0,
    subnormals, a quiet NaN with a payload and the extremes of float32."""
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1.0, 1.0, (channels, samples)).astype(np.float32)
    bits = audio.reshape(-1).view(np.uint32)
    bits[:4] = [0x80000000, 0x00000001, 0x7FC01234, 0x7F7FFFFF]  # -0.0, subnormal, NaN, max
    return audio


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and a.shape == b.shape and a.tobytes() == b.tobytes()
