"""Shared constants and helpers of the batch tests (imported by name: tests are not a package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

# name -> (sample rate, channels, seconds, bit depth): rates, lengths and channel counts differ.
FILES = {
    "a.wav": (44100, 2, 2.0, 16),
    "b.flac": (22050, 1, 1.5, 24),
    "sub/c.wav": (48000, 2, 2.5, 32),
}

CHAIN_TOML = """
_doc = "test chain: plugins around two restoration steps (dsp backend)"

[[steps]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 30

[[steps]]
_doc = "look-ahead limiter: reports latency, which the batch must compensate"
plugin = "BrickwallLimiter"
ceiling_db = -12

[[steps]]
restore = "inpaint"
gaps = ["0.50:0.52", "1.30:1.33"]
backend = "dsp"

[[steps]]
restore = "super-resolution"
cutoff = 4000
backend = "dsp"
chunk_seconds = 1.0
overlap_seconds = 0.2

[[steps]]
plugin = "Gain"
gain_db = -1.5
"""


def write(path: Path, audio: np.ndarray, sample_rate: int, bit_depth: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(path), "w", sample_rate, audio.shape[0], bit_depth=bit_depth) as f:
        f.write(audio)
    return path
