"""Fixtures of the engine's tests: a short clip on disk, a backend that marks what it fills."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from diffmusic_engine.api import BACKENDS

SR = 22050


@pytest.fixture
def clip(tmp_path):
    """1 s of a 330 Hz tone, stereo, 16-bit WAV at 22.05 kHz."""
    path = tmp_path / "clip.wav"
    t = np.arange(SR) / SR
    sf.write(path, np.stack([np.sin(2 * np.pi * 330 * t)] * 2).T * 0.3, SR, subtype="PCM_16")
    return path


@pytest.fixture
def marking(monkeypatch) -> str:
    """The backend name of ``engine_helpers.marking_backend``, registered for the test."""
    # by a module name of its own: "conftest" is each test folder's, whichever came last
    monkeypatch.setitem(BACKENDS, "marking", "engine_helpers:marking_backend")
    return "marking"
