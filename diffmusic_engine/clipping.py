"""Clipping in audio: the level it happened at and the samples it left at that level.

NumPy only: ``restore --level auto``, the damage report and the dsp declipper read clipping
without torch; :class:`~diffmusic_engine.operators.declip.ClipOperator` (the forward model
``T(x) = clip(x, -theta, theta)``) takes its tolerance from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diffmusic_engine.backends import CHANNEL_LEVELS, NEGATIVE_LEVELS
from diffmusic_engine.silence import run_edges

LEVEL_TOLERANCE = 1e-4  # a sample within this fraction of the level counts as clipped
MIN_RUN = 3  # clipping shows as at least this many consecutive samples at the level
CLIP_SPREAD_DB = 20.0  # channels whose peak is this far under the loudest's are not read for it
GRID_BITS = (8, 16, 24)  # the integer formats whose grid is coarse against a quiet peak
# A float's clipped run lies within FLOAT_FLAT of the level: a smooth crest, a bass note's, stays
# within the tolerance for three samples but falls further (a 20 Hz crest 4e-6 of its level a
# sample; real mixes low-passed at 150 Hz had read as clipped at their peak, a review found).
FLOAT_FLAT = 2.0**-20
# On an integer grid a clipped run lies within FLAT_STEPS of its level where the grid is finer
# than the tolerance (dither moves it a step or two), on one step where it is coarser; but so does
# a slow crest (a bass note's: a 55 Hz crest at 0.97 falls one step of 16 bits a sample either
# side; a quiet peak held on one step). Clipping cuts into a slope, a crest bends over: a
# sinusoid's top falls 1 - cos 2w = 4 cos^2(w / 2) times as far two samples from its apex as one,
# at most CREST_FALL times (3.5 at 5 kHz: a faster crest falls less), its run within a band plus
# FLAT_STEPS for the stored samples' rounding and TPDF dither. So a run is clipping where a
# sample beside it lies deeper than that zone under the band, or where the samples in the band
# pile up (PILE_UP) over those in the zone: a slow slope cut flat (a quiet clipped bass).
# Low-passed at 150 Hz and 1 kHz, 22 real recordings had read as clipped at their
# peak (36 of 880 such clean cases, none now); their crests fell 2-10 steps beside a run, clipped
# runs 16 to thousands (docs/results.md "a bass crest on a grid"). On the 8-bit grid the zone
# (8 steps) is as deep as many clipped runs' cut (lp1k mixes clipped at 25-80 %: 62 of 66 found,
# 7 with it): there a sample beside a run more than GRID_STEPS_BESIDE steps under the level makes
# it clipping, as before.
FLAT_STEPS = 2
CREST_FALL = 4
CREST_BITS = 16  # the coarsest grid a crest's fall is read on
GRID_STEPS_BESIDE = 2
# A side with more of its samples than this at its peak is a pulse or square wave's plateau, not
# clipping (clipped at a tenth of its peak, a side of real music holds at most 71 % there, 14
# recordings; a square wave's sides 100 %, and declipping them had rebuilt every sample).
PLATEAU_SHARE = 0.8
# Dither written over clipped tops (16-bit, TPDF: ``degrade --task declip`` writes it) spreads
# them over a few steps of the grid either side of the level, where the tolerance (under one step
# at a 16-bit level under 0.3) took only those at the peak: 10.5 % of armygeddon_mix read as
# clipped against 32.9 % of its float version's (clipped at a quarter of its peak; 10 real mixes
# 2.2-12.6 % against 5.0-40.0 %, docs/results.md "Declip: dithered 16-bit tops"). On an
# integer grid the tops are the steps this close under the peak that each hold at least
# 1 / TOP_STEP_SHARE of the fullest one's samples, where together they hold PILE_UP times the
# samples of as many steps under them (clean tops, dithered or not, hold a few samples each).
# TPDF dither (-1..1 step) and the rounding put the tops on up to 4 steps; noise-shaped dither's
# error feedback spreads them further (6 held it in 9 of 10 mixes). The share and the pile-up
# are set by measurement, not derived: with them, 10 real mixes clipped at 25-95 % of their peak
# read as the float files do, and 396 clean cases (16-bit plain and TPDF, 8-bit) as before.
DITHER_STEPS = 6
TOP_STEP_SHARE = 32
PILE_UP = 8


@dataclass(frozen=True)
class SideLevels:
    """A level for each side of each channel: the positive peaks clipped at ``positive[c]``,
    the negative at ``-negative[c]`` (a magnitude), as a converter or an analogue stage clips
    the two sides apart (``--level auto`` finds them). One level for both leaves a side
    clipped (the higher side's) or rebuilds the other side's reliable samples (the lower's):
    SI-SDR 30.6 and 34.3 dB against 36.9, 22 real recordings clipped at +0.5 / -0.7 of the
    peak (``python -m bench.declip_sides``; docs/results.md "Declip: a level per side")."""

    positive: tuple[float, ...]
    negative: tuple[float, ...]


# One clipping level, one per channel, or one per side of each channel.
Levels = float | Sequence[float] | SideLevels


def clip_level_for_sdr(clean: np.ndarray, sdr_db: float) -> float:
    """The level whose clipping leaves ``clean`` at input SDR ``sdr_db`` (bisection; the SDR
    ``10 log10(||x||^2 / ||x - clip(x)||^2)`` rises monotonically with the level)."""
    x = np.abs(np.asarray(clean, np.float64)).ravel()
    energy = float(np.sum(x**2))
    low, high = 0.0, float(x.max())
    for _ in range(60):
        level = 0.5 * (low + high)
        error = float(np.sum(np.maximum(x - level, 0.0) ** 2))
        if error == 0 or 10 * np.log10(energy / error) > sdr_db:
            high = level
        else:
            low = level
    return high


def consistent_with_clipping(audio: np.ndarray, estimate: np.ndarray, level: Levels) -> np.ndarray:
    """float32 ``estimate`` in the clipped samples of ``audio``, held at or beyond ``level``
    (one, one per channel, or one per side: :func:`per_channel`) with their sign (what
    clipping leaves known), ``audio`` bit for bit elsewhere."""
    clipped = clipped_mask(audio, level)
    if isinstance(level, SideLevels):
        positive, negative = (per_channel(side, audio) for side in (level.positive, level.negative))
        floor = np.where(audio > 0, positive, negative)
    else:
        floor = per_channel(level, audio)
    beyond = np.sign(audio) * np.maximum(np.abs(estimate), floor)
    return np.where(clipped, beyond, audio).astype(np.float32)


def per_channel(level: float | Sequence[float], audio: np.ndarray) -> np.ndarray | float:
    """``level`` as a ``(channels, 1)`` column to compare with ``(channels, samples)`` audio
    when it holds one level per channel (``--level auto`` on channels clipped apart), else the
    one level as it is (so that one level computes exactly as it always did)."""
    if np.ndim(level) == 0:
        return float(level)
    return np.asarray(level, np.float64).reshape(-1, *([1] * (np.ndim(audio) - 1)))


def clipped_mask(audio: np.ndarray, level: Levels) -> np.ndarray:
    """True where ``audio`` is at (or beyond) its side's ``level`` (one, one per channel, or
    one per side), within ``LEVEL_TOLERANCE``; but in none of a channel that holds no run of
    ``MIN_RUN`` samples at its level, nor a flat run beyond it (clipped higher), while another
    channel does: its samples pass the level on their way to louder, unclipped peaks (one
    channel clipped, the other louder), and rebuilding them had wrecked that channel. So too a
    side of a channel whose samples pass its level with no such run while the other side holds
    one (the positive peaks clipped, the negative ones not)."""
    positive, negative = _sides(level, audio)
    high = audio >= positive * (1 - LEVEL_TOLERANCE)
    low = audio <= -negative * (1 - LEVEL_TOLERANCE)
    if audio.ndim == 2:
        runs_high, runs_low = _side_runs(audio, positive, 1.0), _side_runs(audio, negative, -1.0)
        runs = runs_high | runs_low
        if runs.any():
            high[~runs], low[~runs] = False, False
        high[~runs_high & runs_low & _passes(audio, positive, 1.0)] = False
        low[~runs_low & runs_high & _passes(audio, negative, -1.0)] = False
    return high | low


def _sides(level: Levels, audio: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """The positive and the negative side's level, each as :func:`per_channel` gives it."""
    if isinstance(level, SideLevels):
        return per_channel(level.positive, audio), per_channel(level.negative, audio)
    one = per_channel(level, audio)
    return one, one


def _side_runs(audio: np.ndarray, level: np.ndarray | float, sign: float) -> np.ndarray:
    """Per channel: whether its ``sign`` side holds a clipped run at ``level`` or beyond."""
    side = np.maximum(sign * audio, 0.0)
    runs = _runs_at(side, level) | _flat_runs_beyond(side, level)
    for channel, own in enumerate(side):  # dithered tops: runs over the steps above the level
        spread = DITHER_STEPS * _grid_step(own) / 2
        own_level = float(np.broadcast_to(level, (side.shape[0], 1))[channel, 0])
        runs[channel] |= bool(spread) and _runs_at(own[None], own_level + spread, spread)[0]
    return runs


def _passes(audio: np.ndarray, level: np.ndarray | float, sign: float) -> np.ndarray:
    """Per channel: whether its ``sign`` side holds a sample beyond ``level``'s tolerance."""
    return np.any(sign * audio > np.asarray(level) * (1 + LEVEL_TOLERANCE), axis=-1)


def detect_clip_level(audio: np.ndarray) -> float | None:
    """The clipping level of ``(channels, samples)`` audio, or None if it shows no clipping.

    A channel is clipped at its peak ``max |y|`` when it holds at least ``MIN_RUN`` consecutive
    samples there (an unclipped peak is one sample, rarely two); the level is the highest such
    peak, so that one channel clipped under another's louder, unclipped peak is found too. A
    channel whose peak lies more than ``CLIP_SPREAD_DB`` under the loudest channel's is not
    read: a near-silent channel's dither holds runs at its few-LSB peak, and that level had
    "declipped" the music in the other channel.
    """
    clipped = [level for level in clip_levels(audio) if level is not None]
    return max(clipped) if clipped else None


def clip_levels(audio: np.ndarray) -> list[float | None]:
    """Per channel of ``(channels, samples)`` audio, the level it is clipped at (the higher of
    its sides', :func:`side_clip_levels`), or None."""
    return [max(sides, key=lambda own: own or 0.0) for sides in side_clip_levels(audio)]


def side_clip_levels(audio: np.ndarray) -> list[tuple[float | None, float | None]]:
    """Per channel of ``(channels, samples)`` audio, the level its positive and its negative
    side are clipped at (the side's peak, held for ``MIN_RUN`` samples), each None where that
    side is not; channels more than ``CLIP_SPREAD_DB`` under the loudest are not read
    (:func:`detect_clip_level`)."""
    audio = np.atleast_2d(audio)
    if not audio.size:
        return []
    peaks = np.max(np.abs(audio), axis=1)
    lowest = float(peaks.max()) * 10 ** (-CLIP_SPREAD_DB / 20)
    return [
        (_side_level(channel, 1.0), _side_level(channel, -1.0))
        if peak > 0 and peak >= lowest else (None, None)
        for channel, peak in zip(audio, peaks, strict=True)
    ]  # fmt: skip


def _side_level(channel: np.ndarray, sign: float) -> float | None:
    """The level the ``sign`` side of 1-D ``channel`` is clipped at (its peak), or None."""
    side = np.maximum(sign * channel, 0.0)
    own = float(side.max())
    if own <= 0 or np.mean(side[side > 0] >= own * (1 - LEVEL_TOLERANCE)) > PLATEAU_SHARE:
        return None
    level = _dithered_tops(side, own)
    return level if _clipped_at(side, level, own) else None


def _dithered_tops(side: np.ndarray, own: float) -> float:
    """The lowest step of the dithered clipped tops under ``own``, the peak of 1-D ``side``
    (``DITHER_STEPS``), else ``own`` (also where the tolerance spans the dither: 24 bits, whose
    channels had come out a step apart)."""
    step = _grid_step(side)
    if DITHER_STEPS * step <= own * LEVEL_TOLERANCE:  # float, or the tolerance holds the dither
        return own
    steps_under = np.round((own - side) / step)
    counts = np.bincount(steps_under[steps_under < 2 * DITHER_STEPS].astype(int))
    counts = np.pad(counts, (0, 2 * DITHER_STEPS - counts.size))
    tops = np.flatnonzero(counts[:DITHER_STEPS] * TOP_STEP_SHARE >= counts.max())
    if not tops.size:  # fuller steps lie further under the peak (one sample over clipped tops)
        return own
    lowest = int(tops.max())
    held, under = counts[: lowest + 1].sum(), counts[lowest + 1 : 2 * lowest + 2].sum()
    if lowest == 0 or held < PILE_UP * (under + 1):
        return own
    # dither centres the tops on the level: as far under it as the peak is over, and a step more
    # for the rounding (a rarer step under the tops, left out, is an unclipped sample inside a
    # clipped run, and held there it had cost 1.3 dB of the restore)
    centre = np.average(np.arange(lowest + 1), weights=counts[: lowest + 1])
    return own - float(min(np.floor(2 * centre + 1), 2 * DITHER_STEPS - 1)) * step


def auto_levels(
    audio: np.ndarray,
) -> tuple[float, tuple[float, ...] | None, tuple[float, ...] | None] | None:
    """What ``--level auto`` resolves to for ``(channels, samples)`` audio: the highest level
    (:func:`detect_clip_level`); the level of each channel where they differ, else None (one
    level, as declip always took it); and each channel's negative side's, where a side is
    clipped apart from the other (the first tuple then holds the positive sides'), else None.
    A channel clipped under another's level is declipped too (two tracks clipped apart, then
    mixed; a pan after the clipping); a channel with none takes the highest, a side with none
    its other side's, where :func:`clipped_mask` leaves it as it is unless it holds a run
    there. None if no channel shows clipping."""
    found = side_clip_levels(audio)
    highest = max((own for sides in found for own in sides if own is not None), default=None)
    if highest is None:
        return None
    positive, negative = zip(*(_one_or_two(*sides, highest) for sides in found), strict=True)
    apart = len(set(positive + negative)) > 1
    return highest, (positive if apart else None), (negative if positive != negative else None)


def _one_or_two(positive: float | None, negative: float | None, highest: float) -> tuple:
    """A channel's ``(positive, negative)`` level to declip at from its sides' clipping levels:
    one level where the sides are clipped alike (16-bit full scale: 32767 and -32768 steps) or
    one side alone, ``highest`` where neither is."""
    if positive is None or negative is None:
        one = positive or negative or highest
        return one, one
    if abs(positive - negative) <= max(positive, negative) * LEVEL_TOLERANCE:
        return (max(positive, negative),) * 2
    return positive, negative


def levels_to_declip(
    level: float, channel_levels: Sequence[float] | None, negative_levels: Sequence[float] | None
) -> Levels:
    """The levels a declip takes from a level, its ``channel_levels`` and ``negative_levels``
    (what :func:`auto_levels` gives, and a declip's fields): one per side of each channel where
    the negative sides' are given, else one per channel where those are, else the one."""
    if channel_levels and negative_levels:
        return SideLevels(tuple(channel_levels), tuple(negative_levels))
    return tuple(channel_levels) if channel_levels else level


def levels_found(
    channel_levels: Sequence[float] | None, negative_levels: Sequence[float] | None
) -> dict[str, list[float]]:
    """The levels found per channel (and side), as a job's details and diagnose give them:
    ``channel_levels`` and ``negative_levels``, each where there are (exactly as read: a preset
    written from them declips as ``--level auto`` does)."""
    found = {CHANNEL_LEVELS: [float(own) for own in channel_levels or ()]}
    found[NEGATIVE_LEVELS] = [float(own) for own in negative_levels or ()]
    return {key: levels for key, levels in found.items() if levels}


def each_channel(level: float | Sequence[float], channels: int) -> np.ndarray:
    """``level`` (one, or one per channel) as one level per channel, ``(channels,)``."""
    return np.broadcast_to(np.asarray(level, np.float64), (channels,))


def side_levels(level: Levels, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``level`` (one, one per channel, or one per side) as each channel's positive and
    negative side's level, two ``(channels,)`` arrays."""
    if isinstance(level, SideLevels):
        return each_channel(level.positive, channels), each_channel(level.negative, channels)
    return each_channel(level, channels), each_channel(level, channels)


def clipped_lower(audio: np.ndarray, level: Levels) -> list[tuple[int, float, float]]:
    """The channels a declip at ``level`` (one, or one per channel) leaves as they are although
    they are clipped, at a level of their own under it (a channel clipped lower than another
    when one level is given): ``[(channel, its level, the level declipped at), ...]``."""
    audio = np.atleast_2d(audio)
    mask = clipped_mask(audio, level)
    given = np.maximum(*side_levels(level, audio.shape[0]))
    return [
        (channel, own, float(given[channel])) for channel, own in enumerate(clip_levels(audio))
        if own is not None and own < given[channel] * (1 - LEVEL_TOLERANCE)
        and not mask[channel].any()
    ]  # fmt: skip


def one_side_under(audio: np.ndarray, level: Levels) -> list[tuple[int, str, float]]:
    """The polarities a declip at ``level`` leaves clipped: a side of a channel clipped
    (:func:`side_clip_levels`) under its side's level, as a converter or a limiter clipping the
    two sides apart leaves it under one level given for both. ``[(channel, "positive" or
    "negative", its level), ...]`` (a user trial: +0.5 and -0.7 of the peak)."""
    given = side_levels(level, np.atleast_2d(audio).shape[0])
    return [
        (channel, side, own)
        for channel, sides in enumerate(side_clip_levels(audio))
        for side, own, side_given in zip(("positive", "negative"), sides, given, strict=True)
        if own is not None and own < side_given[channel] * (1 - LEVEL_TOLERANCE)
    ]


def _clipped_at(channel: np.ndarray, level: float, top: float) -> bool:
    """Whether 1-D ``channel`` holds a run of ``MIN_RUN`` samples at ``level`` (up to ``top``,
    its dithered tops' highest step) that is clipping rather than a smooth crest: flat within
    ``FLOAT_FLAT`` (float); on a grid, a run with a sample beside it under a crest's fall
    (``CREST_FALL``), or one of the samples piled up at the level (``PILE_UP``)."""
    middle, spread = (level + top) / 2, (top - level) / 2
    if not _runs_at(channel[None], middle, spread + level * LEVEL_TOLERANCE)[0]:
        return False
    step = _grid_step(channel)
    if not step:
        return bool(_runs_at(channel[None], middle, spread + level * FLOAT_FLAT)[0])
    band = FLAT_STEPS * step if step <= level * LEVEL_TOLERANCE else level * LEVEL_TOLERANCE
    magnitude, last = np.abs(channel), channel.size - 1
    at = np.abs(magnitude - middle) <= spread + band
    first, stop = run_edges(at)
    long_enough = stop - first >= MIN_RUN
    first, stop = first[long_enough], stop[long_enough]
    beside = np.minimum(magnitude[np.maximum(first - 1, 0)], magnitude[np.minimum(stop, last)])
    if step > 2.0 ** (1 - CREST_BITS):
        return bool(np.any(level - beside > GRID_STEPS_BESIDE * step))
    bottom = middle - spread - band
    crest = bottom - CREST_FALL * (band + FLAT_STEPS * step)  # a crest's samples beside: over
    if np.any(beside < crest):
        return True
    under = np.count_nonzero((magnitude < bottom) & (magnitude >= crest))
    return bool(first.size) and crest > 0 and np.count_nonzero(at) >= PILE_UP * (under + 1)


def _grid_step(channel: np.ndarray) -> float:
    """The step of the coarsest integer grid in ``GRID_BITS`` that every sample of 1-D
    ``channel`` lies on (as read from such a file), else 0."""
    for bits in GRID_BITS:
        scaled = channel * float(2 ** (bits - 1))
        if np.array_equal(scaled, np.round(scaled)):
            return 2.0 ** (1 - bits)
    return 0.0


def _flat_runs_beyond(audio: np.ndarray, level: float) -> np.ndarray:
    """Per channel: whether it holds ``MIN_RUN`` consecutive samples of one magnitude, exactly,
    beyond ``level`` (a channel clipped higher than the level given: its flat tops)."""
    magnitude = np.abs(audio)
    same = (magnitude[:, 1:] == magnitude[:, :-1]) & (magnitude[:, 1:] > level)
    run = same[:, : same.shape[1] - MIN_RUN + 2].copy()
    for shift in range(1, MIN_RUN - 1):  # MIN_RUN samples: MIN_RUN - 1 equal steps in a row
        run &= same[:, shift : same.shape[1] - MIN_RUN + 2 + shift]
    return run.any(axis=1)


def _runs_at(audio: np.ndarray, level: float, within: float | None = None) -> np.ndarray:
    """Per channel of ``(channels, samples)`` ``audio``: whether it holds ``MIN_RUN``
    consecutive samples at ``level`` (within ``LEVEL_TOLERANCE`` of it either side, or an
    amplitude ``within``)."""
    magnitude = np.abs(audio)
    within = level * LEVEL_TOLERANCE if within is None else within
    mask = (magnitude >= level - within) & (magnitude <= level + within)
    run = mask[:, : mask.shape[1] - MIN_RUN + 1].copy()
    for shift in range(1, MIN_RUN):  # run[n]: samples n .. n + MIN_RUN - 1 all at the level
        run &= mask[:, shift : mask.shape[1] - MIN_RUN + 1 + shift]
    return run.any(axis=1)
