"""Simulated rooms for measuring blind room estimation and dereverberation.

A room here is its impulse response: a unit direct path, then per octave band Gaussian noise
decaying 60 dB in that band's RT60 (Polack's statistical model of the diffuse tail), summed, with
the tail's energy set for the direct-to-reverberant ratio. Each channel draws its own tail (a
stereo pair's reverberation is uncorrelated) and shares the direct path. pyroomacoustics' image
method (:func:`image_source_rir`: discrete reflections off the walls of a shoebox room, no
statistical model) is the check on rooms the estimator was not fitted on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from diffmusic_engine.impulse_response import TAIL_ONSET_S
from diffmusic_engine.room import TOP_BAND_SHARE

# A hall's typical shape: RT60 per octave band as a multiple of its mid-band RT60.
HALL_SHAPE = {125: 1.25, 250: 1.1, 500: 1.0, 1000: 1.0, 2000: 0.9, 4000: 0.8, 8000: 0.65}


def hall_bands(rt60: float) -> dict[int, float]:
    """Octave-band RT60s of a hall whose mid-band RT60 is ``rt60``."""
    return {band: rt60 * factor for band, factor in HALL_SHAPE.items()}


def band_rir(
    rt60_bands: Mapping[int, float],
    drr_db: float,
    sample_rate: int,
    *,
    channels: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """``(channels, L)`` impulse responses: direct path 1 at sample 0, diffuse tail after."""
    rng = np.random.default_rng(seed)
    length = int(1.3 * max(rt60_bands.values()) * sample_rate)
    t = np.arange(length) / sample_rate
    onset, ramp = int(TAIL_ONSET_S * sample_rate), int(0.01 * sample_rate)
    irs = np.zeros((channels, length))
    for channel in range(channels):
        tail = np.zeros(length)
        for centre, rt60 in rt60_bands.items():
            high = min(centre * np.sqrt(2), TOP_BAND_SHARE * sample_rate)
            if centre / np.sqrt(2) >= high:
                continue
            sos = butter(4, [centre / np.sqrt(2), high], "bandpass", fs=sample_rate, output="sos")
            tail += sosfilt(sos, rng.standard_normal(length)) * 10 ** (-3 * t / rt60)
        tail[:onset] = 0.0
        tail[onset : onset + ramp] *= np.linspace(0.0, 1.0, ramp)  # the reflections build up
        irs[channel] = tail / np.sqrt(np.sum(tail**2)) * 10 ** (-drr_db / 20)
        irs[channel, 0] = 1.0
    return irs.astype(np.float32)


def reverberate(audio: np.ndarray, impulse_responses: np.ndarray) -> np.ndarray:
    """Each channel of ``audio`` convolved with its impulse response (``(channels, L)``; or
    ``(1, L)``: one response, a mono measurement, for every channel), truncated to its length."""
    n = audio.shape[-1]
    responses = np.broadcast_to(impulse_responses, (audio.shape[0], impulse_responses.shape[-1]))
    wet = [fftconvolve(channel, ir)[:n] for channel, ir in zip(audio, responses, strict=True)]
    return np.stack(wet).astype(np.float32)


def two_slope_rir(
    rt60_bands: Mapping[int, float],
    drr_db: float,
    sample_rate: int,
    *,
    channels: int = 2,
    seed: int = 0,
    fast: float = 0.4,
    drop_db: float = 15.0,
) -> np.ndarray:
    """A room that is not one exponential: discrete early reflections (5-80 ms), then a fast
    decay (``fast`` x each band's RT60) over a slow one ``drop_db`` below it (coupled volumes, a
    hall with a stage house; ``fast=1``: one decay after the reflections). Its RT60 is what a
    measurement reads: :func:`t30` of the result."""
    rng = np.random.default_rng(seed)
    early = band_rir({b: fast * t for b, t in rt60_bands.items()}, 0.0, sample_rate,
                     channels=channels, seed=seed)  # fmt: skip
    slow = band_rir(rt60_bands, 0.0, sample_rate, channels=channels, seed=seed + 1)
    irs = 10 ** (-drop_db / 20) * slow
    irs[:, : early.shape[-1]] += early
    delays = (rng.uniform(0.005, 0.08, 12) * sample_rate).astype(int)
    irs[:, delays] += rng.choice([-1, 1], (channels, 12)) * rng.uniform(0.05, 0.25, 12)
    irs[:, 0] = 0.0
    irs /= np.sqrt(np.sum(irs**2, axis=-1, keepdims=True)) * 10 ** (drr_db / 20)
    irs[:, 0] = 1.0
    return irs.astype(np.float32)


def t30(impulse_response: np.ndarray, sample_rate: int, centre: float) -> float:
    """ISO 3382 T30 of the octave band at ``centre``: the Schroeder decay's slope from -5 to
    -35 dB, extrapolated to 60 dB (mean over channels)."""
    sos = butter(4, [centre / np.sqrt(2), centre * np.sqrt(2)], "bandpass", fs=sample_rate,
                 output="sos")  # fmt: skip
    found = []
    for ir in np.atleast_2d(impulse_response):
        energy = np.cumsum(sosfilt(sos, ir.astype(np.float64)[1:])[::-1] ** 2)[::-1]
        level = 10 * np.log10(energy / energy[0] + 1e-30)
        span = (level <= -5) & (level >= -35)
        slope = np.polyfit(np.flatnonzero(span) / sample_rate, level[span], 1)[0]
        found.append(-60 / slope)
    return float(np.mean(found))


def image_source_rir(
    rt60: float,
    size: tuple[float, float, float],
    source: tuple[float, float, float],
    microphone: tuple[float, float, float],
    sample_rate: int,
    *,
    max_order: int | None = None,
) -> np.ndarray:
    """``(L,)`` impulse response of a shoebox room of ``size`` (m) by the image method
    (pyroomacoustics), its walls' absorption set by Sabine's formula for ``rt60``; it starts at
    the direct path, which has unit gain, and lasts 1.2 x ``rt60``. ``max_order``: reflections
    up to this order only (default: the order Sabine's formula asks for; fewer cut the tail)."""
    import pyroomacoustics as pra

    absorption, order = pra.inverse_sabine(rt60, list(size))
    # deterministic image sources (pyroomacoustics' randomised variant draws unseeded)
    room = pra.ShoeBox(
        list(size), fs=sample_rate, materials=pra.Material(absorption),
        max_order=order if max_order is None else min(order, max_order),
    )  # fmt: skip
    room.add_source(list(source))
    room.add_microphone(list(microphone))
    room.compute_rir()
    ir = np.asarray(room.rir[0][0], dtype=np.float64)
    ir = ir[int(np.argmax(np.abs(ir))) :]  # start at the direct path: no pre-delay
    ir = ir[: int(1.2 * rt60 * sample_rate)]
    return (ir / ir[0]).astype(np.float32)
