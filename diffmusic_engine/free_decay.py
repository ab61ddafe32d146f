"""Free decays: the room's RT60 read where the level falls steadily (notes ending in a room).

When a source stops, a room's sound dies away exponentially: its level falls in a straight line
in dB, 60 dB per RT60. Lollmann et al. (2010) find such stretches (the energy falling from
subframe to subframe) and fit the decay model ``d(k) = a^k`` to them by maximum likelihood, with
the decay rate ``rho = 3 ln(10) / T60`` (``a = exp(-rho / fs)``); Eaton et al. (2016) and Prego
et al. (2015) read the room from the distribution of such decays. Here, in the octave bands of
T_mid (500 Hz, 1 kHz):

* the band's level ``L(t)`` (dB; 23 ms STFT frames 5.8 ms apart, summed over the band's bins and
  the channels, smoothed over 3 frames);
* windows of 0.1, 0.2, 0.4 and 0.8 s at every frame; one is a free decay when a least-squares
  line fits it (R^2 at least ``MIN_R2``: a deep fade of a tonal tail, falling and rising again,
  does not), falls at least ``MIN_FALL_DB`` along it and stays ``FLOOR_DB`` above the band's
  floor; its ``T60 = -60 / slope`` (the line in dB stands for Lollmann's ML fit of ``rho``);
* the estimate is a low quantile of the decays' T60s (``QUANTILE``): a room bounds how fast a
  level may fall, and a source's own slower decays (a piano note, a diminuendo) fill the upper
  part of the distribution; ``count`` (how many windows; overlapping, so not so many decays)
  is its own confidence, to be taken per second of sounding audio (it grows with the length).

Dense music holds few such windows (rock: under 15 a second; docs/results.md "Free-decay
fitting"); music whose notes end (drums and bass, a trumpet) holds tens a second, and there it
reads the room where the rock-fitted regression of :mod:`diffmusic_engine.room` does not. The
thresholds were chosen on the eight recordings of docs/results.md "Other kinds of music"
(in-sample there; held out: other excerpts of them, measured rooms, docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffmusic_engine.rates import fitted_frames
from diffmusic_engine.silence import silent_samples, sounding_frames

HOP_AT_44K1 = 256  # 5.8 ms hops, 23 ms windows (fitted_frames: the same durations at any rate)
SMOOTH_FRAMES = 3
WINDOWS_S = (0.1, 0.2, 0.4, 0.8)  # a 0.5 s room falls 12 dB in 0.1 s, a 2.5 s room in 0.5 s
MIN_FALL_DB = 12.0
MIN_R2 = 0.9
FLOOR_DB = 5.0  # above the band's 5th percentile sounding level: not a decay into noise
QUANTILE = 0.25


@dataclass(frozen=True)
class FreeDecays:
    """``rt60``: the RT60 (s) the free decays read; ``count``: how many windows held one."""

    rt60: float
    count: int


def free_decays(
    audio: np.ndarray,
    sample_rate: int,
    bands_hz: tuple[int, ...],
    *,
    silent: np.ndarray | None = None,
) -> FreeDecays | None:
    """The free decays of float ``(channels, samples)`` ``audio`` in the octave bands centred on
    ``bands_hz`` (the room estimate's T_mid: 500 Hz and 1 kHz), pooled; ``None``: none found.
    ``silent``: ``(samples,)`` True within dropouts and pauses (windows touching them are left
    out, and they are no floor); found here (``silent_samples`` on any channel) when not given.
    """
    import librosa

    audio = np.atleast_2d(np.asarray(audio, np.float64))
    if silent is None:
        silent = silent_samples(audio, sample_rate).any(axis=0)
    n_fft, hop = fitted_frames(sample_rate, HOP_AT_44K1)
    spectrum = librosa.stft(audio, n_fft=n_fft, hop_length=hop)
    power = (np.abs(spectrum) ** 2).reshape(-1, *spectrum.shape[-2:]).sum(axis=0)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    sounding = sounding_frames(silent, n_fft, hop, power.shape[-1])
    # the first and last frames reach into the STFT's zero padding (a fall that is no room's),
    # and the smoothing's zero padding beyond them
    edge = n_fft // (2 * hop) + SMOOTH_FRAMES // 2
    sounding[:edge] = sounding[-edge:] = False
    if not sounding.any():
        return None
    frame_s = hop / sample_rate
    t60s = []
    for centre in bands_hz:
        inside = (freqs >= centre / np.sqrt(2)) & (freqs < centre * np.sqrt(2))
        level = 10 * np.log10(power[inside].sum(axis=0) + 1e-12)
        smooth = np.convolve(level, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="same")
        floor = np.percentile(level[sounding], 5) + FLOOR_DB  # a dropout's silence is no floor
        for window_s in WINDOWS_S:
            width = max(4, round(window_s / frame_s))
            t60s.append(_window_decays(smooth, sounding, floor, width, frame_s))
    found = np.concatenate(t60s)
    if found.size == 0:
        return None
    return FreeDecays(float(np.quantile(found, QUANTILE)), int(found.size))


def _window_decays(
    level: np.ndarray, sounding: np.ndarray, floor: float, width: int, frame_s: float
) -> np.ndarray:
    """T60 (s) of every ``width``-frame window of the smoothed ``level`` (dB) that is a free
    decay: all ``sounding``, a line, falling ``MIN_FALL_DB`` and staying above ``floor``."""
    if len(level) < width:
        return np.array([])
    windows = np.lib.stride_tricks.sliding_window_view(level, width)
    centred = windows - windows.mean(axis=1, keepdims=True)
    t = (np.arange(width) - (width - 1) / 2) * frame_s
    slope = centred @ t / (t @ t)  # dB/s: -60 / T60 (Lollmann's rho x 20 / ln 10)
    residual = np.sum((centred - slope[:, None] * t) ** 2, axis=1)
    r2 = 1 - residual / np.maximum(np.sum(centred**2, axis=1), 1e-9)
    whole = np.lib.stride_tricks.sliding_window_view(sounding, width).all(axis=1)
    decay = (slope * (t[-1] - t[0]) < -MIN_FALL_DB) & (r2 > MIN_R2) & (windows.min(1) > floor)
    return -60.0 / slope[decay & whole]
