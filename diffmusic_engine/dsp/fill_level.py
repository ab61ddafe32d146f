"""The level of a filled dropout against the music on both sides of it: a fill far under both is
raised to within ``FAR_DB`` of the quieter side (an AR fill to ``AR_FAR_DB``, and then not said
where the gap is one the AR fills by default), a half of one far under the side beside it to within
``FAR_DB`` of that side, and said (a copy from a song's fading end, its gain at the pattern fill's
12 dB limit, had filled a 2 s dropout 34 dB under the music it replaced without a word; a copy of a
trumpet note that dies away had left the second half of a 1 s dropout at -60 dBFS between sides at
-34 and -44; a copy with no note in it had left the second half of a 100 ms dropout at an onset 14
dB under the note after it). A fill far over both is left, unsaid, but for a steady pattern fill of
a short gap: held to ``HELD_DB`` over the louder side (:func:`_held`).

Measured on 476 random dropouts of 0.1-2 s per channel in ten real recordings (the two shared
mixes and eight other kinds; ``python -m bench.fill_level``, docs/results.md "A fill's level
beside its gap"), against the ``SIDE_SECONDS`` either side of the gap: no music lay more than
8 dB under the quieter side (2 more than 6 dB), while it lay more than 6 dB over the louder side
in 16, by up to 22 dB (a chord or a drum hit inside, quiet on both sides). Raised to ``FAR_DB``
under the quieter side, the six fills 12-30 dB too quiet came within 5.6-7.3 dB of the music;
lowered to ``FAR_DB`` over the louder side (tried), 6 of the 10 fills over it were made 2-5 dB
worse (drum hits). Said (tried), a fill over the louder side was too loud (6 dB over the music)
in 3 of 12 gaps (there and in a user trial's 104 dropouts), and no better told by the passage
copied standing as far over its own sides (2 of 6): so it is not said
(docs/results.md "A fill's level beside its gap: halves, and no warning over"); nor by the
level context it copied (docs/results.md "... the side beside a half, and AR fills").
"""

from __future__ import annotations

import numpy as np

SIDE_SECONDS = 0.05  # the music either side of the gap that a fill's level is compared with
# A fill further than this (dB) under the quieter side in a channel is raised to it (the random
# dropouts above: no music 8 dB under the quieter side; a user trial's 104 dropouts in ten real
# mixes, docs/results.md "A fill's level beside its gap: brought back": the 20 ms AR fills 7-10
# dB under both sides were 5.6-8.4 dB under the music)
FAR_DB = 6.0
# A half of a fill (gaps from two ``SIDE_SECONDS``) further than this (dB) under the side beside
# it, and ``FAR_DB`` under the line from side to side, is raised to ``FAR_DB`` under that side.
# Against the quieter side, the music itself lay so far under in a half of 2 of the 476 random
# channel-gaps and 6 of the trial's 138 from 100 ms (in a 50 ms stretch of 66 and 29: a beat's
# decay, so halves), fills in 6 and 2 (copies dying away; docs/results.md "A fill's level beside
# its gap: halves, and no warning over"). Against the side beside it, fills at onsets too (the
# side before quiet, the note after): 5 random gaps and the trial's trumpet 100 ms; the line
# spares one of them, a drum hit's decay towards the next note, which the side alone raised 3
# dB over the music (docs/results.md "... the side beside a half, and AR fills")
DIP_DB = 10.0
# An AR fill (edges kept) further than this (dB) under the quieter side is raised to it: the AR
# estimate, the music's expected course from both sides, leaves out what they cannot predict,
# more towards the gap's middle (0.6 dB under the music at 12 ms, 2.0 at 24 ms: median of 480
# random channel-gaps in ten real mixes). Raised to 3 dB under, 58 of their 240 gaps came closer
# to the music, none further in log-mel; to 0 dB, 10 went further (by up to 0.32). The music lay
# at most 4.7 dB under the quieter side (0.5 %: 3.7 dB). Said only where it stays ``FAR_DB``
# under after that (left past ``MOST_DB``, or held by the audio's peak): said from ``FAR_DB``
# under before the raise, the warning named 33 of 240 random 20 ms dropouts in ten real mixes
# (26 of the 48 in the two rock mixes), their fills no poorer than those it did not name in the
# same songs (log-mel over the gap +-50 ms, median 1.00 against 1.19; level error after the
# raise -0.3..-6.4 dB; docs/results.md "A 20 ms fill raised, not warned of"). Only there, in a
# gap the AR fills by default (``short_ar``): of 40 100 ms AR fills (``pattern_from`` raised),
# the 14 it names, raised from 6.8-20.5 dB under, are the poorer (log-mel median 8.8 against 3.2
# for those it does not), and are said (docs/results.md "... but not of a longer gap")
AR_FAR_DB = 3.0
# Gaps shorter than this (s) are left as filled: an AR fill of a few ms meets the samples beside
# it, and a part of one period of the music holds none of its level (a 0.5 ms gap at a zero
# crossing of a 100 Hz tone lies 40 dB under its sides, rightly)
SHORTEST = 0.01
# A fill further than this (dB) under the quieter side, or a half under the side beside it (the
# side it would be raised to), holds no music to raise, and is left (said): a copy of a loop's
# stop (dither at -90 dBFS, 60 dB under its sides) had been raised 54 dB into a noise burst
# (log-mel 8.6 -> 22.1); the farthest rightly raised of the 476 lay 37.6 dB under (a trumpet
# note's end, raised 31.6 dB)
MOST_DB = 45.0
HALVES = ("first half", "second half")  # a half's ``part`` in details.fill_levels
# A pattern fill of a gap from two ``SIDE_SECONDS`` up to ``HELD_LONGEST`` (s: the 0.25 s level
# contexts, a 250 ms dropout's ends rounded to samples either way) whose ``HELD_FRAME`` stretches
# (s) all lie within ``STEADY_DB`` of each other, in every channel, is held, stretch by stretch,
# to ``HELD_DB`` over each channel's louder side: music going on, copied at the level of
# contexts that reach past a quiet moment the 50 ms beside the gap hold (a user trial's ragtime,
# vibes and brahms 250 ms dropouts, +15.9 / +14.1 / +9.4 dB over the music). A drum hit or a
# note's attack copied into the gap is no steady fill and is left (held without that test, a
# right drums+bass 250 ms fill fell from 2.2 dB over the music to 10.6 under it); so is a copy
# steady in one channel and not in another (:func:`_steady`). Nothing beside the gap tells a
# quiet moment from a note starting in it, filled steady at the louder side's level: held at
# 0 dB over (tried), such fills went 1-2 dB further under the music; at 3 dB, 0.2-0.4, and with
# a drum hit 30-60 ms into a 250 ms gap (its sides quiet), 8 of 60 fills already under went
# 0-1.6 further (docs/results.md "A fill's level in a quiet moment: held at the louder side",
# "... the channels held together")
HELD_DB = 3.0
STEADY_DB = 6.0
HELD_FRAME = 0.025
HELD_LONGEST = 0.26


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
    halves: bool = False,
    peaks: np.ndarray | None = None,
    frame: int = 0,
    short_ar: bool = False,
) -> tuple[list[np.ndarray], list | None]:
    """``estimates`` (one per channel, their samples ``inside`` the gap), each channel whose
    fill lies more than ``FAR_DB`` under the quieter of its ``sides`` (mean squares, NaN: not
    known) raised to ``FAR_DB`` under it; then, ``halves`` (a gap of two sides' length or more),
    each half of it far under the side beside it raised to ``FAR_DB`` under that side
    (:func:`_halves_raised`). A silent or unknown side sets no bound. ``edges_kept``: the
    estimate meets the samples beside the gap (an AR fill), its gain raised in a bump that is 1
    at the edges, to ``AR_FAR_DB`` under the quieter side (said from ``FAR_DB`` under; with
    ``short_ar``, a gap the AR fills by default, only where it stays ``FAR_DB`` under: left, or
    held by ``peaks``), its halves said only; ``peaks``: per channel, the level a raised fill is
    clipped at (the audio's peak); ``frame``: a fill's stretches of this many samples held to
    ``HELD_DB`` over the louder side where every channel's lie within ``STEADY_DB`` of each
    other (:func:`_held`, :func:`_steady`; 0: not held). With them, the
    part of the channel that lay farthest under, ``[part, fill, before, after, written]``
    (``part``: ``"whole"``, ``"first half"`` or ``"second half"``; that part's levels in dB,
    ``None``: a side not known), if any; else ``None``."""
    out, farthest, worst = [], 0.0, None
    held = frame and _steady(estimates, inside, frame)  # one copy: all its channels or none
    for channel, (estimate, power) in enumerate(zip(estimates, sides, strict=True)):
        peak = peaks[channel] if peaks is not None else np.inf
        scaled, told = _channel_brought_back(
            estimate, inside, power, peak, edges_kept=edges_kept, halves=halves,
            frame=frame if held else 0, short_ar=short_ar,
        )  # fmt: skip
        out.append(scaled)
        for far, part in told:
            if far > farthest:
                farthest, worst = far, part
    return out, worst


def _channel_brought_back(
    estimate: np.ndarray,
    inside: slice,
    power: np.ndarray,
    peak: float,
    *,
    edges_kept: bool,
    halves: bool,
    frame: int,
    short_ar: bool,
) -> tuple[np.ndarray, list[tuple[float, list]]]:
    """One channel's ``estimate`` brought back as :func:`bring_back` brings each back
    (``power``: its sides' mean squares; ``peak``: the level a raised fill is clipped at;
    ``frame``: 0, not held), and the parts of it said: ``(far, [part, fill, before, after,
    written])``, ``far`` dB under the side it was compared with."""
    known = power[~np.isnan(power)]
    if not known.size or known.min() <= 0:
        return estimate, []
    low, most, aim = (
        known.min() * 10 ** (-db / 10)
        for db in (FAR_DB, MOST_DB, AR_FAR_DB if edges_kept else FAR_DB)
    )
    fill = _mean_square(estimate[inside])
    scaled, found = estimate, []
    if most < fill < aim:  # said only from FAR_DB under
        scaled = np.clip(_scaled(estimate, inside, aim, edges_kept), -peak, peak)
    # a half is compared with the side beside it (the quieter where that one is not known)
    nearer = np.where(np.isnan(power), known.min(), power)  # known: all above 0
    if halves:  # a half ranked at its level after the whole's raise, said as it came out
        scaled, found = _halves_raised(scaled, inside, nearer, edges_kept, peak)
        came = dict(zip(HALVES, _halves(estimate[inside]), strict=True))
        found = [(part, level, written, came[part]) for part, level, written in found]
    if frame:
        scaled = _held(scaled, inside, known.max() * 10 ** (HELD_DB / 10), frame)
    written = _mean_square(scaled[inside])  # the whole, its halves raised as well
    # a short AR fill raised back to within FAR_DB is the AR's own shortfall made good
    # (unsaid: no poorer than the fills not raised, AR_FAR_DB); said where it stays under
    if fill < low and not (edges_kept and short_ar and written >= low):
        found.append(("whole", fill, written, fill))
    told = []
    for part, level, written, said in found:
        beside = known.min() if part == "whole" else nearer[HALVES.index(part)]
        far = 10 * np.log10(beside / max(level, 1e-30))
        told.append((far, [part, *(_db(v) for v in (said, *power, written))]))
    return scaled, told


def _halves_raised(
    estimate: np.ndarray,
    inside: slice,
    nearer: np.ndarray,
    edges_kept: bool,
    peak: float,
) -> tuple[np.ndarray, list]:
    """``estimate`` with each half of it ``inside`` that lies more than ``DIP_DB`` under the
    mean square of its ``nearer`` side (the first half's before the gap, the second's after)
    and more than ``FAR_DB`` under the line from side to side (in dB, at the half's middle)
    raised to ``FAR_DB`` under its nearer side (``edges_kept``: left; one more than ``MOST_DB``
    under it: no music, left), and ``[(part, level, written), ...]`` of those halves (``level``: as
    ``estimate`` holds it). The line spares a half beside a loud side that the music fell
    towards from a silent one (a drum's decay, a loud note starting at the gap's end). The
    gain rises from 1 at the gap's middle over the half's inner half, so the two halves still
    meet there as the passage copied did, and holds on past the gap's edge."""
    x = estimate[inside].astype(np.float64)
    h = x.size // 2
    levels = _halves(x)
    line = np.sqrt(nearer * np.sqrt(nearer * nearer[::-1]))  # at a quarter and three quarters
    dips = np.minimum(nearer * 10 ** (-DIP_DB / 10), line * 10 ** (-FAR_DB / 10))
    mosts = nearer * 10 ** (-MOST_DB / 10)  # (a copied stop's dither beside a loud side)
    if all(level >= dip for level, dip in zip(levels, dips, strict=True)):
        return estimate, []
    out = estimate
    if not edges_kept:
        out = estimate.astype(np.float64)
        for span, level, inward, dip, side, most in (
            (slice(0, h), levels[0], False, dips[0], nearer[0], mosts[0]),
            (slice(h, None), levels[1], True, dips[1], nearer[1], mosts[1]),
        ):
            if most < level < dip:
                ramp = np.clip((np.arange(x[span].size) + 0.5) / (x[span].size / 2), 0, 1)
                gain = _rising(x[span], ramp if inward else ramp[::-1], side * 10 ** (-FAR_DB / 10))
                out[inside][span] = np.clip(x[span] * gain, -peak, peak)
                # the crossfade beyond the gap's edge goes on at the edge's gain (no step there)
                beyond = slice(inside.stop, None) if inward else slice(0, inside.start)
                out[beyond] = np.clip(out[beyond] * gain[-1 if inward else 0], -peak, peak)
    parts = zip(HALVES, levels, _halves(out[inside]), dips, strict=True)
    return out, [(part, level, written) for part, level, written, dip in parts if level < dip]


def _held(estimate: np.ndarray, inside: slice, ceiling: float, frame: int) -> np.ndarray:
    """``estimate`` with each stretch of about ``frame`` samples ``inside`` it whose mean square
    lies over ``ceiling`` lowered to it. The gain moves linearly between the stretches' middles
    and holds on past the gap's edges into the crossfade (no step there)."""
    x = estimate[inside].astype(np.float64)
    edges, levels = _stretches(x, frame)
    if levels.max() <= ceiling:
        return estimate
    middles = (edges[:-1] + edges[1:]) / 2
    gain = np.interp(np.arange(x.size) + 0.5, middles, np.sqrt(np.minimum(1.0, ceiling / levels)))
    out = estimate.astype(np.float64)
    out[inside] = x * gain
    out[: inside.start] *= gain[0]
    out[inside.stop :] *= gain[-1]
    return out


def _steady(estimates: list[np.ndarray], inside: slice, frame: int) -> bool:
    """Whether the stretches of about ``frame`` samples ``inside`` each of ``estimates`` (one per
    channel, a silent one aside) all lie within ``STEADY_DB`` of each other, none silent: the
    channels of one copy are held together or not at all (one held beside another's copied hit
    had moved a 48 kHz vibes fill's image 8.3 dB towards that other channel)."""
    playing = [x for x in estimates if np.any(x[inside])]
    levels = [_stretches(np.asarray(x[inside], dtype=np.float64), frame)[1] for x in playing]
    return bool(playing) and all(
        level.min() > 0 and level.max() <= level.min() * 10 ** (STEADY_DB / 10) for level in levels
    )


def _stretches(x: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges of ``x``'s stretches of about ``frame`` samples and their mean squares."""
    edges = np.linspace(0, x.size, max(1, round(x.size / frame)) + 1).astype(int)
    levels = np.array([_mean_square(x[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return edges, levels


def _halves(x: np.ndarray) -> list[float]:
    """The mean squares of the first and the second half of ``x`` (the second the longer)."""
    h = x.size // 2
    return [_mean_square(x[:h]), _mean_square(x[h:])]


def _rising(x: np.ndarray, ramp: np.ndarray, target: float) -> np.ndarray:
    """The gain ``g ** ramp`` that brings the mean square of ``x`` times it to ``target``."""
    power, low, high = x * x, 0.0, 30.0  # log g, bisected
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (
            (middle, high) if np.mean(power * np.exp(2 * middle * ramp)) < target else (low, middle)
        )
    return np.exp(high * ramp)


def _mean_square(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


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
