"""Fixtures of the CLI tests: a short clip on disk."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

SR = 22050


@pytest.fixture
def clip(tmp_path):
    """1 s of a 330 Hz tone, stereo, 16-bit WAV at 22.05 kHz."""
    path = tmp_path / "clip.wav"
    t = np.arange(SR) / SR
    sf.write(path, np.stack([np.sin(2 * np.pi * 330 * t)] * 2).T * 0.3, SR, subtype="PCM_16")
    return path
