"""Band merge: the model's band below the crossover, the rest from where it is best known.

The models produce 16 kHz audio; after soxr's round trip it is flat to about 7.4 kHz, so the
crossover is 90 % of the model's Nyquist (7.2 kHz). The bands are split with one zero-phase FFT
low-pass (the super-resolution operator's own response) and its complement, so two sources that
agree give that signal back exactly. What fills the band above depends on the task (see
``pipeline``): the input where it holds that band intact, else the dsp backend's restoration.
"""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.band_limit import lowpass_response
from diffmusic_engine.damage import Damage
from diffmusic_engine.errors import DamageError
from diffmusic_engine.operators import istft, stft

CROSSOVER = 0.9  # fraction of the model's Nyquist kept from the model
SPLIT_FFT, SPLIT_HOP = 2048, 512  # STFT used to share a mix's top band among sources
TILT_FFT = 4096  # frames the tilt of the music around a gap is read over (93 ms at 44.1 kHz)


def crossover_frequency(model_rate: int) -> float:
    """Where the model's band ends and the merged-in band starts, in Hz."""
    return CROSSOVER * model_rate / 2


def lowpass(audio: np.ndarray, sample_rate: int, cutoff: float) -> np.ndarray:
    """Zero-phase low-pass of ``(..., n)`` at ``cutoff`` Hz (identity at or above Nyquist)."""
    if cutoff >= sample_rate / 2:
        return np.asarray(audio, np.float32)
    n = audio.shape[-1]
    gain = lowpass_response(n, sample_rate, cutoff)
    return np.fft.irfft(np.fft.rfft(audio, axis=-1) * gain, n=n, axis=-1).astype(np.float32)


def merge(low: np.ndarray, high: np.ndarray, sample_rate: int, crossover: float) -> np.ndarray:
    """``low`` below ``crossover`` plus ``high`` above it (complementary zero-phase filters)."""
    if crossover >= sample_rate / 2:
        return np.asarray(low, np.float32)
    return (lowpass(low - high, sample_rate, crossover) + high).astype(np.float32)


def dsp_restoration(
    audio: np.ndarray, sample_rate: int, damage: Damage, options: dict | None = None
) -> np.ndarray | None:
    """The dsp backend's single-track restoration, or None where it cannot do this damage."""
    from diffmusic_engine.api import restore

    try:
        # the first track: declick's second holds what it removed
        return restore(audio, sample_rate, damage, backend="dsp", options=options).tracks[0]
    except DamageError:
        return None


def split_high_band(
    mix: np.ndarray,
    sources: np.ndarray,
    weights: tuple[float, ...],
    sample_rate: int,
    crossover: float,
) -> np.ndarray:
    """Share the top band of ``mix`` ``(ch, n)`` among ``sources`` ``(S, ch, n)``.

    The model knows nothing above ``crossover``; each source gets, frame by frame, the share of
    the mix's top band that its weighted energy holds in the octave just below the crossover
    (a soft mask, written here because no library shares a band by a neighbouring band's
    energy). Divided by its weight, so that ``sum_i w_i * high_i`` is the mix's top band again.
    Returns ``(S, ch, n)``.
    """
    n = mix.shape[-1]
    high = torch.from_numpy(mix - lowpass(mix, sample_rate, crossover))
    spec = stft(torch.from_numpy(np.ascontiguousarray(sources, np.float32)), SPLIT_FFT, SPLIT_HOP)
    freqs = torch.fft.rfftfreq(SPLIT_FFT, 1.0 / sample_rate)
    band = (freqs >= crossover / 2) & (freqs < crossover)
    w = torch.tensor(weights, dtype=torch.float32).reshape(-1, 1, 1)
    energy = (spec[..., band, :].abs() ** 2).sum(-2) * w**2  # (S, ch, frames)
    total = energy.sum(0, keepdim=True)
    share = torch.where(total > 1e-12, energy / total.clamp_min(1e-12), 1.0 / len(weights))
    shared = stft(high, SPLIT_FFT, SPLIT_HOP).unsqueeze(0) * share.unsqueeze(-2)
    return (istft(shared, SPLIT_FFT, SPLIT_HOP, n) / w).numpy().astype(np.float32)


def mix_consistent(sources: np.ndarray, mix: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """Project ``(S, ch, n)`` sources onto ``sum_i w_i s_i = mix`` (smallest change).

    The residual ``r`` is added as ``w_i r / sum_j w_j^2`` to source ``i``, so the sources mix
    back to the input exactly (mixture consistency, as in Wisdom et al. 2019).
    """
    w = np.asarray(weights, np.float64).reshape(-1, 1, 1)
    residual = mix - np.sum(w * sources, axis=0)
    return (sources + w / np.sum(w**2) * residual).astype(np.float32)


def replication_tilts(
    audio: np.ndarray, sample_rate: int, ranges: list, crossover: float
) -> dict[str, float]:
    """The tilt clamp (``min_tilt``, ``max_tilt``, dB per octave) for the dsp band replication
    of gaps ``ranges`` in ``audio``, from the music around them: its own long-term tilt ``c``
    over the octave above ``crossover``, which the model's fill lacks. A full-band mix's top
    (``c`` over -24) takes ``FULL_BAND_TILTS``, at most ``c``; a darker one (a guitar stem
    through its cabinet) ``c`` itself. The dsp clamp for a 7.2 kHz cutoff (-60..-36, chosen for
    whole band-limited recordings) had rebuilt a mix's top in a gap far too dark: 42 gaps of
    0.5 s in the 14 real recordings, the true audio low-passed at 7.2 kHz as the model's fill,
    gain-compensated log-mel distance on the gap +-50 ms to the truth, mean (median; worse than
    the band-limited fill): band-limited 1.605 (0.913), that clamp 1.401 (0.685; 3 of 42),
    FULL_BAND_TILTS 0.819 (0.825; 9, the guitar stems), this 0.730 (0.621; 3); docs/results.md
    "The top band of a diffusion fill"."""
    import librosa

    from diffmusic_engine.dsp.super_resolution import FULL_BAND_TILTS

    top = min(2 * crossover, 0.95 * sample_rate / 2)
    hop = TILT_FFT // 4
    mono = np.mean(np.atleast_2d(audio), axis=0)
    if mono.size < TILT_FFT or top <= crossover:
        return {}
    power = np.abs(librosa.stft(mono, n_fft=TILT_FFT, hop_length=hop, center=False)) ** 2
    # frames clear of the gaps only (their fill lacks the band; the music spliced across a gap
    # would put a step's flat spectrum into the top): not band_limit's
    # long_term_level, whose Welch segments run across the gaps
    starts = np.arange(power.shape[1]) * hop
    clear = np.ones(starts.size, bool)
    for first, stop in ranges:
        clear &= (starts + TILT_FFT <= first) | (starts >= stop)
    if not clear.any():
        return {}
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=TILT_FFT)
    band = (freqs >= crossover) & (freqs <= top)
    level = 10 * np.log10(power[band][:, clear].mean(axis=1) + 1e-30)
    tilt = float(np.clip(np.polyfit(np.log2(freqs[band]), level, 1)[0], -60.0, 0.0))
    low, high = FULL_BAND_TILTS
    return {"min_tilt": min(low, tilt), "max_tilt": min(high, tilt)}
