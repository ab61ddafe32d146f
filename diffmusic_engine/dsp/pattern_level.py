"""The level of a pattern fill: a source passage scaled to the gap's contexts, side by side.

A copied passage (:mod:`.pattern`) is scaled per channel so that its contexts' RMS meets the gap's
on each side (:func:`level`), the gain moving linearly in dB between the two through the gap (a
dropout in a fade follows the fade). That assumes the source's level inside the copy is its
contexts' level. A source that straddles a level change (the loud bar just before a quiet
passage, copied into a dropout in that passage) breaks it: its contexts read quiet, its inside is
loud, and the copy came out up to 17 dB over the gap's level at -40 dB (docs/results.md
"Dropouts in a quiet passage: sources across a level step"). :func:`excess_db` measures that.
A context holding such a step itself (a dropout near a quiet passage's edge) is read on its half
beside the gap (:func:`_beside`), and one holding a short rest beside the gap (the loud music past
it) on the stretch beside the gap (:func:`_nearest`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_GAIN = 4.0  # level matching never raises a candidate by more than 12 dB
MIN_GAIN = 1e-3  # nor lowers it by more than 60 dB (a fade to silence)
LEVEL_SHARE = 0.25  # a side's level is compared on at least this share of the match context
# A context whose two halves' levels differ by more than this (dB) is read on the half beside the
# gap (a quiet passage's edge, the ramp into it, lies in the far one). The halves of 0.25 s of
# real music differ by 7.8 dB at the 99.5th percentile (2295 contexts in 22 real files).
STEP_DB = 10.0
# A copy whose level departs from the gap's expected one by more than this (dB) straddles a level
# step (:func:`excess_db`) and is left out. Real music inside a gap departs from its 0.25 s
# contexts' level by -6.8..+5.8 dB (0.5th-99.5th percentile; 2069 gaps of 0.1-1 s in 22 real
# files): about 1 % of good passages go, each one of several in the composite.
EXCESS_DB = 6.0
# A side is read on its ``near`` samples beside the gap (the source's at the same offsets) where
# the gap's own there lie more than ``QUIET_DB`` under its whole context and the gain read there
# more than ``NEAR_DB`` under the context's, in a gap no longer than the context: a rest before
# a loud entry. Read on 0.25 s, a user trial's 100 ms dropout in a drums+bass rest (-63 dBFS
# beside it, a loud entry 60 ms on) was filled 17.9 dB over the music, a 250 ms one in an
# orchestra's quiet moment 14.6 dB (docs/results.md "A fill's level in a quiet moment"). Each
# test is needed: the gain's alone lowered drum hits in gaps between quiet sides (fills already
# 5-11 dB under the music, 2-13 dB further; 45 of 238 random gaps changed), in gaps of 0.3-2 s
# with the gap's too (their music lies farther from the stretch beside them), and the gap's from
# 6 dB one more (a hit in a 0.1 s gap, 0.5 dB further).
QUIET_DB = 10.0
NEAR_DB = 6.0


@dataclass(frozen=True)
class Level:
    """Per-channel gains ``(channels, 2)`` matching a source to the gap's left and right
    contexts, whose centres are at samples ``centres``. Between the centres the gain moves
    linearly in dB (a fade in or out goes on through the gap); beyond them it holds."""

    gains: np.ndarray
    centres: np.ndarray
    # the gap's own contexts' mean squares ``(channels, 2)`` (NaN: not known), for :func:`excess_db`
    context_power: np.ndarray | None = None

    def over(self, a: int, b: int) -> np.ndarray:
        """The gain ``(channels, b - a)`` at target samples ``[a, b)``."""
        left, right = self.centres
        u = np.clip((np.arange(a, b) - left) / max(right - left, 1.0), 0.0, 1.0)
        log_gain = np.log(self.gains)
        return np.exp(log_gain[:, :1] + u * (log_gain[:, 1:] - log_gain[:, :1]))

    def typical(self) -> np.ndarray:
        """Per-channel gain midway (the geometric mean of the two sides')."""
        return np.sqrt(self.gains[:, 0] * self.gains[:, 1])


def level(
    audio: np.ndarray,
    first: int,
    stop: int,
    shift: int,
    context: int,
    holes: list[tuple[int, int]],
    near: int = 0,
) -> Level:
    """Per-channel gains taking the source's RMS to the gap's on each side's ``context`` (the
    samples both have outside ``holes``, at least ``LEVEL_SHARE`` of it; its half beside the gap
    where either's level steps, :func:`_beside`; its ``near`` samples beside the gap where the
    gap's are a rest, :func:`_nearest`; 0: never). A source's side that
    lies in the gap itself (the passage next to it) is taken at the gap's level there
    (:func:`_level_inside`); a side still unknown (the file's end, another gap, a silent
    source) takes the other side's gains. A side of digital silence takes ``MIN_GAIN``."""
    n, least = audio.shape[1], max(1.0, LEVEL_SHARE * context)
    windows = ((max(0, first - context), first), (stop, min(n, stop + context)))
    # per side and channel: mean squares of the gap's context, and its ratio to the source's
    # on the samples both have
    own, ratio = np.full((2, 2, audio.shape[0]), np.nan)
    centres = np.array([(a + b) / 2 for a, b in windows], dtype=np.float64)
    for side, (a, b) in enumerate(windows):
        target = np.arange(a, b)
        in_target = _outside(target, holes, n)
        if in_target.sum() >= least:
            known = _beside(audio, target[in_target], side, (0,))
            power = np.square(audio[:, known], dtype=np.float64)
            own[side] = power.mean(axis=1)
            weight = power.sum(axis=0)
            if weight.sum() > 0:  # the RMS is the level where the energy is (a fade's loud end)
                centres[side] = float(known @ weight / weight.sum())
        both = target[in_target & _outside(target + shift, holes, n)]
        if both.size >= least:
            both = _beside(audio, both, side, (0, shift))
            ratio[side] = _ratio(_mean_square(audio, both), _mean_square(audio, both + shift))
            if near and stop - first <= context:
                own[side], ratio[side] = _nearest(
                    audio, both[-near:] if side == 0 else both[:near], shift, own[side], ratio[side]
                )
    for side, (a, b) in enumerate(windows):  # channels unknown there: the gap's level inside
        inside = _ratio(own[side], _level_inside(own, centres, (a + b) / 2 + shift))
        ratio[side] = np.where(np.isnan(ratio[side]), inside, ratio[side])
    for side in (0, 1):
        ratio[side] = np.where(np.isnan(ratio[side]), ratio[1 - side], ratio[side])
    gains = np.sqrt(np.nan_to_num(ratio, nan=1.0)).T  # (channels, sides)
    return Level(gains=np.clip(gains, MIN_GAIN, MAX_GAIN), centres=centres, context_power=own.T)


def _beside(audio: np.ndarray, samples: np.ndarray, side: int, offsets: tuple) -> np.ndarray:
    """``samples`` (sorted, of the context on ``side``: 0 left of the gap, 1 right), or the half
    of them beside the gap where at any of the ``offsets`` (the gap's context 0, the source's
    shift) the two halves' levels differ by more than ``STEP_DB``."""
    half = samples.size // 2
    near, far = (samples[half:], samples[:half]) if side == 0 else (samples[:half], samples[half:])
    for offset in offsets:
        near_power = _mean_square(audio, near + offset).sum()
        step = _ratio(near_power, _mean_square(audio, far + offset).sum())
        if not np.isnan(step) and abs(10 * np.log10(max(step, 1e-30))) > STEP_DB:
            return near
    return samples


def _nearest(
    audio: np.ndarray, nearest: np.ndarray, shift: int, own: np.ndarray, ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A side's ``own`` (the gap's context's mean squares) and ``ratio`` (gap over source), per
    channel, read instead on the ``nearest`` samples (the gap's, beside it) where the gap's lie
    more than ``QUIET_DB`` under ``own`` and the ratio there more than ``NEAR_DB`` under
    ``ratio``: a rest beside the gap that the source, copied from music going on, has not."""
    quiet = _mean_square(audio, nearest)
    close = _ratio(quiet, _mean_square(audio, nearest + shift))
    rest = (quiet < own * 10 ** (-QUIET_DB / 10)) & (close < ratio * 10 ** (-NEAR_DB / 10))
    return np.where(rest, quiet, own), np.where(rest, close, ratio)


def _mean_square(audio: np.ndarray, samples: np.ndarray) -> np.ndarray:
    return np.mean(np.square(audio[:, samples], dtype=np.float64), axis=1)


def _ratio(own: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``own / source``; NaN (not known) where the source is silent or unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(source > 0, own / np.where(source > 0, source, 1.0), np.nan)


def _level_inside(own: np.ndarray, centres: np.ndarray, position: float) -> np.ndarray:
    """The gap's mean square at ``position`` between its contexts' ``centres`` (the source is
    the passage next to the gap, fading with it): linear in dB from one context's ``own`` to
    the other's. NaN (unknown) elsewhere."""
    if not centres[0] < position < centres[1] or not np.all(own > 0):
        return np.full(own.shape[1], np.nan)
    u = (position - centres[0]) / (centres[1] - centres[0])
    return np.exp((1 - u) * np.log(own[0]) + u * np.log(own[1]))


def _outside(samples: np.ndarray, holes: list[tuple[int, int]], n: int) -> np.ndarray:
    """Which of the sample indices lie in the file and outside every hole."""
    keep = (samples >= 0) & (samples < n)
    for h0, h1 in holes:
        keep &= (samples < h0) | (samples >= h1)
    return keep


def excess_db(audio: np.ndarray, first: int, stop: int, shift: int, gain: Level) -> float:
    """dB of the copy's power (the source ``[first, stop) + shift`` times ``gain``) over the
    power the gap's own contexts lead one to expect through it (linear in dB between the two
    sides', as the gain moves); 0 (nothing to judge by) where a context's level is not known or
    is silence. Far from 0, the source's level inside is not its contexts' (a level step)."""
    power = gain.context_power
    if power is None:
        return 0.0
    power = np.where(np.isnan(power), power[:, ::-1], power)  # one side known: it holds
    if not np.all(power > 0):
        return 0.0
    copy = audio[:, first + shift : stop + shift] * gain.over(first, stop)
    expected = Level(gains=np.sqrt(power), centres=gain.centres).over(first, stop)
    return float(10 * np.log10(max(np.sum(np.square(copy)), 1e-30) / np.sum(np.square(expected))))
