"""Inpainting gaps: AR interpolation for short gaps, a pattern fill (:mod:`.pattern`) for long ones.

Janssen-style AR interpolation is the best known method up to ~50-80 ms (Mokry & Rajmic 2024) but
decays towards silence inside longer gaps; copying a matching passage of the song does not. The
switch length ``pattern_from`` is measured (see ``OPTIONS``); the AR interpolation (Janssen,
Veldhuis & Vries, 1986) is :func:`.ar.interpolate`.

The AR estimate meets the samples beside the gap by construction, and only the gap is filled.
Where a passage is copied in (the pattern fill), the ``crossfade`` samples at each edge of its gap
are re-estimated with it and blended from the original (outside) to the estimate (inside) with a
raised cosine, so that every sample farther than ``crossfade`` from a gap is bit-identical to the
input. (The AR fill had re-estimated them too, each gap then a wider one to solve: on 14 real
recordings 3.7 dB less SNR in a 1 ms gap, 1.0-1.2 dB at 5-10 ms; docs/results.md "Short gaps:
the AR fill alone".) A gap at the very start or end of the audio has context on one side only;
there the least-squares solution is plain AR extrapolation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from diffmusic_engine.backends import FILL_LEVELS, REGIONS
from diffmusic_engine.damage import Inpaint, gap_samples
from diffmusic_engine.diagnose.spans import seconds_text
from diffmusic_engine.dsp import fill_level, pattern
from diffmusic_engine.dsp.ar import interpolate
from diffmusic_engine.dsp.options import Option, parse_options
from diffmusic_engine.errors import DamageError
from diffmusic_engine.longform.windows import taper
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.rates import order_at
from diffmusic_engine.silence import digital_silence

FillError = Callable[[np.ndarray, int, int], tuple[float, bool]]  # restore_inpaint's fill_error
# restore_inpaint's evidence: one for all gaps, or (x, first, stop)
Evidence = float | Callable[[np.ndarray, int, int], float]

OPTIONS = {
    # AR order p; 0 = about 11.6 ms of samples (512 at 44.1 kHz)
    "order": Option(default=0, low=0, high=8192, integer=True),
    "iterations": Option(default=3, low=1, high=20, integer=True),  # Janssen iterations
    # context on each side: max(context * unknown length, 2 * order), in samples
    "context": Option(default=4.0, low=1.0, high=20.0),
    # gaps at least this long (s, the user's gap) get the pattern fill, shorter ones AR.
    # Measured by region LSD (AudioSR, gap +- 50 ms) over 16 positions in the two real mixes of
    # the project's test audio, AR / pattern: 5 ms 0.256 / 0.342, 10 ms 0.327 / 0.391,
    # 20 ms 0.462 / 0.458, 30 ms 0.581 / 0.492, 60 ms 1.232 / 0.660, 100 ms 2.532 / 0.846.
    "pattern_from": Option(default=0.025, low=0.0, high=3600.0),
    # ... and gaps at the audio's very start or end (context on one side only) from this long:
    # AR extrapolation from one side decays (20 ms gaps in six real mixes, AR / pattern: level
    # -6.2 / +0.4 dB at the start, -7.9 / +0.4 dB at the end; docs/results.md "Dropouts at a
    # file's ends")
    "pattern_from_edge": Option(default=0.005, low=0.0, high=3600.0),
    # pattern fill: context matched on each side (s), passages ranked, NCC window at each edge (s)
    "match_context": Option(default=1.0, low=0.05, high=30.0),
    # pattern fill: context on each side whose level the fill takes (s; at most match_context).
    # Measured (docs/results.md "Dropouts in a quiet passage"): over the whole 1 s, a dropout in
    # a quiet passage 1.5 s long took the level of the loud music around it (+16 dB at -20 dB)
    "level_context": Option(default=0.25, low=0.01, high=30.0),
    "candidates": Option(default=8, low=1, high=100, integer=True),
    "edge": Option(default=0.02, low=0.002, high=0.5),
    # refuse a gap whose best passage's context features correlate less than this with the
    # gap's (details "similarity", a correlation in [-1, 1]); off by default (-1: nothing is
    # refused for it), as it does not separate repeats reliably: it ranks fills (AUC 0.8-0.9 for
    # the poor ones) but where "poor" begins differs from song to song (docs/results.md "Telling
    # a poor long-gap fill")
    "min_similarity": Option(default=-1.0, low=-1.0, high=1.0),
}
# the gap lengths the AR fills with no option given (:func:`by_pattern`)
DEFAULT_SWITCH = {name: OPTIONS[name].default for name in ("pattern_from", "pattern_from_edge")}
AUTO_ORDER = 512  # the AR order at 44.1 kHz when none is given (order_at scales it)
COMPOSITE_RAMP = 0.02  # s from the best passage's own samples at a splice to the composite


@dataclass(frozen=True)
class Region:
    """Samples ``[first, stop)`` to re-estimate: the user's gaps ``[gap_first, gap_stop)``
    (merged where they or their crossfades overlap) widened by the crossfade at both ends."""

    first: int
    stop: int
    fade_in: int  # crossfade samples at the start (0 at the start of the audio)
    fade_out: int  # crossfade samples at the end
    gap_first: int
    gap_stop: int

    def describe(self, sample_rate: int) -> str:
        """``the gap 1.0000-1.5000 s``: the user's gap, not the crossfades (the notes' one form
        of a span, which the REAPER actions give in the project's time)."""
        return f"the gap {seconds_text(self.gap_first / sample_rate, self.gap_stop / sample_rate)}"


def regions(damage: Inpaint, sample_rate: int, n_samples: int) -> list[Region]:
    """The gaps (merged where they or their crossfades overlap) as regions to re-estimate."""
    fade = int(round(damage.crossfade * sample_rate))
    spans = sorted(gap_samples(gap, sample_rate) for gap in damage.gaps)
    merged: list[list[int]] = []  # [first, stop, gap_first, gap_stop]
    for gap_first, gap_stop in spans:
        gap_first, gap_stop = min(gap_first, n_samples), min(gap_stop, n_samples)
        first, stop = max(0, gap_first - fade), min(n_samples, gap_stop + fade)
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
            merged[-1][3] = max(merged[-1][3], gap_stop)
        else:
            merged.append([first, stop, gap_first, gap_stop])
    return [
        Region(first, stop, min(fade, first), min(fade, n_samples - stop), gap_first, gap_stop)
        for first, stop, gap_first, gap_stop in merged
        if stop > first
    ]


def restore_inpaint(
    audio: np.ndarray,
    sample_rate: int,
    damage: Inpaint,
    options: dict[str, Any],
    callback: ProgressCallback | None,
    *,
    noisy: bool = False,
    evidence: Evidence = 0.0,
    fill_error: FillError | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fill every gap of every channel of float32 ``(channels, samples)`` ``audio``.

    ``noisy``: the gaps hold the signal plus white noise (clicks), not nothing; the AR fill
    retains what the noise allows (:func:`interpolate`'s ``observed``), and leaves a gap as it
    is unless it departs from the AR estimate by ``evidence`` (see :func:`_retain`; or
    ``evidence(x, first, stop)``, per gap of each channel ``x`` of ``audio``).
    ``fill_error(x, first, stop)``: the AR estimate's error energy over ``x[first:stop]`` (one
    channel of ``audio``), measured, and whether the gap is at an attack
    (:func:`interpolate`'s ``fill_error``; noisy gaps only)."""
    opts = parse_options("inpaint", options, OPTIONS)
    channels, n = audio.shape
    out = audio.copy()
    long = [r for r in regions(damage, sample_rate, n) if _by_pattern(r, n, sample_rate, opts)]
    todo = sorted(long + _ar_regions(damage, long, sample_rate, n), key=lambda r: r.first)
    order = opts["order"] or order_at(sample_rate, AUTO_ORDER)
    chunks = pattern.chunk_count(n, sample_rate) if long else 0
    progress = Progress(callback, chunks + len(todo) * channels)
    fills = _pattern_fills(audio, todo, long, sample_rate, opts, progress) if long else {}
    details_fills, far_fills = [], []
    peaks = None if noisy else np.max(np.abs(audio), axis=1)  # a raised fill's bound, once
    for index, region in enumerate(todo):
        if region in fills:
            detail = fills[region]
            estimates = detail.pop("estimate")
            details_fills.append({"method": "pattern", **detail})
        else:
            estimates = _ar_fill(audio, todo, index, order, opts, noisy, evidence, fill_error)
            details_fills.append({"method": "ar"})
        if not noisy:  # a dropout's fill (declick judges a click's estimate)
            estimates, far = _level_kept(audio, todo, index, estimates, sample_rate, fills, peaks)
            if far:
                gap = (region.gap_first / sample_rate, region.gap_stop / sample_rate)
                far_fills.append([round(gap[0], 4), round(gap[1], 4), *far])
        for channel in range(channels):
            out[channel, region.first : region.stop] = blend(
                audio[channel, region.first : region.stop], estimates[channel], region
            )
            progress.tick()
    details = {
        REGIONS: [[r.first, r.stop] for r in todo],
        "fills": details_fills,
        **opts,
        "order": order,
    }
    return out, details | ({FILL_LEVELS: far_fills} if far_fills else {})


def _level_kept(
    audio: np.ndarray,
    todo: list[Region],
    index: int,
    estimates: list,
    sample_rate: int,
    fills: dict,
    peaks: np.ndarray,
) -> tuple[list, list | None]:
    """``estimates``, region ``todo[index]``'s fill, brought back where it, or a half of it
    (from two ``fill_level.SIDE_SECONDS``), lies far under the music beside its gap
    (:func:`.fill_level.bring_back`, an AR fill's edges kept, no fill past the audio's
    ``peaks`` per channel), a steady pattern fill of a gap up to ``fill_level.HELD_LONGEST``
    held near the louder side, with the farthest channel's levels; a gap under
    ``fill_level.SHORTEST`` as it is."""
    region, n = todo[index], audio.shape[1]
    gap = (region.gap_first, region.gap_stop)
    if gap[1] - gap[0] < fill_level.SHORTEST * sample_rate:
        return estimates, None
    bounds = (todo[index - 1].gap_stop if index else 0,
              todo[index + 1].gap_first if index + 1 < len(todo) else n)  # fmt: skip
    sides = fill_level.side_levels(audio, gap, bounds, sample_rate)
    inside = slice(gap[0] - region.first, gap[1] - region.first)
    halves = gap[1] - gap[0] >= 2 * fill_level.SIDE_SECONDS * sample_rate
    held = region in fills and halves and gap[1] - gap[0] <= fill_level.HELD_LONGEST * sample_rate
    frame = round(fill_level.HELD_FRAME * sample_rate) if held else 0
    # the AR's own range, where its raise was measured (an AR fill of a longer gap is said)
    short = not _by_pattern(region, n, sample_rate, DEFAULT_SWITCH)
    return fill_level.bring_back(
        estimates,
        inside,
        sides,
        edges_kept=region not in fills,
        halves=halves,
        peaks=peaks,
        frame=frame,
        short_ar=short,
    )


def _ar_regions(damage: Inpaint, long: list[Region], sample_rate: int, n: int) -> list[Region]:
    """The regions of ``damage``'s gaps outside the pattern fill's ``long`` ones, without
    crossfades: an AR fill needs none, so gaps a few ms apart stay apart, the music between
    them as it was (merged by their crossfades, it had been re-estimated)."""
    short = tuple(gap for gap in damage.gaps if not any(
        r.first <= gap_samples(gap, sample_rate)[0] < r.stop for r in long))  # fmt: skip
    return regions(Inpaint(short, crossfade=0.0), sample_rate, n) if short else []


def _ar_fill(
    audio: np.ndarray,
    todo: list[Region],
    index: int,
    order: int,
    opts: dict[str, Any],
    noisy: bool,
    evidence: Evidence,
    fill_error: FillError | None = None,
) -> list[np.ndarray]:
    """The AR estimate of region ``todo[index]``, one array per channel.

    Its context is bounded by the audio and by the neighbouring regions (still unknown or
    already filled: either way not the original signal)."""
    region, n = todo[index], audio.shape[1]
    low = todo[index - 1].stop if index > 0 else 0
    high = todo[index + 1].first if index + 1 < len(todo) else n
    m = region.stop - region.first
    width = int(max(opts["context"] * m, 2 * order))  # as much as interpolate uses
    low, high = max(low, region.first - width), min(high, region.stop + width)
    measured = noisy and fill_error is not None
    return [
        interpolate(
            x[low : region.first].astype(np.float64),
            m,
            x[region.stop : high].astype(np.float64),
            order=order,
            iterations=opts["iterations"],
            context=opts["context"],
            observed=x[region.first : region.stop] if noisy else None,
            evidence=evidence(x, region.first, region.stop) if callable(evidence) else evidence,
            fill_error=partial(fill_error, x, region.first, region.stop) if measured else None,
        )
        for x in audio
    ]


class Progress:
    """Counts steps of the whole task for :func:`report` (0 first, then one per step)."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback, self.total, self.step = callback, max(total, 1), 0
        report(callback, 0, self.total, "inpaint")

    def tick(self) -> None:
        self.step += 1
        report(self.callback, self.step, self.total, "inpaint")


def _by_pattern(region: Region, n: int, sample_rate: int, opts: dict[str, Any]) -> bool:
    """Whether ``region`` (of ``n`` samples of audio) gets the pattern fill rather than AR."""
    one_sided = region.first == 0 or region.stop == n
    return by_pattern(region.gap_stop - region.gap_first, sample_rate, one_sided, opts)


def by_pattern(length: int, sample_rate: int, one_sided: bool, opts: dict[str, Any]) -> bool:
    """Whether a gap of ``length`` samples gets the pattern fill rather than AR: from
    ``pattern_from`` seconds, or ``pattern_from_edge`` where its context is on one side only."""
    shortest = opts["pattern_from_edge"] if one_sided else opts["pattern_from"]
    return length >= shortest * sample_rate


def _pattern_fills(
    audio: np.ndarray,
    todo: list[Region],
    long: list[Region],
    sample_rate: int,
    opts: dict[str, Any],
    progress: Progress,
) -> dict[Region, dict[str, Any]]:
    """The pattern fills of the regions ``long`` (of all regions ``todo``), made one at a time,
    the one with the most known context first, each written into a working copy of ``audio``
    so that those after it compare with it and may copy from it. Filled all at once, dropouts
    close together lose their contexts and their sources to each other: two dropouts one
    repeat apart each lose their best source (docs/results.md "Dropouts close together")."""
    work = audio.copy()
    mono = work.mean(axis=0)  # float32: the search's features and NCC
    unfilled = [(r.first, r.stop) for r in todo]
    # Digital silence outside the regions (a dropout not given, a pause) is no passage to copy
    # nor context to match: a given gap's fill had copied another dropout, holes and all
    silent = [
        (a, b) for a, b in digital_silence(audio, sample_rate)
        if not any(a < r.stop and b > r.first for r in todo)
    ]  # fmt: skip
    feats = pattern.features(mono, sample_rate, unfilled + silent, tick=progress.tick)
    reach = int(round(opts["match_context"] * sample_rate))
    fills: dict[Region, dict[str, Any]] = {}
    # No fill goes past the audio's own peak (a clipped master's fill had peaks 4 dB over its
    # clipping level, where a composite's magnitudes met new phases)
    peaks = np.max(np.abs(audio), axis=1, keepdims=True)
    pending = list(long)
    while pending:  # ties: the leftmost
        region = max(pending, key=lambda r: _known(r, unfilled, reach, audio.shape[1]))
        pending.remove(region)
        fill = _avoiding_silence(work, mono, feats, region, unfilled, silent, sample_rate, opts)
        fill["estimate"] = np.clip(fill["estimate"], -peaks, peaks)
        fills[region] = fill
        span = slice(region.first, region.stop)
        for channel, estimate in enumerate(fill["estimate"]):
            work[channel, span] = blend(work[channel, span], estimate, region)
        unfilled.remove((region.first, region.stop))
        if pending:
            mono[span] = work[:, span].mean(axis=0)
            holes = unfilled + silent
            feats = pattern.refresh(feats, mono, sample_rate, region.first, region.stop, holes)
    return fills


def _avoiding_silence(
    audio: np.ndarray,
    mono: np.ndarray,
    feats: pattern.Features,
    region: Region,
    unfilled: list[tuple[int, int]],
    silent: list[tuple[int, int]],
    sample_rate: int,
    opts: dict[str, Any],
) -> dict[str, Any]:
    """:func:`_pattern_fill` with the ``silent`` runs as holes too; where that finds no passage
    (a gated track's rests left none of the gap's length), with the unfilled regions as the only
    holes, as before they were kept out: a gated drum-and-bass excerpt's 1 s gap had been
    refused where it had been filled."""
    try:
        return _pattern_fill(audio, mono, feats, region, unfilled + silent, sample_rate, opts)
    except DamageError:
        if not silent:
            raise
    plain = pattern.features(mono, sample_rate, unfilled)
    return _pattern_fill(audio, mono, plain, region, unfilled, sample_rate, opts)


def _known(region: Region, unfilled: list[tuple[int, int]], reach: int, n: int) -> int:
    """Samples of the ``n`` within ``reach`` of ``region``'s gap on either side that no other
    unfilled region covers."""
    low, high = max(0, region.gap_first - reach), min(n, region.gap_stop + reach)
    lost = sum(
        max(0, min(b, high) - max(a, low))
        for a, b in unfilled
        if (a, b) != (region.first, region.stop)
    )
    return (high - low) - (region.gap_stop - region.gap_first) - lost


def _pattern_fill(
    audio: np.ndarray,
    mono: np.ndarray,
    feats: pattern.Features,
    region: Region,
    holes: list[tuple[int, int]],
    sample_rate: int,
    opts: dict[str, Any],
) -> dict[str, Any]:
    """The pattern estimate of ``region`` ``(channels, region samples)`` with its details;
    raises :class:`DamageError` when no passage fits."""
    found = pattern.find(
        audio,
        mono,
        feats,
        region.gap_first,
        region.gap_stop,
        context=int(round(opts["match_context"] * sample_rate)),
        level_context=int(round(min(opts["level_context"], opts["match_context"]) * sample_rate)),
        forbidden=holes,
        candidates=opts["candidates"],
        edge=max(1, int(round(opts["edge"] * sample_rate))),
        near=max(1, int(round(fill_level.SIDE_SECONDS * sample_rate))),
    )
    where = region.describe(sample_rate)
    if not found:
        raise DamageError(
            f"dsp inpaint: {where} has no other passage of its length to copy from "
            f"(the audio is {audio.shape[1] / sample_rate:.3f} s long); send more of the song "
            "around it, or use the diffusion backend"
        )
    best = found[0]
    if best.similarity < opts["min_similarity"]:
        raise DamageError(
            f"dsp inpaint: no passage of the song resembles the surroundings of {where} "
            f"(similarity {best.similarity:.2f} < min_similarity {opts['min_similarity']:g}); "
            "use the diffusion backend, or lower min_similarity to copy the closest one anyway"
        )
    ramp = int(round(COMPOSITE_RAMP * sample_rate))
    estimate = pattern.compose(audio, region.first, region.stop, found, ramp=ramp)
    return {
        "estimate": estimate,
        "source": round((region.first + best.shift) / sample_rate, 4),
        "similarity": round(best.similarity, 3),
        "ncc": round(best.ncc, 3),
        "gain": [round(float(g), 3) for g in best.gain.typical()],
        "passages": len(found),
    }


def blend(original: np.ndarray, estimate: np.ndarray, region: Region) -> np.ndarray:
    """The estimate inside the gap, crossfaded from the original at the edges with the raised
    cosine every join takes (:func:`taper`, as the diffusion backend's splice)."""
    weight = np.ones(original.shape[-1])  # weight of the estimate
    if region.fade_in:
        weight[: region.fade_in] = taper(region.fade_in, region.fade_in, fall=False)
    if region.fade_out:
        weight[weight.size - region.fade_out :] = taper(
            region.fade_out, region.fade_out, rise=False
        )
    mixed = (1 - weight) * original.astype(np.float64) + weight * estimate
    return mixed.astype(np.float32)
