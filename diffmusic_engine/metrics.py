"""Objective measures of a restoration against a clean reference.

All take float arrays ``(channels, samples)`` (or ``(samples,)``) of equal shape. Ratios in dB are
capped at ``MAX_DB`` so that a perfect estimate gives a finite, JSON-safe number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from diffmusic_engine.damage import Gap, gap_samples
from diffmusic_engine.rates import samples_at

MAX_DB = 150.0
EPS = 1e-12
QUANTILE_STEPS = np.linspace(0.0, 1.0, 21)  # the equalised distance's candidate gains


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[None] if x.ndim == 1 else x


def _ratio_db(signal_power: float, error_power: float) -> float:
    if error_power <= signal_power * 10 ** (-MAX_DB / 10):
        return MAX_DB
    return float(10 * np.log10(max(signal_power, EPS) / error_power))


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: ``10 log10(||ref||^2 / ||ref - est||^2)``."""
    ref, est = _as_2d(reference), _as_2d(estimate)
    return _ratio_db(float(np.sum(ref**2)), float(np.sum((ref - est) ** 2)))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB, per channel (zero-mean), averaged over channels."""
    values = []
    for ref, est in zip(_as_2d(reference), _as_2d(estimate), strict=True):
        ref, est = ref - ref.mean(), est - est.mean()
        target = (np.dot(est, ref) / max(np.dot(ref, ref), EPS)) * ref
        values.append(_ratio_db(float(np.sum(target**2)), float(np.sum((est - target) ** 2))))
    return float(np.mean(values))


def magnitude_spectrogram(x: np.ndarray, n_fft: int = 1024, hop: int = 512) -> np.ndarray:
    """``|STFT|`` with a Hann window, centred frames: ``(channels, bins, frames)``."""
    import librosa

    return np.abs(librosa.stft(_as_2d(x), n_fft=n_fft, hop_length=hop, center=True))


def _centred_in(interval: tuple[float, float] | None, spacing: float, count: int) -> slice:
    """The indices ``i < count`` whose centres ``i * spacing`` fall in ``interval``."""
    if interval is None:
        return slice(0, count)
    first = int(np.ceil(interval[0] / spacing))
    stop = int(np.floor(interval[1] / spacing)) + 1
    return slice(max(0, first), max(first + 1, min(count, stop)))


def frame_range(
    region: tuple[float, float] | None, sample_rate: int, n_frames: int, hop: int = 512
) -> slice:
    """The STFT frames whose centres fall in ``region`` (seconds); all frames if ``None``."""
    return _centred_in(region, hop / sample_rate, n_frames)


def bin_range(band: tuple[float, float] | None, sample_rate: int, n_fft: int) -> slice:
    """The STFT bins whose centre frequencies fall in ``band`` (Hz); all bins if ``None``."""
    return _centred_in(band, sample_rate / n_fft, n_fft // 2 + 1)


def _log_spectral_distance(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int,
    hop: int,
    region: tuple[float, float] | None,
    band: tuple[float, float] | None,
    log_ratio: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> float:
    """Per frame, the RMS over the selected bins of ``log_ratio(|X|, |X_hat|)``; the mean over
    the selected frames and the channels."""
    ref = magnitude_spectrogram(reference, n_fft, hop)
    est = magnitude_spectrogram(estimate, n_fft, hop)
    where = (slice(None), bin_range(band, sample_rate, n_fft))
    where += (frame_range(region, sample_rate, ref.shape[-1], hop),)
    ratio = log_ratio(ref[where], est[where])
    return float(np.mean(np.sqrt(np.mean(ratio**2, axis=-2))))


def lsd(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    *,
    region: tuple[float, float] | None = None,
    band: tuple[float, float] | None = None,
    n_fft: int = 1024,
    hop: int = 512,
) -> float:
    """Log-spectral distance (the paper's way): per frame, the RMS over frequency of
    ``log10 |X|^2 - log10 |X_hat|^2``; averaged over frames and channels.

    ``region`` (seconds) keeps the frames centred in it, ``band`` (Hz) the bins inside it: the
    restored gap, or the rebuilt band of a super-resolution.
    """
    return _log_spectral_distance(
        reference, estimate, sample_rate, n_fft=n_fft, hop=hop, region=region, band=band,
        log_ratio=lambda ref, est: np.log10(ref**2 + EPS) - np.log10(est**2 + EPS),
    )  # fmt: skip


def lsd_audiosr(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    *,
    region: tuple[float, float] | None = None,
    band: tuple[float, float] | None = None,
) -> float:
    """LSD the AudioSR way: n_fft 2048, hop 512, ``log10(|X|^2 / (|X_hat| + 1e-8)^2 + 1e-8)``."""
    return _log_spectral_distance(
        reference, estimate, sample_rate, n_fft=2048, hop=512, region=region, band=band,
        log_ratio=lambda ref, est: np.log10(ref**2 / (est + 1e-8) ** 2 + 1e-8),
    )  # fmt: skip


def spectral_convergence(
    reference: np.ndarray, estimate: np.ndarray, *, n_fft: int = 1024, hop: int = 512
) -> float:
    """``|| |X| - |X_hat| ||_F / || |X| ||_F`` (0 is a perfect magnitude match)."""
    ref = magnitude_spectrogram(reference, n_fft, hop)
    est = magnitude_spectrogram(estimate, n_fft, hop)
    return float(np.linalg.norm(ref - est) / max(np.linalg.norm(ref), EPS))


def region_samples(region: tuple[float, float], sample_rate: int) -> slice:
    """``region`` in seconds as a sample slice (rounded as a gap's: ``damage.gap_samples``)."""
    return slice(*gap_samples(Gap(*region), sample_rate))


def evaluate(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    region: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Every measure on the whole signal, plus LSD and SNR on ``region`` when given."""
    result = {
        "lsd": lsd(reference, estimate, sample_rate),
        "si_sdr": si_sdr(reference, estimate),
        "snr": snr(reference, estimate),
        "spectral_convergence": spectral_convergence(reference, estimate),
        "log_mel_distance": log_mel_distance(reference, estimate, sample_rate),
    }
    if region is not None:
        inside = region_samples(region, sample_rate)
        result["lsd_region"] = lsd(reference, estimate, sample_rate, region=region)
        result["snr_region"] = snr(_as_2d(reference)[:, inside], _as_2d(estimate)[:, inside])
    return result


def log_mel_distance(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    *,
    n_mels: int = 128,
    floor_db: float = 60.0,
    equalised: bool = False,
) -> float:
    """Gain-compensated log-mel distance (dB): the mean ``|R - (E + g)|`` of the two mel power
    spectrograms in dB (n_fft 2048 at 44.1 kHz, hop 1/4), both floored ``floor_db`` below the
    reference's peak, with the gain ``g`` (dB) that minimises it. 0 is a perfect match up to a
    gain; it judges the spectral envelope over time, which reverberation smears.

    ``equalised``: a gain of its own for each channel's mel band (:func:`_equalised_distance`),
    so what is left is about what no static equaliser could close; never more than the plain
    distance. Against it, it tells how much of a difference is colouration (a room's or a
    microphone's frequency response) rather than change over time (docs/results.md, "What a
    measured hall's distance is made of")."""
    import librosa
    from scipy.optimize import minimize_scalar

    n_fft = samples_at(sample_rate, 2048)

    def mel_db(x: np.ndarray) -> np.ndarray:
        mel = librosa.feature.melspectrogram(
            y=_as_2d(x).astype(np.float64), sr=sample_rate, n_fft=n_fft, hop_length=n_fft // 4,
            n_mels=n_mels,
        )  # fmt: skip
        return 10 * np.log10(mel + EPS)

    ref, est = mel_db(reference), mel_db(estimate)
    floor = ref.max() - floor_db
    heard = ref > floor
    ref = np.maximum(ref, floor)

    def distance(gain_db: float) -> float:
        return float(np.mean(np.abs(ref - np.maximum(est + gain_db, floor))))

    # the search starts from the level difference where the reference is above the floor: on a
    # sparse spectrum (a tone, a band-limited file) the floored bins would pull it off by far
    start = float(np.median((ref - est)[heard])) if heard.any() else 0.0
    best = minimize_scalar(distance, bounds=(start - 20, start + 20), method="bounded")
    if equalised:
        return _equalised_distance(ref, est, floor, heard, float(best.x))
    return float(best.fun)


def _equalised_distance(
    ref: np.ndarray, est: np.ndarray, floor: float, heard: np.ndarray, gain_db: float
) -> float:
    """The mean ``|R - max(E + g, floor)|`` with ``g`` per channel and band: for each, the least
    of the floored distance over some candidates, ``gain_db`` (the one gain for all, so never
    worse than it), the quantiles in 5 % steps (0-100 %) of the band's ``R - E`` over its
    ``heard`` cells (the median among them), and one that takes the whole band under the floor
    (a band the reference lacks). Candidates rather than a bounded search per channel and band:
    one pass over the cells each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band with no heard cell: all NaN
        quantiles = np.nanquantile(np.where(heard, ref - est, np.nan), QUANTILE_STEPS, axis=-1)
    candidates = [
        np.full(ref.shape[:-1], gain_db),
        *np.nan_to_num(quantiles, nan=gain_db),
        floor - est.max(axis=-1) - 1.0,  # every cell of the band under the floor
    ]
    best = np.full(ref.shape[:-1], np.inf)
    for gains in candidates:
        cost = np.mean(np.abs(ref - np.maximum(est + gains[..., None], floor)), axis=-1)
        best = np.minimum(best, cost)
    return float(best.mean())  # every band holds as many frames
