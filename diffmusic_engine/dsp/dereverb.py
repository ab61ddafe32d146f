"""Dereverberation: WPE when the room is unknown, Wiener deconvolution when its IR is known.

* Blind, do no harm: the room is estimated first (:func:`diffmusic_engine.room.estimate_room`).
  On music in simulated rooms WPE brings the log-mel distance to the dry source to about 0.93x
  of the reverberant input's in rooms above 2 s, but 0.98x at 0.5 s and 1.07x (worse) at 1 s,
  and late-reverberation spectral subtraction (Lebart, Habets) driven by the per-band decay and
  DRR, even given the true room, measured 1.00-1.07x (a sustained note looks like its own
  reverberation; docs/results.md, ``python -m bench.rooms eval``). So WPE runs only where the
  estimate says the room is long (``LONG_ROOM_S``) and the estimate is confident; its output
  is mixed with the input by ``amount`` (0: untouched, 1: all WPE), unless WPE took away more
  energy than the estimated room's reverberation holds (``_removed_too_much``: on one of six
  songs WPE removed 7-9 dB and did harm, 1.16-1.35x). Otherwise the input comes back unchanged
  and the job's details say why (``"method": "none"``, ``"reason"``, ``"room"``).
* WPE: weighted prediction error (Nakatani et al., 2010) via ``nara_wpe.wpe.wpe`` on an STFT.
  In each frequency bin the late reverberation is predicted from the frames ``delay`` to
  ``delay + taps - 1`` before, jointly over all channels (the stereo pair shares one multichannel
  prediction filter), and subtracted. WPE works bin by bin, so the bins go through in chunks:
  memory stays bounded on long files and progress (and cancellation) comes between chunks.
* Known impulse response ``h`` (``y = h * x``, the operator's causal convolution): regularised
  (Wiener) deconvolution in the FFT domain, ``X = Y conj(H) / (|H|^2 + lambda)`` with
  ``lambda = regularization * mean |H|^2`` (default 0.01).

WPE on music keeps sustained notes only as far as ``delay`` frames reach, so it trades some
damage to long notes for less room; it needs no impulse response.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from diffmusic_engine.damage import Dereverb
from diffmusic_engine.dsp.options import Option, parse_options
from diffmusic_engine.errors import DamageError
from diffmusic_engine.operators import load_impulse_response
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.room import RoomEstimate, estimate_room

BLIND_OPTIONS = {
    "amount": Option(default=1.0, low=0.0, high=1.0),  # share of WPE's change kept
    "n_fft": Option(default=0, low=0, high=16384, integer=True),  # 0: about 46 ms (2048 at 44.1k)
    "taps": Option(default=10, low=1, high=100, integer=True),  # frames in the prediction filter
    "delay": Option(default=2, low=1, high=50, integer=True),  # frames kept (the direct part)
    "iterations": Option(default=3, low=1, high=20, integer=True),
    "chunk": Option(default=64, low=1, high=8192, integer=True),  # frequency bins per wpe call
}
KNOWN_OPTIONS = {"regularization": Option(default=1e-2, low=0.0, high=10.0)}
LONG_ROOM_S = 1.8  # estimated RT60 from which WPE improves music (below: 0.98-1.07x)
MIN_CONFIDENCE = 0.3  # a less certain room estimate leaves the audio as it is
MAX_REMOVED_DB = 5.0  # WPE taking away more energy than this is taking the music (see below)


def options_for(damage: Dereverb) -> dict[str, Option]:
    """WPE's options when blind, Wiener deconvolution's with a known impulse response."""
    return BLIND_OPTIONS if damage.blind else KNOWN_OPTIONS


def restore_dereverb(
    audio: np.ndarray,
    sample_rate: int,
    damage: Dereverb,
    options: dict[str, Any],
    callback: ProgressCallback | None,
    impulse_response: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Blind WPE, or Wiener deconvolution by ``impulse_response`` (default: ``damage.rir``)."""
    if damage.blind and impulse_response is None:
        return blind_dereverb(audio, sample_rate, options, callback)
    opts = parse_options("dereverb", options, KNOWN_OPTIONS)
    if impulse_response is None:
        impulse_response = load_impulse_response(damage.rir, sample_rate, damage.rir_rate)
    report(callback, 0, 1, "dereverb")
    out = wiener_deconvolve(audio, impulse_response, opts["regularization"])
    report(callback, 1, 1, "dereverb")
    return out, {"method": "wiener", **opts}


def blind_dereverb(
    audio: np.ndarray,
    sample_rate: int,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Estimate the room; WPE mixed by ``amount`` where it helps, else the input unchanged."""
    opts = parse_options("dereverb", options, BLIND_OPTIONS)
    room = estimate_room(audio, sample_rate, callback=callback)
    details: dict[str, Any] = {"room": None if room is None else room.to_dict(), **opts}
    reason = _reason_to_skip(room, opts["amount"])
    if reason is not None:
        report(callback, 1, 1, "dereverb")
        return audio.copy(), {"method": "none", "reason": reason, **details}
    n_fft = opts["n_fft"] or _auto_n_fft(sample_rate)
    wet = wpe_dereverb(
        audio, n_fft=n_fft, taps=opts["taps"], delay=opts["delay"],
        iterations=opts["iterations"], chunk=opts["chunk"], callback=callback,
    )  # fmt: skip
    reason = _removed_too_much(audio, wet, room)
    if reason is not None:
        return audio.copy(), {"method": "none", "reason": reason, **details, "n_fft": n_fft}
    out = audio + opts["amount"] * (wet - audio)  # amount: the share of WPE's change kept
    return out.astype(np.float32), {"method": "wpe", **details, "n_fft": n_fft}


def _removed_too_much(audio: np.ndarray, wet: np.ndarray, room: RoomEstimate) -> str | None:
    """Why WPE's output ``wet`` must not be used: it took away more energy than the room holds.

    Reverberation is at most ``1 / (1 + 10^(DRR/10))`` of the energy, so removing it all leaves
    ``-10 log10(1 + 10^(-DRR/10))`` dB; WPE taking away more (or more than ``MAX_REMOVED_DB``)
    is removing the music's own sustain. Measured on six songs in 1.5-2.5 s halls: where WPE
    helped it removed 2.0-3.9 dB, where it did harm (1.16-1.35x) 6.9-9.0 dB (docs/results.md).
    """
    removed_db = -10 * np.log10(np.sum(np.square(wet, dtype=np.float64)) / max(
        np.sum(np.square(audio, dtype=np.float64)), 1e-20))  # fmt: skip
    room_db = 10 * np.log10(1 + 10 ** (-room.drr_db / 10))  # all the reverberation, estimated
    limit = min(MAX_REMOVED_DB, room_db)
    if removed_db <= limit:
        return None
    return (
        f"WPE removed {removed_db:.1f} dB, more than the room's reverberation can hold "
        f"({limit:.1f} dB at DRR {room.drr_db:+.1f} dB): it would take the music's own sustain, "
        "so nothing removed; an impulse response (--rir) would help"
    )


def _reason_to_skip(room: RoomEstimate | None, amount: float) -> str | None:
    """Why blind dereverberation should leave the audio alone, or ``None`` to go ahead."""
    if amount == 0:
        return "amount 0: nothing removed"
    if room is None:
        return "no room could be measured (too short or silent): nothing removed"
    if room.confidence < MIN_CONFIDENCE:
        return (
            f"the room estimate is uncertain (confidence {room.confidence:.2f} < "
            f"{MIN_CONFIDENCE}): nothing removed; an impulse response (--rir) would help"
        )
    if room.rt60 < LONG_ROOM_S:
        return (
            f"estimated RT60 {room.rt60:.2f} s: blind WPE does not improve music in rooms "
            f"under {LONG_ROOM_S} s, so nothing removed; an impulse response (--rir) would"
        )
    return None


def _auto_n_fft(sample_rate: int) -> int:
    return int(2 ** np.round(np.log2(sample_rate * 2048 / 44100)))


def wpe_dereverb(
    audio: np.ndarray,
    *,
    n_fft: int = 2048,
    taps: int = 10,
    delay: int = 2,
    iterations: int = 3,
    chunk: int = 64,
    callback: ProgressCallback | None = None,
) -> np.ndarray:
    """Multichannel WPE of float32 ``(channels, samples)`` audio; same shape out."""
    import librosa
    from nara_wpe.wpe import wpe

    hop = n_fft // 4
    n = audio.shape[-1]
    spec = librosa.stft(audio.astype(np.float64), n_fft=n_fft, hop_length=hop)  # (D, F, T)
    observed = np.ascontiguousarray(spec.transpose(1, 0, 2))  # Y: (F, D, T), nara_wpe's layout
    estimate = np.empty_like(observed)
    bins = observed.shape[0]
    total = -(-bins // chunk)
    report(callback, 0, total, "dereverb")
    for i, first in enumerate(range(0, bins, chunk)):
        block = slice(first, first + chunk)
        estimate[block] = wpe(
            observed[block], taps=taps, delay=delay, iterations=iterations,
            statistics_mode="full",
        )  # fmt: skip
        report(callback, i + 1, total, "dereverb")
    out = librosa.istft(estimate.transpose(1, 0, 2), n_fft=n_fft, hop_length=hop, length=n)
    return out.astype(np.float32)


def wiener_deconvolve(
    audio: np.ndarray, impulse_response: np.ndarray, regularization: float = 1e-3
) -> np.ndarray:
    """Undo ``y = h * x`` (causal, truncated to ``len(y)``) for ``(channels, samples)`` audio.

    ``impulse_response`` is ``(L,)`` for every channel, or ``(channels, L)`` one per channel.
    """
    h = np.atleast_2d(np.asarray(impulse_response, np.float64))
    channels, n = audio.shape
    if h.shape[0] not in (1, channels):
        raise DamageError(
            f"dereverb: the impulse response has {h.shape[0]} channels, the audio {channels}"
        )
    if not np.any(h):
        raise DamageError("dereverb: the impulse response is silent (all zeros)")
    size = next_fast_len(n + h.shape[-1] - 1, real=True)
    y_f = rfft(audio.astype(np.float64), size, axis=-1)  # Y
    h_f = rfft(h, size, axis=-1)  # H
    power = np.abs(h_f) ** 2
    lam = regularization * power.mean(axis=-1, keepdims=True)  # lambda
    x_f = y_f * np.conj(h_f) / (power + lam)
    return irfft(x_f, size, axis=-1)[:, :n].astype(np.float32)
