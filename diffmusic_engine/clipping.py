"""Clipping in audio: the level it happened at and the samples it left at that level.

NumPy only: ``restore --level auto``, the damage report and the dsp declipper read clipping
without torch; :class:`~diffmusic_engine.operators.declip.ClipOperator` (the forward model
``T(x) = clip(x, -theta, theta)``) takes its tolerance from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffmusic_engine.silence import runs_of

LEVEL_TOLERANCE = 1e-4  # a sample within this fraction of the level counts as clipped
MIN_RUN = 3  # clipping shows as at least this many consecutive samples at the level
CLIP_SPREAD_DB = 20.0  # channels whose peak is this far under the loudest's are not read for it
# A quiet 16-bit recording's own peak can sit on one step of the grid for three samples (a
# -30 dBFS peak is some 1000 steps high, its top within 0.1 step of it for a sample either
# side): read as clipping, 3 of 112 clean excerpts at -30 and -40 dBFS. Clipping cuts into a
# slope, so on such a grid a run is clipping where a sample beside it lies more than this many
# steps under its level (clean tops: 1-2 steps; clipped real music: none of its runs).
GRID_STEPS_BESIDE = 2
GRID_BITS = (8, 16)  # the integer formats whose grid is coarse against a quiet peak
Levels = float | Sequence[float]  # one clipping level, or one per channel


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
    (one, or one per channel: :func:`per_channel`) with their sign (what clipping leaves
    known), ``audio`` bit for bit elsewhere."""
    clipped = clipped_mask(audio, level)
    beyond = np.sign(audio) * np.maximum(np.abs(estimate), per_channel(level, audio))
    return np.where(clipped, beyond, audio).astype(np.float32)


def per_channel(level: Levels, audio: np.ndarray) -> np.ndarray | float:
    """``level`` as a ``(channels, 1)`` column to compare with ``(channels, samples)`` audio
    when it holds one level per channel (``--level auto`` on channels clipped apart), else the
    one level as it is (so that one level computes exactly as it always did)."""
    if np.ndim(level) == 0:
        return float(level)
    return np.asarray(level, np.float64).reshape(-1, *([1] * (np.ndim(audio) - 1)))


def clipped_mask(audio: np.ndarray, level: Levels) -> np.ndarray:
    """True where ``|audio|`` is at (or beyond) ``level`` (one, or one per channel), within
    ``LEVEL_TOLERANCE``; but in none of a channel that holds no run of ``MIN_RUN`` samples at
    its level, nor a flat run beyond it (clipped higher), while another channel does: its
    samples pass the level on their way to louder, unclipped peaks (one channel clipped, the
    other louder), and rebuilding them had wrecked that channel."""
    column = per_channel(level, audio)
    mask = np.abs(audio) >= column * (1 - LEVEL_TOLERANCE)
    if mask.ndim == 2:
        runs = _runs_at(audio, column) | _flat_runs_beyond(audio, column)
        if runs.any():
            mask[~runs] = False
    return mask


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
    """Per channel of ``(channels, samples)`` audio, the level it is clipped at (its peak, held
    for ``MIN_RUN`` samples), or None; channels more than ``CLIP_SPREAD_DB`` under the loudest
    are not read (:func:`detect_clip_level`)."""
    audio = np.atleast_2d(audio)
    if not audio.size:
        return []
    peaks = np.max(np.abs(audio), axis=1)
    lowest = float(peaks.max()) * 10 ** (-CLIP_SPREAD_DB / 20)
    return [
        float(peak) if peak > 0 and peak >= lowest and _clipped_at(channel, float(peak)) else None
        for channel, peak in zip(audio, peaks, strict=True)
    ]  # fmt: skip


def auto_levels(audio: np.ndarray) -> tuple[float, tuple[float, ...] | None] | None:
    """What ``--level auto`` resolves to for ``(channels, samples)`` audio: the highest level
    (:func:`detect_clip_level`), and the level of each channel (:func:`clip_levels`) where they
    differ, else None (one level, as declip always took it): a channel clipped under another's
    level is then declipped too (two tracks clipped apart, then mixed; a pan after the
    clipping); a channel with none takes the highest, where :func:`clipped_mask` leaves it as
    it is unless it holds a run there. None if no channel shows clipping."""
    levels = clip_levels(audio)
    found = [own for own in levels if own is not None]
    if not found:
        return None
    each = tuple(max(found) if own is None else own for own in levels)
    return max(found), (each if len(set(each)) > 1 else None)


def each_channel(level: Levels, channels: int) -> np.ndarray:
    """``level`` (one, or one per channel) as one level per channel, ``(channels,)``."""
    return np.broadcast_to(np.asarray(level, np.float64), (channels,))


def clipped_lower(audio: np.ndarray, level: Levels) -> list[tuple[int, float, float]]:
    """The channels a declip at ``level`` (one, or one per channel) leaves as they are although
    they are clipped, at a level of their own under it (a channel clipped lower than another
    when one level is given): ``[(channel, its level, the level declipped at), ...]``."""
    audio = np.atleast_2d(audio)
    mask = clipped_mask(audio, level)
    given = each_channel(level, audio.shape[0])
    return [
        (channel, own, float(given[channel])) for channel, own in enumerate(clip_levels(audio))
        if own is not None and own < given[channel] * (1 - LEVEL_TOLERANCE)
        and not mask[channel].any()
    ]  # fmt: skip


def one_side_under(audio: np.ndarray, level: Levels) -> list[tuple[int, str, float]]:
    """The polarities a declip at ``level`` (one, or one per channel) leaves clipped: a side of
    a channel whose own peak holds a clipped run (:func:`_clipped_at`) under the level, as a
    converter or a limiter clipping the two sides apart leaves it. ``[(channel, "positive" or
    "negative", its level), ...]``: declip takes one level for both sides (a user trial: +0.5
    and -0.7 of the peak, auto declipped the negative side alone)."""
    audio = np.atleast_2d(audio)
    found = []
    for channel, (samples, given) in enumerate(zip(audio, each_channel(level, len(audio)),
                                                   strict=True)):  # fmt: skip
        for sign, side in ((1.0, "positive"), (-1.0, "negative")):
            one_side = np.maximum(sign * samples, 0.0)
            own = float(one_side.max())
            if 0 < own < given * (1 - LEVEL_TOLERANCE) and _clipped_at(one_side, own):
                found.append((channel, side, own))
    return found


def _clipped_at(channel: np.ndarray, level: float) -> bool:
    """Whether 1-D ``channel`` holds a run of ``MIN_RUN`` samples at ``level`` that is
    clipping rather than its integer grid's rounding of a peak (``GRID_STEPS_BESIDE``)."""
    if not _runs_at(channel[None], level)[0]:
        return False
    step = _grid_step(channel)
    if step <= level * LEVEL_TOLERANCE:  # the grid is finer than the tolerance: runs are flat
        return True
    magnitude = np.abs(channel)
    at = np.abs(magnitude - level) <= level * LEVEL_TOLERANCE
    last = channel.size - 1
    return any(
        level - min(magnitude[max(first - 1, 0)], magnitude[min(stop, last)])
        > GRID_STEPS_BESIDE * step
        for first, stop in runs_of(at) if stop - first >= MIN_RUN
    )  # fmt: skip


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


def _runs_at(audio: np.ndarray, level: float) -> np.ndarray:
    """Per channel of ``(channels, samples)`` ``audio``: whether it holds ``MIN_RUN``
    consecutive samples at ``level`` (within ``LEVEL_TOLERANCE`` either side, not beyond)."""
    magnitude = np.abs(audio)
    mask = (magnitude >= level * (1 - LEVEL_TOLERANCE)) & (
        magnitude <= level * (1 + LEVEL_TOLERANCE)
    )
    run = mask[:, : mask.shape[1] - MIN_RUN + 1].copy()
    for shift in range(1, MIN_RUN):  # run[n]: samples n .. n + MIN_RUN - 1 all at the level
        run &= mask[:, shift : mask.shape[1] - MIN_RUN + 1 + shift]
    return run.any(axis=1)
