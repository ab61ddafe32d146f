"""A band limit: the low-pass that makes one, and the long-term spectrum that shows one.

No torch: the damage report's band-limit rule (:func:`diffmusic_engine.diagnose.bandwidth.
band_limit`, which ``--cutoff auto`` takes) reads :func:`long_term_level` and :func:`cutoff_of`;
the dsp bandwidth extension uses :func:`lowpass_response` and ``TRANSITION``, as the forward
model :class:`~diffmusic_engine.operators.super_resolution.LowPassOperator` does.
"""

from __future__ import annotations

import numpy as np

TRANSITION = 0.03  # raised-cosine roll-off width below the cutoff, as a fraction of the cutoff


def lowpass_response(n_samples: int, sample_rate: int, cutoff: float) -> np.ndarray:
    """The real rfft-bin gains of the low-pass: 1 below, 0 from ``cutoff`` up, cosine between."""
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sample_rate)
    start = cutoff * (1 - TRANSITION)
    ramp = np.clip((freqs - start) / (cutoff - start), 0.0, 1.0)
    return (0.5 * (1 + np.cos(np.pi * ramp))).astype(np.float32)


# Content ends where the long-term level is this far under the band below (cutoff_of).
CUTOFF_DROP_DB = 40.0


def long_term_level(
    audio: np.ndarray, sample_rate: int, leave_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The long-term spectrum of ``audio``: frequencies (Hz) and level (dB), Welch over 4096
    samples (the whole clip if shorter), channels averaged, smoothed over 5 bins (54 Hz at
    44.1 kHz). ``leave_out`` (per sample): segments touching these are left out, unless that
    leaves none (a dropout's abrupt edges are broadband: a mix low-passed at 8 kHz with three
    dropouts read no band limit)."""
    from scipy.ndimage import uniform_filter1d

    audio = np.asarray(audio)
    segment = min(4096, audio.shape[-1])  # scipy would shorten it too, with a warning on stderr
    hop = segment - segment // 2
    # Welch's average (scipy.signal.welch's defaults), of the segments kept
    freqs, kept_sum, kept, every_sum, count = _segment_power_sums(
        audio, sample_rate, segment, hop, leave_out
    )
    power = kept_sum / kept if kept else every_sum / count
    level = 10 * np.log10(power.reshape(-1, power.shape[-1]).mean(axis=0) + 1e-20)
    return freqs, uniform_filter1d(level, size=5)


# Segments whose spectra are taken at a time: scipy's spectrogram of a whole 3.7-minute stereo mix
# made three temporaries of 300 MB (the segments, detrended, windowed), 1.84 s; 64 at a time the
# same numbers (each segment's are its own) in 0.52 s. Only their sums are kept: every segment's
# power, and a float64 copy of the audio, had held 850 MB of a 10-minute stereo file's diagnosis.
CHUNK_SEGMENTS = 64


def _segment_power_sums(
    audio: np.ndarray,
    sample_rate: int,
    segment: int,
    hop: int,
    leave_out: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Frequencies (Hz), then the ``(..., frequencies)`` sums of the power spectra (Hann, mean
    removed: ``scipy.signal.spectrogram``'s) of ``audio``'s ``segment``-sample segments ``hop``
    apart that touch no ``leave_out`` sample and their count, then the sums and count of every
    segment; :data:`CHUNK_SEGMENTS` segments at a time."""
    from scipy.signal import spectrogram

    count = (audio.shape[-1] - segment) // hop + 1
    kept_sum = every_sum = 0.0
    kept = 0
    leave_out = leave_out if leave_out is not None and leave_out.any() else None
    for first in range(0, count, CHUNK_SEGMENTS):
        last = min(count, first + CHUNK_SEGMENTS) - 1
        chunk = np.asarray(audio[..., first * hop : last * hop + segment], np.float64)
        freqs, _, power = spectrogram(chunk, fs=sample_rate, window="hann", nperseg=segment,
                                      noverlap=segment - hop, axis=-1)  # fmt: skip
        every_sum = every_sum + power.sum(axis=-1)
        if leave_out is not None:
            clear = [
                not leave_out[k * hop : k * hop + segment].any() for k in range(first, last + 1)
            ]
            power = power[..., clear]
        kept_sum, kept = kept_sum + power.sum(axis=-1), kept + power.shape[-1]
    return freqs, kept_sum, kept, every_sum, count


def cutoff_of(
    freqs: np.ndarray, level: np.ndarray, sample_rate: int, *, drop_db: float = CUTOFF_DROP_DB
) -> float:
    """The highest frequency whose long-term ``level`` (dB at ``freqs``) is within ``drop_db``
    of the 95th-percentile level of the band below it. Full-band audio returns Nyquist."""
    reference = np.percentile(level[(freqs > 100) & (freqs < sample_rate / 4)], 95)
    above = np.nonzero(level > reference - drop_db)[0]
    if above.size == 0:
        return sample_rate / 2
    last = above[-1]
    return float(sample_rate / 2 if last >= len(freqs) - 2 else freqs[last + 1])
