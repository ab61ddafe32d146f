"""The signals the mono model solves for a multichannel track: per channel, or mid and side.

Mid/side (``M = (L + R) / 2``, ``S = (L - R) / 2``) keeps what both channels share in one signal,
so the model's guesses for the two channels cannot drift apart in what they share. Either way the
channels of one window are solved from the same initial noise (see ``pipeline``), which keeps
the generated parts coherent between channels.
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diffusion.options import STEREO_MODES
from diffmusic_engine.errors import DamageError

SILENT_SIDE = 1e-4  # side peak below -80 dB of the mid peak: a mono track in stereo


def check_stereo_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`STEREO_MODES`, else a :class:`DamageError`."""
    if mode not in STEREO_MODES:
        raise DamageError(f"diffusion: stereo {mode!r}: expected one of {', '.join(STEREO_MODES)}")
    return mode


def uses_mid_side(mode: str, channels: int) -> bool:
    """Mid/side applies to stereo tracks only; mono and 3+ channels are solved per channel."""
    return mode == "mid-side" and channels == 2


def encode(audio: np.ndarray, mode: str) -> np.ndarray:
    """``(channels, n)`` -> the ``(signals, n)`` to solve (mid and side for stereo mid-side)."""
    if uses_mid_side(mode, audio.shape[0]):
        left, right = audio
        return np.stack([(left + right) / 2, (left - right) / 2]).astype(np.float32)
    return audio


def decode(signals: np.ndarray, mode: str, channels: int) -> np.ndarray:
    """Inverse of :func:`encode` on the last two axes ``(..., signals, n)``."""
    if uses_mid_side(mode, channels):
        mid, side = signals[..., 0, :], signals[..., 1, :]
        return np.stack([mid + side, mid - side], axis=-2).astype(np.float32)
    return signals


def split_silent_side(signals: np.ndarray, mode: str, channels: int) -> tuple[np.ndarray, int]:
    """How many of the encoded ``signals`` need solving: a silent side (dual-mono material) is
    passed through unsolved, which halves the work. Returns ``(signals, solved count)``."""
    if uses_mid_side(mode, channels):
        mid_peak, side_peak = np.abs(signals[0]).max(), np.abs(signals[1]).max()
        if side_peak <= SILENT_SIDE * mid_peak:
            return signals, 1
    return signals, len(signals)


def pass_through(estimate: np.ndarray, unsolved: np.ndarray) -> np.ndarray:
    """Append the ``unsolved`` signals (a silent side) to ``estimate`` ``(..., K, N)``."""
    if not len(unsolved):
        return estimate
    unsolved = np.broadcast_to(unsolved, (*estimate.shape[:-2], *unsolved.shape))
    return np.concatenate([estimate, unsolved], axis=-2)
