"""Dropouts held at a DC offset: the third way of :mod:`.dropouts` (a converter's or a buffer's
last value, held as a constant, or a constant under noise).

Such a run is not digital silence and lies above the quiet level, but it holds still: no
channel moves more than :data:`HELD_STEP` from one sample to the next (:func:`steady`), and,
over the whole run, no channel strays from its mean by more than :data:`HELD_DEVIATION` (RMS,
:class:`Deviation`). The step alone let a slow tone through: a 40 Hz bass at 0.02 moves 1.1e-4
a sample, and a saw gated off over it for 8 ms at a time read as 9 dropouts; over such a gap
the bass strays 2.9e-3 to 1.0e-2 from its mean, a held dropout 1.0e-4 or less (docs/results.md
"Dropouts held at a DC offset: a slow tone, and one channel"). The edge test (abrupt edges, as
for a dithered dropout) is the scanner's.

One channel held while the others play (a tape head's or a cable's channel): :func:`held_channels`
names it for :func:`.dropouts.dropped_channels`, where no channel is digital silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A constant under -80 dBFS noise (1e-4 RMS) moves up to 4.8 times 1.4e-4 over 0.5 s; HELD_STEP
# is 7 times that step. Runs held on the coarse grid of quiet 8 or 16-bit music (a note one step
# above zero) have music of their level beside them, not the edge test's jump over it. Measured:
# no run in the 22 clean recordings nor in their quiet passages stored in 8 or 16 bits.
HELD_STEP = 2.0**-10
# Over the run, each channel's RMS deviation from its mean: 4.9 times -80 dBFS noise (measured
# on held dropouts in real mixes: 1.0e-4 under that noise, 0 without, in float, 24 and 16-bit;
# 4.6e-4 at most with an MP3's ringing edges), under a sixth of what a 40 Hz bass at 0.02
# shows over an 8 ms gap in a gated part (2.9e-3 to 1.0e-2). RMS, not max - min: the ringing
# edges reach 3.8e-3 max - min, and -80 dBFS noise 1.0e-3.
HELD_DEVIATION = 2.0**-11
# A channel is held in a span (:func:`held_channels`) where half its samples lie this close to
# its median: a quarter of HELD_DEVIATION, which -80 dBFS noise meets (78 % of its samples), and
# quiet music on a DC offset seldom does. At HELD_DEVIATION, a channel of the real mixes 40 dB
# down with 0.002 DC read as held in 523 of 2000 random 20 and 100 ms spans (a given gap then
# kept the other channel as it was: a tape dropout 40 dB down on both, 63 of 240), and a slowly
# moving one in 15 and 79 of 3000 spans of 1-5 ms, at full level and 20 dB down (a click given
# as a gap on the other channel kept); at this, 1, 0, 1 and 5; the one-channel held dropouts
# found the same (114 of 240; docs/results.md "... a slow tone, and one channel").
HELD_NEAR = HELD_DEVIATION / 4


def steady(block: np.ndarray, before: np.ndarray, loudest: np.ndarray, quiet: float) -> np.ndarray:
    """Per sample of ``(channels, samples)`` ``block`` (``before``: the sample before it, per
    channel; ``loudest``: its largest magnitude per sample): whether no channel moved more than
    HELD_STEP from the sample before, and some channel lies above ``quiet`` (at or below it the
    dithered-dropout way reads the run)."""
    moved = np.max(np.abs(np.diff(block, axis=1, prepend=before)), axis=0, initial=0.0)
    return (moved <= HELD_STEP) & (loudest > quiet)


@dataclass
class Deviation:
    """A run's RMS deviation from its mean per channel, read block by block (it streams)."""

    count: int = 0
    sums: np.ndarray | float = 0.0  # per channel, of the samples
    squares: np.ndarray | float = 0.0  # per channel, of their squares

    def take(self, samples: np.ndarray) -> None:
        """Add ``(channels, samples)`` ``samples`` of the run."""
        values = samples.astype(np.float64)
        self.count += values.shape[1]
        self.sums = self.sums + np.sum(values, axis=1)
        self.squares = self.squares + np.sum(np.square(values), axis=1)

    def largest(self) -> float:
        """The largest channel's RMS deviation from its mean so far (0 before any sample)."""
        if not self.count:
            return 0.0
        mean = np.asarray(self.sums) / self.count
        variance = np.asarray(self.squares) / self.count - np.square(mean)
        return float(np.sqrt(max(float(np.max(variance)), 0.0)))


def take_in(runs: list, block: np.ndarray, position: int) -> None:
    """Add to each run of ``runs`` (``first``, ``stop``: recording samples, ``stop`` None while
    open; its ``deviation``) its samples in ``block``, which starts at sample ``position``."""
    for run in runs:
        end = block.shape[1] if run.stop is None else run.stop - position
        run.deviation.take(block[:, max(run.first - position, 0) : end])


def held_channels(audio: np.ndarray, share: float, quiet: float) -> np.ndarray:
    """Per channel of ``(channels, samples)`` ``audio`` (a span), whether it is held there:
    ``share`` or more of its samples within HELD_NEAR of its median, that median above
    ``quiet`` (at or under it, the run is silence or dither, not a held value)."""
    if not audio.shape[1]:
        return np.zeros(audio.shape[0], bool)
    median = np.median(audio, axis=1, keepdims=True)
    near = np.mean(np.abs(audio - median) <= HELD_NEAR, axis=1) >= share
    return near & (np.abs(median[:, 0]) > quiet)
