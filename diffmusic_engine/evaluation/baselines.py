"""The simple answers every restoration must beat, one function per task.

Each takes the damaged audio ``(channels, samples)`` and returns an estimate of the same shape
(separation: one estimate per source).
"""

from __future__ import annotations

import numpy as np
from librosa.util import fix_length

from diffmusic_engine.damage import Gap, gap_samples
from diffmusic_engine.rates import resample


def linear_interpolation(
    damaged: np.ndarray, gaps: tuple[Gap, ...], sample_rate: int
) -> np.ndarray:
    """Each gap bridged by a straight line between the samples on either side."""
    out = damaged.copy()
    for gap in gaps:
        first, stop = gap_samples(gap, sample_rate)
        left, right = max(first - 1, 0), min(stop, damaged.shape[1] - 1)
        ramp = np.linspace(0.0, 1.0, stop - first + 2)[1:-1]
        out[:, first:stop] = damaged[:, [left]] * (1 - ramp) + damaged[:, [right]] * ramp
    return out


def plain_resampling(damaged: np.ndarray, cutoff: float, sample_rate: int) -> np.ndarray:
    """Down to twice the cutoff and back up with soxr: what a resampler alone gives."""
    low_rate = int(2 * cutoff)
    back = resample(resample(damaged, sample_rate, low_rate), low_rate, sample_rate)
    return fix_length(back, size=damaged.shape[1])


def plain_griffin_lim(audio: np.ndarray, n_fft: int, hop: int, iterations: int = 32) -> np.ndarray:
    """librosa's Griffin-Lim from a random phase (seeded), on the magnitude of ``audio``."""
    import librosa

    magnitude = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop))
    out = librosa.griffinlim(
        magnitude, n_iter=iterations, hop_length=hop, n_fft=n_fft, length=audio.shape[1],
        random_state=0,
    )  # fmt: skip
    return out.astype(np.float32)


def mixture_as_sources(damaged: np.ndarray, sources: int) -> list[np.ndarray]:
    """Every source estimated as the mix itself (consistent: the weights sum to 1)."""
    return [damaged.copy() for _ in range(sources)]
