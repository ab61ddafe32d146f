"""The level of a filled dropout against the music on both sides of it: a fill far under both is
said (a copy from a song's fading end, its gain at the pattern fill's 12 dB limit, had filled a
2 s dropout 34 dB under the music it replaced without a word).

Measured on 476 random dropouts of 0.1-2 s per channel in ten real recordings (the two shared
mixes and eight other kinds; ``python -m bench.fill_level``, docs/results.md "A fill's level
beside its gap"), against the ``SIDE_SECONDS`` either side of the gap:

- no music lay more than ``HOLE_DB`` under the quieter side (nor in 470 other dropouts), while 6
  dsp fills did, each more than 6 dB under the music it replaced: those are said;
- the music lay more than 6 dB over the louder side in 8 of the 10 gaps whose fill did, by up to
  22 dB (a chord or a drum hit inside, quiet on both sides): a fill that loud is mostly right, so
  it is neither lowered (tried: 8 of 10 such fills made 6-22 dB too quiet, 2 made right) nor
  said.
"""

from __future__ import annotations

import numpy as np

SIDE_SECONDS = 0.05  # the music either side of the gap that a fill's level is compared with
HOLE_DB = 10.0


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


def under_db(estimates: list[np.ndarray], inside: slice, sides: np.ndarray) -> float | None:
    """How far (dB) a fill (``estimates``, one per channel, their samples ``inside`` the gap)
    lies under the quieter of its ``sides`` where that is more than ``HOLE_DB`` in every channel
    whose sides play (a silent or unknown one is left out); ``None`` otherwise."""
    under = []
    for estimate, power in zip(estimates, sides, strict=True):
        quieter = np.nanmin(power) if not np.all(np.isnan(power)) else np.nan
        if quieter > 0:
            fill = float(np.mean(np.square(estimate[inside], dtype=np.float64)))
            under.append(10 * np.log10(quieter / max(fill, 1e-30)))
    return round(min(under), 1) if under and min(under) > HOLE_DB else None
