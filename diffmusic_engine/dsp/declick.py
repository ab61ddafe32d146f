"""Declicking: find impulsive noise by its autoregressive (AR) prediction error, then inpaint it.

Detection (after Vaseghi & Rayner, 1990, and Godsill & Rayner, "Digital Audio Restoration", ch.
5): music is well predicted by a short AR model ``a = [1, a_1 .. a_p]`` fitted on each block
(Burg, :mod:`.ar`), a click is not. The forward prediction error
``e_f[n] = sum_k a_k x[n - k]`` is large from a click's start to ``p`` samples after its end, the
backward one ``e_b[n] = sum_k a_k x[n + k]`` from ``p`` samples before its start to its end; their
geometric mean, smoothed over ``SMOOTH_SECONDS`` (shorter than the shortest click),
``d[n] = sqrt(mean |e_f e_b|)``, is large on the click itself. ``d`` is divided by
a robust local scale (the median of ``|e_f|`` over ``SCALE_SECONDS``, / 0.6745) and compared to a
threshold ``k`` that ``sensitivity`` sets (``k = k_low * (k_high / k_low) ** sensitivity``);
the channels share one detection (the largest ``d``). Marked samples closer than ``bridge``
join, each span is widened by ``margin`` on both sides (in click mode, before it only as far
as its first sample read as a click's, ``lead_edge``). Confirmation passes keep the spans
the statistic still marks when each block's model is fitted without them: a loud click pulls
its block's model towards white noise, which then misses the music's sharp edges around it.
In click mode a periodic tone's own pitch pulses, which repeat a period away and are marked there
too, are then dropped (:mod:`.pitch_pulse`).

Repair is :mod:`.inpaint` (Janssen's iterative AR interpolation) on the spans with no crossfade,
so every sample outside them is bit-identical; a span within the repair order of a file's end
from the one side it has (:mod:`.declick_edges`). A click adds noise to the music rather than
replacing it, so the fill is the noisy-data interpolator (the AR prior combined with the
observed samples, weighted by the burst's estimated power): it keeps what the burst leaves.
A faint click is found where it adds to the music's own prediction error (an attack), where the
fill errs more than the AR model says: in click mode that error is measured beside each span
(``_fill_error``: the same fill on known stretches as long), and what the observed samples
depart by within it is not taken for the burst's power. A struck or plucked note's attack starts
as abruptly as a click and is as badly predicted: where the music after a span is louder than
before it (``ONSET_RISE``, on any channel) and still sounds 50 ms later (a drum hit
is gone: ``ONSET_SUSTAIN``) the span needs more evidence to be repaired (``onset_evidence``).
``crackle`` mode looks for many tiny clicks: a lower AR order, a narrower margin and bridge, a
more sensitive threshold.

The second track of the result is what was removed (input minus output: zero outside the spans),
to audition.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

import numpy as np

from diffmusic_engine.backends import CLICKS_DETECTED, REPAIRED_CLICKS, UNCHANGED
from diffmusic_engine.damage import MAX_CLICK_S, Declick, Inpaint, gap_samples, spans_to_gaps
from diffmusic_engine.diagnose.spans import joined
from diffmusic_engine.dsp.ar import interpolate
from diffmusic_engine.dsp.click_statistic import block_models, click_statistic, forward_scaled
from diffmusic_engine.dsp.declick_edges import CONTEXT, at_ends, repair_ends
from diffmusic_engine.dsp.inpaint import restore_inpaint
from diffmusic_engine.dsp.options import Option, parse_options
from diffmusic_engine.dsp.pitch_pulse import pitch_pulses
from diffmusic_engine.progress import ProgressCallback, part_of, report
from diffmusic_engine.rates import order_at
from diffmusic_engine.silence import runs_of

OPTIONS = {
    "sensitivity": Option(default=0.5, low=0.0, high=1.0),  # 1 finds the faintest clicks
    "order": Option(default=0, low=0, high=256, integer=True),  # detection AR order; 0 = mode's
    "repair_order": Option(default=0, low=0, high=2048, integer=True),  # 0 = mode's
    "max_click": Option(default=0.005, low=0.0005, high=MAX_CLICK_S),  # s: longer are kept
}
# per mode: detection AR order and repair AR order (at 44.1 kHz, scaled with the rate), margin
# and bridge (s), thresholds at sensitivity 0 and 1, and the evidence a detected span needs to
# be repaired (ar._retain; 0: none). Clicks 100: on 9 real recordings of 3 songs (held out
# when it was chosen) no repair in clean takes (14 before) and less harm on faint clicks;
# crackle none: there 100 kept only a third of the gain on dense crackle (log-mel 3.85 -> 2.79
# without, 3.43 with), and 10-30 still repaired clean takes (docs/results.md "Declick: do no
# harm"); 120 and, at a note's onset, 400: ``onset_evidence`` (ONSET_RISE). ``fill_error``: the
# gain on the fill's error measured beside a detected span (_fill_error; 0: the AR model's
# own), measured in click mode only. ``pitch_pulses``: drop a periodic tone's pulses (.pitch_pulse).
# ``lead_edge`` (0: the whole margin): a span's margin before it reaches back only to its first
# sample whose forward error (read from the samples before it) is over this x the music's
# (_leads). In dense music the fill errs about as much per sample as the music is loud, so clean
# music filled before a sharp click cost more than it held (a rock mix's 12 clicks: fill error
# 7.7 over their first 20 samples, 25.1 over the detector's 61; their own 15.3); a white burst's
# faint first samples, before the marked run, still read over it. 24 real recordings with built
# clicks: mean gain +1.22 dB (105 of 144 better, 10 worse, none under its input, clean files as
# they were); the bench's bursts on 2 rock mixes: gain up 0.4-0.6 dB on all 4, recall as much or
# more (at 3 x: faint bursts on a guitar stem came back 1.0 dB worse than the input;
# docs/results.md "Declick: a span starts where its click does").
MODES = {
    "click": {"order": 32, "repair_order": 32, "margin": 0.3e-3, "bridge": 1e-3,
              "k_low": 6.4, "k_high": 2.5, "evidence": 120.0, "onset_evidence": 400.0,
              "fill_error": 3.0, "pitch_pulses": True, "lead_edge": 2.0},
    "crackle": {"order": 16, "repair_order": 16, "margin": 0.05e-3, "bridge": 0.1e-3,
                "k_low": 5.0, "k_high": 2.0, "evidence": 0.0, "onset_evidence": 0.0,
                "fill_error": 0.0, "pitch_pulses": False, "lead_edge": 0.0},
}  # fmt: skip
CONFIRM_ROUNDS = 3  # confirmation passes at most
# Crackle is many ticks a second: crackle mode repairs a span only where it finds at least this
# many a second within CRACKLE_WINDOW_S around it (elsewhere they are the music's own attacks).
# Clean real recordings read 0-3 a second (10 rock stems and mixes) and 0-9 (eight of other
# kinds), and their repair changed 8 of the 10 and a trumpet's attacks (log-mel 0.13); crackle
# of 500-1000 a second at -10 or -6 dB read 18-494, where the repair helps (docs/results.md
# "Crackle mode: do no harm"). Counted in a window, not over the file: 3 s of dense crackle at
# the start of 27 s of music read 15 a second over the file.
MIN_CRACKLE_PER_S = 50.0
# The share of a declick's progress its detection takes (the repair the rest): --json's fraction
# had run to 0.5 detecting, then back to 0 repairing.
DETECT_SHARE = 0.5
CRACKLE_WINDOW_S = 2.0
# A detected click's fill error is measured on known stretches as long beside it, at these
# multiples of the fill's context width on each side (the nearer ones' contexts overlap the
# span's and each other's; one whose fill, contexts included, touches a detected span is
# skipped: a click there measures the click, not the music), and read as the mode's
# ``fill_error`` gain x this percentile of their errors. The repairs sit where the music is
# least predictable (a faint click adds to an attack's prediction error), the stretches beside
# them where it is as a rule: 3 x the 75th percentile of 8. On the 96 files of a user trial
# (6 songs, clicks, crackle and bursts) the AR model's own variance made 18 worse (mean SNR gain
# 1.72 dB); this, unmasked: 1 (-0.21 dB; gain 1.87 dB, 51 better). 2 x: 4 worse, 2.00 dB; 4 x:
# 1, 1.76 dB; the median of 8: 6 worse; of the 4 nearest: 2. Masked, with ar.CLICK_BEYOND's
# bound: 0 (1.85 dB), and 0 of 75 seeded bursts on shipped stems (docs/results.md "Declick: the
# fill's error measured beside it").
CONTROL_OFFSETS = (1, 2, 4, 8)
CONTROL_PERCENTILE = 75.0
# A note's attack is the least predictable stretch of music, and a struck or plucked one starts
# as abruptly as a click: where the music after a span (ONSET_WINDOW_S beyond ONSET_GUARD_S) is
# ONSET_RISE x louder in power than before it, the span needs the mode's ``onset_evidence``.
# Clean recordings: the vibes' and the waltz's attacks read 102-339 with 4.01-75 x the power
# after (4 spans); a click in steady music has as much on both sides. With the plain evidence
# 100 -> 120 (a trumpet's 112), 3 of 22 clean recordings changed -> 0; the trial's 96 files gain
# 1.847 -> 1.841 dB, 0 worse; seeded bursts 5.279 -> 5.277 dB (docs/results.md "Declick: a
# note's attack is no click"). A drum hit rises as much but is gone ONSET_LATE_S later (under
# ONSET_SUSTAIN x its power just after) where a note sustains: a burst on it needs only the
# plain evidence (drum-and-bass mix, -20 dB bursts on its onsets: 1.22 -> 1.52 dB, 2.24 before
# the rule). One verdict for all channels (they share detection), a note on any of them.
ONSET_RISE, ONSET_GUARD_S, ONSET_WINDOW_S = 4.0, 0.002, 0.02
ONSET_SUSTAIN, ONSET_LATE_S = 0.1, (0.05, 0.1)
# An attack (a note's or a drum hit's) is ATTACK_RISE x louder after a span than before it: there
# the fill errs more than the stretches beside it measure, and no mismatch is all click
# (ar._burst_power; a drum mix's jittered onset rose 3.3 x; at 2 x, ringing clicks that raise the
# music after them lost 0.6 dB: docs/results.md "Declick: an attack's mismatch is no click").
ATTACK_RISE = 3.0


def restore_declick(
    audio: np.ndarray,
    sample_rate: int,
    damage: Declick,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Find and repair the clicks of float32 ``(channels, samples)`` ``audio``.

    Returns (restored, removed) and details with the spans repaired (``clicks``, seconds).
    """
    opts = parse_options("declick", options, OPTIONS)
    share = 0.0 if damage.clicks else DETECT_SHARE  # the job's progress: detection, then repair
    if damage.clicks:
        spans = [gap_samples(gap, sample_rate) for gap in damage.clicks]
    else:
        detecting = part_of(callback, 0.0, share)
        spans = detect_clicks(audio, sample_rate, damage.mode, opts, detecting, damage.lossy)
    found = len(spans)
    if damage.mode == "crackle" and not damage.clicks:
        spans = _in_crackle(spans, sample_rate, audio.shape[1])
    mode = MODES[damage.mode]
    repair_order = opts["repair_order"] or order_at(sample_rate, mode["repair_order"])
    out = audio.copy()
    ends, inner = at_ends(spans, audio.shape[1], repair_order)
    if spans:
        gaps = spans_to_gaps(inner, sample_rate)
        # Clicks are short: every span is bridged by the AR model, never by a pattern copy.
        inpaint_options = {
            "order": repair_order,
            "iterations": 3,
            "context": CONTEXT,  # the ends' repair reads as much (.declick_edges)
            "pattern_from": 3600.0,
            "pattern_from_edge": 3600.0,
        }
        gain = 0.0 if damage.clicks else mode["fill_error"]
        detected = _detected(spans, audio.shape[1])
        onset = cache(partial(_onset, audio=audio, music=np.diff(detected) == 0, rate=sample_rate))
        plain, at_onset = mode["evidence"], mode["onset_evidence"]  # onset: asked per channel
        evidence = 0.0 if damage.clicks or not plain else (  # a note's attack needs more
            lambda _channel, first, stop: at_onset if onset(first, stop)[1] else plain
        )  # fmt: skip
        measured = partial(
            _fill_error, detected=detected, gain=gain, onset=onset,
            order=repair_order, iterations=inpaint_options["iterations"],
            context=inpaint_options["context"],
        )  # fmt: skip
        # from the one side each has (.declick_edges); at the start no music before a span
        # tells a note's attack from a click (_onset): the attack's evidence
        told = 0.0 if damage.clicks or not plain else (
            lambda _channel, first, stop: at_onset if first < repair_order else plain
        )  # fmt: skip
        edges = partial(repair_ends, order=repair_order, evidence=told, gain=gain,
                        offsets=CONTROL_OFFSETS, percentile=CONTROL_PERCENTILE,
                        clicked=np.diff(detected) > 0)  # fmt: skip
        out = edges(out, ends) if ends else out  # first: the inside's context then holds none
        if inner:
            out, _ = restore_inpaint(
                out, sample_rate, Inpaint(gaps, crossfade=0.0), inpaint_options,
                part_of(callback, share, 1.0), noisy=True,
                evidence=evidence,
                fill_error=measured if gain else None,
            )  # fmt: skip
        if ends:  # again, on the clicks inside repaired (one left in an end's context, 150-1500
            # samples in: 44 of 1148 clicks at the ends did worse than the parent, most kept
            # whole; docs/results.md "Declick at a file's ends"), from the ends as they came
            for first, stop in ends:
                out[:, first:stop] = audio[:, first:stop]
            out = edges(out, ends)
    report(callback, 1, 1, "declick")
    removed = audio - out
    spans = [(first, stop) for first, stop in spans if np.any(removed[:, first:stop])]
    details = {
        REPAIRED_CLICKS: [[first / sample_rate, stop / sample_rate] for first, stop in spans],
        CLICKS_DETECTED: not damage.clicks,
        "count": len(spans),
        "found": found,
        "touched": float(sum(stop - first for first, stop in spans) / audio.shape[1]),
        **opts, "repair_order": repair_order,
    }  # fmt: skip
    if not spans:  # never silent: the output is the input, and why
        crackle = damage.mode == "crackle" and not damage.clicks
        details[UNCHANGED] = _why_unchanged(found, crackle, opts["sensitivity"])
    return (out, removed), details


def _fill_error(
    x: np.ndarray,
    first: int,
    stop: int,
    *,
    detected: np.ndarray,
    gain: float,
    order: int,
    iterations: int,
    context: float,
    onset: Callable[[int, int], tuple[bool, bool]] | None = None,
) -> tuple[float, bool]:
    """``gain`` x the ``CONTROL_PERCENTILE`` of the plain AR fill's error energies on known
    stretches as long as ``x[first:stop]`` at ``CONTROL_OFFSETS`` context widths on each side
    (fill settings as :func:`.ar.interpolate`'s); 0 where none fits in ``x``. A stretch whose
    fill (its contexts included) touches a detected span is skipped: ``detected[i]`` is the
    number of detected samples before sample ``i`` (:func:`_detected`). With it, whether the span
    is at an attack (``onset(first, stop)``, :func:`_onset`)."""
    m = stop - first
    width = int(max(context * m, 2 * order))
    errors = []
    for offset in CONTROL_OFFSETS:
        for start in (stop + offset * width, first - m - offset * width):
            low, high = start - width, start + m + width
            if low < 0 or high > x.size or detected[high] > detected[low]:
                continue
            known = x[start - width : start + m + width].astype(np.float64)
            fill = interpolate(
                known[:width], m, known[width + m :],
                order=order, iterations=iterations, context=context,
            )  # fmt: skip
            errors.append(float(np.sum((fill - known[width : width + m]) ** 2)))
    error = gain * float(np.percentile(errors, CONTROL_PERCENTILE)) if errors else 0.0
    return error, onset is not None and onset(first, stop)[0]


def _onset(
    first: int, stop: int, *, audio: np.ndarray, music: np.ndarray, rate: int
) -> tuple[bool, bool]:
    """Whether span ``first:stop`` of ``audio`` is an attack: the music after it is
    ``ATTACK_RISE`` x louder than before it (power over ``ONSET_WINDOW_S`` beyond
    ``ONSET_GUARD_S`` on each side, of the samples ``music`` marks: the detected spans left
    out); and a note's (the evidence it needs: ``onset_evidence``): ``ONSET_RISE`` x, and still
    ``ONSET_SUSTAIN`` x that ``ONSET_LATE_S`` after it (a drum hit is gone); each on any channel
    (a note on one channel only: the channels' summed power need not rise beside a louder one).
    """
    guard, window = round(ONSET_GUARD_S * rate), round(ONSET_WINDOW_S * rate)
    late = [stop + round(seconds * rate) for seconds in ONSET_LATE_S]

    def verdict(channel: np.ndarray) -> tuple[bool, bool]:
        after = mean_power(channel, stop + guard, stop + window, music)
        # nan (no sample) fails every comparison: no window before a span, no onset verdict;
        # none ONSET_LATE_S after it (the file's end), no drum hit
        # fewer music samples before it than the guard holds: too few to read a rise from (6
        # samples between a click at a file's start and one inside had read an attack)
        scarce = np.sum(music[max(0, first - window) : max(0, first - guard)]) < guard
        before = np.nan if scarce else mean_power(channel, first - window, first - guard, music)
        sustains = not mean_power(channel, *late, music) < ONSET_SUSTAIN * after
        return after > ATTACK_RISE * before, after > ONSET_RISE * before and sustains

    rises, notes = zip(*(verdict(audio[c : c + 1]) for c in range(audio.shape[0])), strict=True)
    return any(rises), any(notes)


def mean_power(audio: np.ndarray, first: int, stop: int, keep: np.ndarray | None = None) -> float:
    """The mean power over all channels of ``audio[:, first:stop]`` (cut at its start), of the
    samples ``keep`` marks; nan where none is left."""
    first, stop = max(0, first), max(0, stop)
    part = audio[:, first:stop] if keep is None else audio[:, first:stop][:, keep[first:stop]]
    return float(np.mean(np.square(part, dtype=np.float64))) if part.size else float("nan")


def _detected(spans: list[tuple[int, int]], n: int) -> np.ndarray:
    """``n + 1`` counts: of the samples of ``spans`` before each of ``n`` samples, and in all."""
    inside = np.zeros(n, np.int64)
    for first, stop in spans:
        inside[first:stop] = 1
    return np.concatenate([[0], np.cumsum(inside)])


def _in_crackle(spans: list[tuple[int, int]], sample_rate: int, n: int) -> list[tuple[int, int]]:
    """The ``spans`` (sorted) of ``n`` samples of audio with at least MIN_CRACKLE_PER_S a
    second found within the CRACKLE_WINDOW_S centred on them, cut at the audio's ends (crackle;
    the rest are the music's attacks)."""
    starts = np.array([first for first, _ in spans], dtype=np.int64)
    half = round(CRACKLE_WINDOW_S * sample_rate / 2)
    low, high = np.maximum(starts - half, 0), np.minimum(starts + half, n)
    near = np.searchsorted(starts, high, "right") - np.searchsorted(starts, low)
    least = MIN_CRACKLE_PER_S * (high - low) / sample_rate
    return [span for span, keep in zip(spans, (near >= least).tolist(), strict=True) if keep]


def _why_unchanged(found: int, crackle: bool, sensitivity: float) -> str:
    """Why declick left the audio as it was, having found ``found`` spans."""
    if crackle and found:
        return (
            f"no stretch of crackle found (fewer than {MIN_CRACKLE_PER_S:g} click-like spans "
            f"a second in every {CRACKLE_WINDOW_S:g} s: the music's own attacks, where the "
            "repair does harm, or crackle under the music's own detail, which is not told from "
            "it): nothing changed; for a few clicks use mode click, in quiet passages raise "
            "--sensitivity, or give the clicks with --click START:END"
        )
    if not found:
        return (
            f"no click found at sensitivity {sensitivity:g}: nothing changed; raise "
            "--sensitivity, or give the clicks with --click START:END"
        )
    return (
        f"{found} click-like span(s) found, none standing out from the music's own prediction "
        "error (its transients, or clicks no louder than they are, as in dense music): nothing "
        "changed; give clicks with --click START:END to repair them anyway"
    )


def detect_clicks(
    audio: np.ndarray,
    sample_rate: int,
    mode: str = "click",
    options: dict[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    lossy: bool = False,
) -> list[tuple[int, int]]:
    """The click spans ``[first, stop)`` (samples) of ``(channels, samples)`` audio, sorted;
    ``lossy``: it was decoded from a lossy codec (a gate's edges read through its dips)."""
    opts = parse_options("declick", options or {}, OPTIONS)
    settings = MODES[mode]
    audio = np.atleast_2d(audio)
    order = opts["order"] or order_at(sample_rate, settings["order"])  # p of the AR models
    margin = round(settings["margin"] * sample_rate)
    longest = opts["max_click"] * sample_rate
    # each channel's block models fitted on all its samples: the confirmation passes refit only
    # the blocks that hold a hidden sample (the rest are these)
    samples = audio.astype(np.float64)
    plain = [block_models(x, sample_rate, order, _progress(callback, len(audio), c, 0))
             for c, x in enumerate(samples)]  # fmt: skip
    runs = [run for run in _marked_runs(samples, plain, sample_rate, order, settings, opts)
            if run[1] - run[0] <= longest]  # fmt: skip
    # confirmed and told from pitch pulses with the whole margin (their pulses recur a period
    # apart only as spans a fixed width before their runs), then started where the click does
    spans = [(max(0, first - margin), min(audio.shape[1], stop + margin)) for first, stop in runs]
    run_of = dict(zip(spans, runs, strict=True))
    if not spans:
        return []
    # Confirmation: the AR model of each block holding a span fitted again without it (on the
    # prediction rows that touch no span). A loud click pulls its block's model towards white
    # noise, and that model misses the music's sharp but predictable edges around the click
    # (false alarms); a span is kept where the models fitted without the spans still see one.
    # A span may miss a click's faint first or last samples, and a least-squares fit is
    # pulled far by a few rows holding a click: every span is hidden with a guard of the
    # detection's AR order p on each side (how far a click smears e_f and e_b). Hiding the
    # false alarms hides the music's edges from the fit too: so again, hiding only the spans
    # confirmed, until none is dropped (at most CONFIRM_ROUNDS times).
    for done in range(1, CONFIRM_ROUNDS + 1):
        excluded = np.zeros(audio.shape[1], bool)
        for first, stop in spans:
            excluded[max(0, first - order) : stop + order] = True
        refitted = [
            block_models(x, sample_rate, order, _progress(callback, len(audio), c, done),
                         excluded, models)
            for c, (x, models) in enumerate(zip(samples, plain, strict=True))
        ]  # fmt: skip
        confirmed = _marked_runs(samples, refitted, sample_rate, order, settings, opts)
        kept = [s for s in spans if any(low < s[1] and s[0] < high for low, high in confirmed)]
        if kept == spans:
            break
        spans = kept
    if settings["pitch_pulses"]:  # a periodic tone's own pulses (.pitch_pulse)
        pulses = pitch_pulses(audio, spans, sample_rate)
        spans = [span for span, pulse in zip(spans, pulses, strict=True) if not pulse]
    if settings["lead_edge"] and spans:
        leads = _leads(samples, plain, sample_rate, order, [run_of[s] for s in spans], margin,
                       settings["lead_edge"])  # fmt: skip
        spans = [(lead, stop) for lead, (_, stop) in zip(leads, spans, strict=True)]
    from diffmusic_engine.diagnose.clicks import off_edges  # (clicks imports this module)

    return off_edges(spans, audio, sample_rate, lossy)


def _leads(
    samples: np.ndarray,
    models: list[list[np.ndarray | None]],
    sample_rate: int,
    order: int,
    runs: list[tuple[int, int]],
    margin: int,
    edge: float,
) -> list[int]:
    """Where each marked run's span starts: its first sample within ``margin`` before it whose
    forward error (:func:`.click_statistic.forward_scaled`, the largest of the channels) is over
    ``edge``, else the run's own; the whole margin where the forward error has no ``order``
    samples before to read."""
    forward = np.zeros(samples.shape[1])
    for x, channel_models in zip(samples, models, strict=True):
        forward = np.maximum(forward, forward_scaled(x, sample_rate, order, channel_models))
    leads = []
    for first, _ in runs:
        low = max(0, first - margin)
        over = np.flatnonzero(forward[low:first] > edge)
        leads.append(low if low < order else low + int(over[0]) if over.size else first)
    return leads


def _progress(
    callback: ProgressCallback | None, channels: int, channel: int, done: int
) -> Callable[[float], None]:
    """The progress of one channel's pass (``fraction`` of its blocks) as the detection's: passes
    ``done`` before it, of ``1 + CONFIRM_ROUNDS``, each over ``channels`` channels."""

    def progress(fraction: float) -> None:
        total = 1000 * (1 + CONFIRM_ROUNDS) * channels
        report(callback, round(1000 * (channel + done * channels + fraction)), total,
               "detect clicks")  # fmt: skip

    return progress


def _marked_runs(
    samples: np.ndarray,
    models: list[list[np.ndarray | None]],
    sample_rate: int,
    order: int,
    settings: dict[str, float],
    opts: dict[str, Any],
) -> list[tuple[int, int]]:
    """The runs of samples whose statistic (:func:`.click_statistic.click_statistic` of each
    channel of float64 ``samples`` by its block ``models`` of ``order``, the largest) exceeds
    the threshold, joined across the mode's bridge."""
    k = settings["k_low"] * (settings["k_high"] / settings["k_low"]) ** opts["sensitivity"]
    statistic = np.zeros(samples.shape[1])
    for x, channel_models in zip(samples, models, strict=True):
        np.maximum(statistic, click_statistic(x, sample_rate, order, channel_models), out=statistic)
    return _spans(statistic > k, round(settings["bridge"] * sample_rate))


def _spans(marked: np.ndarray, bridge: int) -> list[tuple[int, int]]:
    """Runs of True in ``marked`` as ``[first, stop)``, joined across gaps up to ``bridge``."""
    return joined(runs_of(marked), reach=bridge)
