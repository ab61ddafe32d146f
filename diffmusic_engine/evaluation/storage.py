"""Audio as a file stores it after the damage: fixed point, with or without dither.

What survives storage decides what can be found later (the dropout rule,
:mod:`diffmusic_engine.diagnose.dropouts`): plain rounding keeps digital silence; TPDF dither of
+-1 step fills it with noise; noise-shaped dither (here the TPDF dither's error fed back through
``(1 - z^-1)^2``, a second-order shaper that moves the noise to high frequencies) leaves up to 5
steps there.
"""

from __future__ import annotations

import numpy as np

DITHERS = (None, "tpdf", "shaped")


def fixed_point(
    audio: np.ndarray, bits: int, dither: str | None = None, seed: int = 0
) -> np.ndarray:
    """``(channels, samples)`` ``audio`` rounded to ``bits``-bit steps (float32, not clipped),
    with ``dither`` (one of :data:`DITHERS`) drawn from ``seed``."""
    if dither not in DITHERS:
        raise ValueError(f"dither {dither!r}: use one of {DITHERS}")
    step = 2.0 ** (1 - bits)
    rng = np.random.default_rng(seed)
    tpdf = rng.random(audio.shape) - rng.random(audio.shape)  # in steps, -1..1
    steps = audio.astype(np.float64) / step
    if dither is None:
        return (np.round(steps) * step).astype(np.float32)
    if dither == "tpdf":
        return (np.round(steps + tpdf) * step).astype(np.float32)
    return (_shaped(steps, tpdf) * step).astype(np.float32)


def _shaped(steps: np.ndarray, tpdf: np.ndarray) -> np.ndarray:
    """Error-feedback quantisation: each sample corrected by ``2 e[n-1] - e[n-2]`` of the
    rounding errors before it. Written as a loop: the rounding sits inside the feedback, which
    no filter routine (scipy's lfilter and the like) computes."""
    out = np.empty_like(steps)
    for channel, (signal, noise) in enumerate(zip(steps, tpdf, strict=True)):
        error, previous = 0.0, 0.0
        for n, (value, dither) in enumerate(zip(signal.tolist(), noise.tolist(), strict=True)):
            wanted = value - (2.0 * error - previous)
            rounded = round(wanted + dither)
            out[channel, n] = rounded
            error, previous = rounded - wanted, error
    return out
