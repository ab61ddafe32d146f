"""Audio as the engine holds it in memory: float32 ``(channels, samples)``, and the checks an
array a caller gives passes before any work (``restore``, ``degrade``, ``diagnose``, the daemon's
jobs, the clients, the batch restorer and chains) and an output before it is written.

:func:`given_audio` takes a caller's array (refusing, in one line that says how to give it, the
shapes and sample types that had been read wrong); :func:`check_audio` refuses empty or non-finite
audio. Files are :mod:`diffmusic_engine.audio`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.errors import InputError

# more rows than this, and than columns, are frames, not channels (a file's 6 channels of 4
# frames are channels: the CLI reads its layout from the file)
SURELY_SAMPLES = 64


def given_audio(audio: Any, what: str = "audio") -> np.ndarray:
    """A caller's array as float32 ``(channels, samples)``, or an :class:`InputError` that says
    how to give it: integer samples (int16 had been read as amplitudes of thousands) and an
    array with more rows than columns (``soundfile.read``'s ``(samples, channels)``, read as
    441,000 channels of two samples each: "nothing found") are refused, as is one dimension."""
    given = np.asarray(audio)
    if given.dtype.kind not in "f":
        raise InputError(f"{what}: {given.dtype} samples: give float audio in -1..1 (int16: "
                         "divide by 32768)")  # fmt: skip
    if given.ndim == 1:
        raise InputError(f"{what}: one dimension {given.shape}: give (channels, samples), "
                         "mono as audio[None]")  # fmt: skip
    if given.ndim == 2 and given.shape[0] > max(given.shape[1], SURELY_SAMPLES):
        raise InputError(
            f"{what}: shape {given.shape} has more channels than samples: give "
            "(channels, samples); soundfile.read's (samples, channels) is audio.T"
        )
    return np.ascontiguousarray(given, dtype=np.float32)


def check_audio(audio: np.ndarray, what: str = "audio", remedy: str = "") -> None:
    """Raise :class:`InputError` unless ``audio`` is a non-empty, finite ``(channels, samples)``
    (channels counted from 1 in the message, as in every note; ``remedy`` ends it if given)."""
    if audio.ndim != 2:
        raise InputError(f"{what}: expected (channels, samples), got shape {audio.shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise InputError(f"{what}: empty audio (no samples)")
    if not np.isfinite(audio).all():  # one pass; the details below only for bad audio
        bad = ~np.isfinite(audio)
        channel, sample = np.argwhere(bad)[0]
        raise InputError(
            f"{what}: {int(bad.sum())} non-finite samples (NaN/Inf), the first in channel "
            f"{int(channel) + 1} of {audio.shape[0]} at sample {int(sample)}"
            + (f"; {remedy}" if remedy else "")
        )
