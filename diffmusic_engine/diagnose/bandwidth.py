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
# Above this share of Nyquist a fall is a digital filter's zero at Nyquist (an EQ's low-pass,
# bilinear), not a wall (wall_above)
WALL_ABOVE_TOP = 0.85
MIN_SAMPLES = 256  # fewer samples hold too few frequency bins to tell a wall from a slope


def detect(audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """``{"cutoff_hz": Hz}`` where content stops at a wall, or ``{"cutoff_hz": None}`` for full
    band or a gradual roll-off; ``"too_dark": True`` beside a cutoff whose band below holds too
    little for the dsp extension to rebuild from (it declines: dsp.super_resolution)."""
    spectrum = _spectrum(audio, sample_rate)
    cutoff = None if spectrum is None else limit_in(*spectrum, sample_rate)
    if cutoff is None:
        return {"cutoff_hz": None}
    from diffmusic_engine.dsp.super_resolution import rebuilt_level_db, top_of_spectrum

    dark = rebuilt_level_db(top_of_spectrum(*spectrum, cutoff)) is None  # the one spectrum
    return {"cutoff_hz": round(cutoff), **({"too_dark": True} if dark else {})}


def band_limit(audio: np.ndarray, sample_rate: int) -> float | None:
    """The frequency (Hz) above which the recording's content was cut off, or ``None`` when it
    uses its whole band or fades out by nature: the one rule for ``cutoff="auto"``."""
    spectrum = _spectrum(audio, sample_rate)
    return None if spectrum is None else limit_in(*spectrum, sample_rate)


def _spectrum(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The long-term spectrum the rule reads, dropouts left out; ``None`` for audio too short
    to show one (no band limit to find)."""
    if audio.shape[-1] < MIN_SAMPLES:
        return None
    silent = silent_samples(audio, sample_rate).any(axis=0)  # dropouts: left out
    return long_term_level(audio, sample_rate, silent)


def limit_in(freqs: np.ndarray, level: np.ndarray, sample_rate: int) -> float | None:
    """:func:`band_limit` of a long-term spectrum (``level`` dB at ``freqs``): one spectrum for
    the cutoff, its wall, and (``detect``) the top below it."""
    cutoff = cutoff_of(freqs, level, sample_rate)
    if cutoff < FULL_BAND * sample_rate / 2 and wall_db(freqs, level, cutoff) < WALL_DB:
        cutoff = wall_above(freqs, level, cutoff, sample_rate)  # dark music, cut higher up
    full = cutoff >= FULL_BAND * sample_rate / 2
    if full or wall_db(freqs, level, cutoff) < WALL_DB:
        return None
    return float(cutoff)


def wall_above(freqs: np.ndarray, level: np.ndarray, cutoff: float, sample_rate: int) -> float:
    """Where the level falls the most (:func:`wall_db`) above ``cutoff``, up to WALL_ABOVE_TOP
    of Nyquist; Nyquist where it falls nowhere by WALL_DB. Dark music falls 40 dB under its body
    (:func:`cutoff_of`'s rule) below the wall a resampler left higher up: a piano recording
    resampled to 22.05 kHz read 7 kHz there, fading 5 dB, over a wall of 78 dB at 10.7 kHz.
    On the 14 real recordings it finds their codec walls at 16.5-18.3 kHz (the eight OGG-born
    mixes but drumbass and vibeace, two guitar stems), which super-resolution declines as
    too dark or too high, as it declines the low-passes and resamplings of them a user trial
    made (8.9-12.3 kHz), now for that reason and not "no band limit"."""
    candidates = freqs[(freqs > cutoff) & (freqs < WALL_ABOVE_TOP * sample_rate / 2)]
    falls = [wall_db(freqs, level, f) for f in candidates]
    if not falls or max(falls) < WALL_DB:
        return sample_rate / 2
    return float(candidates[int(np.argmax(falls))])


def wall_db(freqs: np.ndarray, level: np.ndarray, cutoff: float) -> float:
    """How far the long-term ``level`` (dB at ``freqs``) falls across ``cutoff``: its mean over
    the WALL_OCTAVES below minus its mean over those above (up to Nyquist), dB."""
    step = 2.0**WALL_OCTAVES
    below = level[(freqs >= cutoff / step) & (freqs < cutoff)]
    above = level[(freqs > cutoff) & (freqs <= cutoff * step)]
    if below.size == 0 or above.size == 0:
        return float("inf")  # too close to 0 Hz or Nyquist to compare: trust the cutoff
    return float(below.mean() - above.mean())
