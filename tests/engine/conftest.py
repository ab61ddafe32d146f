"""Fixtures of the engine's tests: a short clip on disk, a backend that marks what it fills."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from diffmusic_engine.api import BACKENDS, Restoration
from diffmusic_engine.damage import gap_samples

SR = 22050


@pytest.fixture
def clip(tmp_path):
    """1 s of a 330 Hz tone, stereo, 16-bit WAV at 22.05 kHz."""
    path = tmp_path / "clip.wav"
    t = np.arange(SR) / SR
    sf.write(path, np.stack([np.sin(2 * np.pi * 330 * t)] * 2).T * 0.3, SR, subtype="PCM_16")
    return path


def marking_backend(audio, sample_rate, damage, *, options, callback) -> Restoration:
    """Marks each gap it is asked to fill with 1.0, on every channel (the engine keeps the
    channels it does not fill, so a 1.0 shows where it asked)."""
    out = audio.copy()
    for gap in damage.gaps:
        first, stop = gap_samples(gap, sample_rate)
        out[:, first:stop] = 1.0
    return Restoration((out,), sample_rate)


@pytest.fixture
def marking(monkeypatch) -> str:
    """The backend name of :func:`marking_backend`, registered for the test."""
    monkeypatch.setitem(BACKENDS, "marking", f"{__name__}:marking_backend")
    return "marking"
