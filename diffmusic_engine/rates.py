"""Sample rates: sizes chosen at 44.1 kHz carried to any rate, and resampling (soxr).

A window, hop or model order tuned at 44.1 kHz means a duration; these keep it at the audio's
own rate, so a rule sized in samples keeps about its duration at 32, 44.1, 48 or 96 kHz.
"""

from __future__ import annotations

import numpy as np


def samples_at(sample_rate: float, samples_at_44k1: int) -> int:
    """The power of two nearest (in log) to ``samples_at_44k1`` samples of 44.1 kHz audio, at
    ``sample_rate``: an FFT size or hop that keeps about its duration at every rate (within
    a factor of 1.41: 2048 is 46 ms at 44.1 kHz, 43 ms at 48 kHz, 64 ms at 32 kHz)."""
    return int(2 ** round(np.log2(samples_at_44k1 * sample_rate / 44100)))


def order_at(sample_rate: float, order_at_44k1: int) -> int:
    """An autoregressive model's order (samples it looks back) chosen at 44.1 kHz, at
    ``sample_rate``: the same time span, and at least 2."""
    return max(2, round(order_at_44k1 * sample_rate / 44100))


def fitted_frames(sample_rate: float, hop_at_44k1: int) -> tuple[int, int]:
    """The STFT size and hop at ``sample_rate`` of frames fitted at 44.1 kHz (``hop_at_44k1``
    samples, windows 4 hops long): the same durations at every rate, to the sample. What a
    model fitted on statistics of frames needs (its frame counts, lags and level changes per
    frame mean the same time); :func:`samples_at`'s power of two would shift them by up to
    1.41x (at 32 kHz two of the room estimator's lags fell on one frame)."""
    hop = max(1, round(hop_at_44k1 * sample_rate / 44100))
    return 4 * hop, hop


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling of ``(channels, samples)`` with soxr (VHQ)."""
    if from_rate == to_rate:
        return audio
    import soxr

    return np.ascontiguousarray(
        soxr.resample(audio.T, from_rate, to_rate, quality="VHQ").T, dtype=np.float32
    )
