"""Band limit: the frequency above which the recording is empty (an MP3 or a low-rate source)."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.band_limit import cutoff_of, long_term_level
from diffmusic_engine.silence import silent_samples

# A cutoff this close to Nyquist is no band limit: the recording uses its whole band.
FULL_BAND = 0.95
# A codec or a resampler stops the spectrum at a wall; an instrument dark by nature (an electric
# guitar through its cabinet) fades out. The band limit is damage only where the level falls by
# WALL_DB or more from the WALL_OCTAVES below the cutoff to those above it: 70-110 dB for
# low-passes, resampling and MP3s of real stems, 7-18 dB over a guitar stem's own roll-off
# (docs/results.md, "Band limits that are not damage").
WALL_DB = 25.0
WALL_OCTAVES = 1 / 6
MIN_SAMPLES = 256  # fewer samples hold too few frequency bins to tell a wall from a slope


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """``{"cutoff_hz": Hz}`` where content stops at a wall, or ``{"cutoff_hz": None}`` for full
    band or a gradual roll-off."""
    cutoff = band_limit(audio, sample_rate)
    return {"cutoff_hz": None if cutoff is None else round(cutoff)}


def band_limit(audio: np.ndarray, sample_rate: int) -> float | None:
    """The frequency (Hz) above which the recording's content was cut off, or ``None`` when it
    uses its whole band or fades out by nature: the one rule for ``cutoff="auto"``."""
    if audio.shape[-1] < MIN_SAMPLES:
        return None  # too short to show a spectrum: no band limit to find
    silent = silent_samples(audio, sample_rate).any(axis=0)  # dropouts: left out
    freqs, level = long_term_level(audio, sample_rate, silent)  # one spectrum for cutoff and wall
    cutoff = cutoff_of(freqs, level, sample_rate)
    full = cutoff >= FULL_BAND * sample_rate / 2
    if full or wall_db(freqs, level, cutoff) < WALL_DB:
        return None
    return float(cutoff)


def wall_db(freqs: np.ndarray, level: np.ndarray, cutoff: float) -> float:
    """How far the long-term ``level`` (dB at ``freqs``) falls across ``cutoff``: its mean over
    the WALL_OCTAVES below minus its mean over those above (up to Nyquist), dB."""
    step = 2.0**WALL_OCTAVES
    below = level[(freqs >= cutoff / step) & (freqs < cutoff)]
    above = level[(freqs > cutoff) & (freqs <= cutoff * step)]
    if below.size == 0 or above.size == 0:
        return float("inf")  # too close to 0 Hz or Nyquist to compare: trust the cutoff
    return float(below.mean() - above.mean())
