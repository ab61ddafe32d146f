"""Room impulse responses: loaded at the audio's rate, checked (its channels, not silent), made,
and undone (the dsp backend's Wiener deconvolution, :func:`wiener_deconvolve`).

No torch: the dsp backend, the operators (``make_operator``), the
diffusion pipeline (its ``--rir`` file) and the tests take them from here; the diffusion
backend's forward model is :class:`~diffmusic_engine.operators.dereverb.ConvolutionOperator`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from diffmusic_engine.audio import read_audio
from diffmusic_engine.errors import DamageError, InputError
from diffmusic_engine.rates import resample

# Where a modelled room's diffuse tail starts after the direct path: the evaluation rooms'
# (evaluation.rooms) and the blind subband model's (operators.subband_rir); synthetic_rir, the
# method's simplest room, keeps its own 2 ms (every number measured with it).
TAIL_ONSET_S = 0.003


def check_impulse_response(impulse_response: np.ndarray, channels: int) -> None:
    """An impulse response is one for every channel or one per channel, and not silent: raise
    :class:`DamageError` otherwise (a stereo one had made ``degrade`` turn mono into stereo; a
    daemon had journalled a silent one and failed the job only once it ran)."""
    rows = np.atleast_2d(np.asarray(impulse_response)).shape[0]
    if rows not in (1, channels):
        remedy = "one of its channels, or their mix" if channels == 1 else "or one per channel"
        raise DamageError(
            f"dereverb: the impulse response has {rows} channels, the audio {channels}; give "
            f"a mono impulse response ({remedy})"
        )
    if not np.any(impulse_response):
        raise DamageError(
            "dereverb: the impulse response is silent (all zeros); give the room's measured one"
        )


def load_impulse_response(
    rir: str | Path | np.ndarray, sample_rate: int, rir_rate: int | None = None
) -> np.ndarray:
    """An impulse response at ``sample_rate``: ``(L,)`` if mono, else ``(channels, L)``.

    ``rir`` is a file, or samples ``(L,)``/``(channels, L)`` at ``rir_rate`` (default
    ``sample_rate``), as :class:`~diffmusic_engine.damage.Dereverb` holds them.
    """
    if isinstance(rir, np.ndarray):
        ir, rate = np.atleast_2d(rir).astype(np.float32), rir_rate or sample_rate
    else:
        ir, rate = read_impulse_response(rir)
    ir = resample(ir, rate, sample_rate)
    return ir[0] if ir.shape[0] == 1 else ir


def read_impulse_response(path: str | Path) -> tuple[np.ndarray, int]:
    """An impulse-response file's ``(channels, L)`` samples and rate; its reading errors (NaN,
    empty, unreadable) name it as the impulse response, as :func:`damage_check.check_rir_file`
    does a missing one (a user trial: a NaN one's error had named only the file)."""
    try:
        ir, info = read_audio(path)
    except InputError as exc:  # every reading error starts with the file's name
        raise InputError(f"impulse response {exc}") from None
    return ir, info.sample_rate


def synthetic_rir(rt60: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A room impulse response: a unit direct path, then Gaussian noise decaying 60 dB in ``rt60``.

    The method's model h_t = alpha * h_(t-1) + noise in its simplest exact form; the tail starts
    after 2 ms and its energy is set so that the direct-to-reverberant ratio is about 0 dB.
    """
    rng = np.random.default_rng(seed)
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * 10 ** (-3 * t / rt60)
    tail[: int(0.002 * sample_rate)] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    ir = tail
    ir[0] = 1.0
    return ir.astype(np.float32)


def wiener_deconvolve(
    audio: np.ndarray, impulse_response: np.ndarray, regularization: float = 1e-3
) -> np.ndarray:
    """Undo ``y = h * x`` (causal, truncated to ``len(y)``) for ``(channels, samples)`` audio.

    ``impulse_response`` is ``(L,)`` for every channel, or ``(channels, L)`` one per channel.
    """
    h = np.atleast_2d(np.asarray(impulse_response, np.float64))
    channels, n = audio.shape
    check_impulse_response(h, channels)
    size = next_fast_len(n + h.shape[-1] - 1, real=True)
    y_f = rfft(audio.astype(np.float64), size, axis=-1)  # Y
    h_f = rfft(h, size, axis=-1)  # H
    power = np.abs(h_f) ** 2
    lam = regularization * power.mean(axis=-1, keepdims=True)  # lambda
    x_f = y_f * np.conj(h_f) / (power + lam)
    return irfft(x_f, size, axis=-1)[:, :n].astype(np.float32)
