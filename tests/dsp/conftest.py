"""Shared audio for the dsp backend's tests: excerpts rendered by ``diffmusic_engine.synth``."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine.progress import Progress
from diffmusic_engine.synth import music_excerpt, music_stems

SR = 44100


@pytest.fixture(scope="session")
def excerpt() -> np.ndarray:
    """2 s of stereo music at 44.1 kHz (drums, bass, keys, lead)."""
    return music_excerpt(2.0, SR, channels=2, seed=0)


@pytest.fixture(scope="session")
def stems() -> dict[str, np.ndarray]:
    return music_stems(2.0, SR, channels=2, seed=0)


@pytest.fixture
def recorder() -> type[Recorder]:
    """The :class:`Recorder` class: ``recorder(cancel_at=2)`` makes a callback."""
    return Recorder


class Recorder:
    """A progress callback that keeps every report and can cancel at report ``cancel_at``."""

    def __init__(self, cancel_at: int | None = None) -> None:
        self.reports: list[Progress] = []
        self.cancel_at = cancel_at

    def __call__(self, progress: Progress) -> None:
        from diffmusic_engine.errors import Cancelled

        self.reports.append(progress)
        if self.cancel_at is not None and len(self.reports) >= self.cancel_at:
            raise Cancelled("cancelled by the test")

    @property
    def fractions(self) -> list[float]:
        return [p.fraction for p in self.reports]
