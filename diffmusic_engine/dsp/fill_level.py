"""The level of a filled dropout against the music on both sides of it: a fill far under both
is raised to within ``FAR_DB`` of the quieter side and said; one far over both is said only (a
copy from a song's fading end, its gain at the pattern fill's 12 dB limit, had filled a 2 s
dropout 34 dB under the music it replaced without a word; a copy into a quiet moment takes the
level of the louder music its 0.25 s level context reaches, 8-12 dB over both sides).

Measured on 476 random dropouts of 0.1-2 s per channel in ten real recordings (the two shared
mixes and eight other kinds; ``python -m bench.fill_level``, docs/results.md "A fill's level
beside its gap"), against the ``SIDE_SECONDS`` either side of the gap: no music lay more than
8 dB under the quieter side (2 more than 6 dB), while it lay more than 6 dB over the louder side
in 16, by up to 22 dB (a chord or a drum hit inside, quiet on both sides). Raised to ``FAR_DB``
under the quieter side, the six fills 12-30 dB too quiet came within 5.6-7.3 dB of the music;
lowered to ``FAR_DB`` over the louder side (tried), 6 of the 10 fills over it were made 2-5 dB
worse (drum hits), so those are said, with both readings, and left as they are
(docs/results.md "A fill's level beside its gap: brought back").
"""

from __future__ import annotations

import numpy as np

SIDE_SECONDS = 0.05  # the music either side of the gap that a fill's level is compared with
# A fill further than this (dB) under the quieter side in a channel is raised to it, and one
# further over the louder side said (the random dropouts above: no music 8 dB under the quieter
# side; a user trial's 104 dropouts in ten real mixes, docs/results.md "A fill's level beside its
# gap: brought back": the 20 ms AR fills 7-10 dB under both sides were 5.6-8.4 dB under the music,
# pattern fills 8-12 dB over both 15-18 dB over it, in a quiet moment)
FAR_DB = 6.0
# Gaps shorter than this (s) are left as filled: an AR fill of a few ms meets the samples beside
# it, and a part of one period of the music holds none of its level (a 0.5 ms gap at a zero
# crossing of a 100 Hz tone lies 40 dB under its sides, rightly)
SHORTEST = 0.01


def side_levels(
    audio: np.ndarray, gap: tuple[int, int], bounds: tuple[int, int], sample_rate: int
) -> np.ndarray:
    """Per channel, the mean squares ``(channels, 2)`` of the ``SIDE_SECONDS`` before and after
    ``gap`` within ``bounds`` (the neighbouring gaps' edges or the audio's); NaN where a side has
    no sample."""
    width = max(1, round(SIDE_SECONDS * sample_rate))
    (first, stop), (low, high) = gap, bounds
    sides = (audio[:, max(low, first - width) : first], audio[:, stop : min(high, stop + width)])
    return np.stack(
        [np.mean(np.square(side, dtype=np.float64), axis=1) if side.shape[1] else
         np.full(audio.shape[0], np.nan) for side in sides],
        axis=1,
    )  # fmt: skip


def bring_back(
    estimates: list[np.ndarray],
    inside: slice,
    sides: np.ndarray,
    *,
    edges_kept: bool = False,
    peaks: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[float | None] | None]:
    """``estimates`` (one per channel, their samples ``inside`` the gap), each channel whose
    fill lies more than ``FAR_DB`` under the quieter of its ``sides`` (mean squares, NaN: not
    known) raised to ``FAR_DB`` under it, and one as far over the louder found (left as it
    is); a silent or unknown side sets no bound. ``edges_kept``: the estimate meets the
    samples beside the gap (an AR fill), its gain raised in a bump that is 1 at the edges;
    ``peaks``: per channel, the level a raised fill is clipped at (the audio's peak).
    With them, the channel that lay farthest off, ``[fill, before, after, written]`` in dB
    (``None``: a side not known), if any; else ``None``."""
    out, farthest, worst = [], 0.0, None
    for channel, (estimate, power) in enumerate(zip(estimates, sides, strict=True)):
        fill = float(np.mean(np.square(estimate[inside], dtype=np.float64)))
        known = power[~np.isnan(power)]
        low = known.min() * 10 ** (-FAR_DB / 10) if known.size and known.min() > 0 else 0.0
        high = known.max() * 10 ** (FAR_DB / 10) if known.size and known.max() > 0 else np.inf
        if low <= fill <= high:
            out.append(estimate)
            continue
        scaled = estimate
        if 0 < fill < low:
            scaled = _scaled(estimate, inside, low, edges_kept)
            if peaks is not None:
                scaled = np.clip(scaled, -peaks[channel], peaks[channel])
        written = float(np.mean(np.square(scaled[inside], dtype=np.float64)))
        far = 10 * np.log10(max(low, fill, 1e-30) / max(min(high, fill), 1e-30))
        if far > farthest:
            farthest, worst = far, [_db(v) for v in (fill, *power, written)]
        out.append(scaled)
    return out, worst


def _scaled(estimate: np.ndarray, inside: slice, target: float, edges_kept: bool) -> np.ndarray:
    """``estimate`` times the gain that raises its mean square ``inside`` to ``target``: one
    gain, or, ``edges_kept``, a raise ``1 + c sin^2`` across the gap, 1 at its edges."""
    x = estimate[inside].astype(np.float64)
    a = float(np.mean(x * x))
    out = estimate.astype(np.float64)
    if not edges_kept:
        return out * np.sqrt(target / a)
    w = np.sin(np.pi * (np.arange(x.size) + 0.5) / x.size) ** 2
    b, c = float(np.mean(x * x * w)), float(np.mean(x * x * w * w))
    if c <= 0:  # nothing but at the edges
        return out
    rise = (-b + np.sqrt(b * b + c * (target - a))) / c  # mean((x (1 + rise w))^2) = target
    out[inside] = x * (1 + rise * w)
    return out


def _db(power: float) -> float | None:
    return None if np.isnan(power) else round(float(10 * np.log10(max(power, 1e-20))), 1)
