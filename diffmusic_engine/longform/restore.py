"""Restoring DAW audio of any length, rate and channel count with the window solver
(:mod:`.pipeline`): each task's method, and what fills each band.

Inpainting solves only windows around the gaps and splices the result inside the gaps, so the
rest of the track is bit-identical. What fills each band (crossover 7.2 kHz, see ``bands``):

=================  =============================  ==========================================
task               below the crossover            above the crossover
=================  =============================  ==========================================
inpaint            model, inside the gaps only    dsp band replication of the filled gaps
super-resolution   input below the cutoff, model  dsp band replication of the merged signal
                   from the cutoff up             (the input only has it if cutoff > 7.2 kHz)
phase-retrieval    model                          dsp restoration (input's band if dsp can't:
                                                  right magnitudes, wrong phase)
dereverb           model                          dsp restoration (input's band if dsp can't)
separate           model, per source              the mix's top band shared by each source's
                                                  energy just below it; then projected so
                                                  the sources mix back to the input exactly
=================  =============================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from diffmusic_engine.backends import REGIONS, Restoration
from diffmusic_engine.clipping import consistent_with_clipping
from diffmusic_engine.damage import (
    Damage,
    Declick,
    Declip,
    Dereverb,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.errors import DamageError
from diffmusic_engine.longform import bands, gaps, spans, stereo
from diffmusic_engine.longform.pipeline import (
    SolveFunction,
    SolverSettings,
    WindowSolver,
    encode_for_model,
    from_model_rate,
    model_operator,
    solve_track,
    to_model_rate,
)
from diffmusic_engine.longform.windows import overlap_add, split
from diffmusic_engine.operators import (
    BlindConvolutionOperator,
    LowPassOperator,
    blind_operator,
    make_operator,
)
from diffmusic_engine.progress import Progress, ProgressCallback, report

REPLICATION_MARGIN = 0.25  # s of audio around a gap given to the dsp band replication


def restore_long(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    adapter: Any,
    *,
    solve: SolveFunction,
    settings: SolverSettings | None = None,
    callback: ProgressCallback | None = None,
) -> Restoration:
    """Restore ``(channels, samples)`` ``audio`` with ``adapter``'s model through ``solve``.

    The output has the input's length, rate and channels (one track per source for separation).
    """
    settings = settings or SolverSettings()
    stereo.check_stereo_mode(settings.stereo)
    solver = WindowSolver(adapter, solve, settings, callback)
    task = TASK_METHODS[type(damage)]  # every task has one (a test holds it to damage.TASKS)
    tracks, details = task(solver, audio, sample_rate, damage)
    report(callback, 1, 1, "done")
    if details.get("init") == "pattern":
        details["steps_run"] = solver.steps_run
    details = {
        "backend": "diffusion",
        "model": getattr(adapter, "name", "?"),
        "model_rate": adapter.sample_rate,
        "sampler": settings.sampler,
        "vmc": settings.vmc,
        "guidance_dtype": settings.guidance_dtype,
        "seed": settings.seed,
        "stereo": settings.stereo if audio.shape[0] == 2 else "per-channel",
        **details,
    }
    tracks = tuple(np.ascontiguousarray(t, np.float32) for t in tracks)
    return Restoration(tracks, sample_rate, details)


def _model_band_only(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: Damage
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """Phase retrieval and dereverberation: the model's band, the rest from dsp (or input).

    Blind dereverberation fits the room while sampling (``operators.blind_dereverb``): one room
    for the whole job, warm-started from the input's room estimate; the details report it.
    """
    rate, room = solver.adapter.sample_rate, {}  # room: what the job details say of the room
    if isinstance(damage, Dereverb) and damage.blind:
        operator, warm = blind_operator(audio, sample_rate, rate, solver.settings.room_steps)
        room["warm_start"] = warm.to_dict() if warm is not None else None
    else:
        operator = model_operator(damage, rate, sample_rate)
    estimate, details = solve_track(solver, audio, sample_rate, operator)
    if isinstance(operator, BlindConvolutionOperator):
        details = {**details, "room": {**operator.details(), **room}}
    crossover = bands.crossover_frequency(solver.adapter.sample_rate)
    if sample_rate / 2 <= crossover:
        return (estimate,), {**details, "high_band": "none"}
    high, source = bands.dsp_restoration(audio, sample_rate, damage), "dsp"
    if high is None:
        high, source = audio, "input"
    return (bands.merge(estimate, high, sample_rate, crossover),), {**details, "high_band": source}


def _super_resolution(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: SuperResolution
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """Input below the cutoff, model up to the crossover, dsp band replication above."""
    rate = solver.adapter.sample_rate
    cutoff, crossover = float(damage.cutoff), bands.crossover_frequency(rate)
    details: dict[str, Any] = {"cutoff": cutoff}
    if cutoff < crossover:
        operator = LowPassOperator(cutoff, rate)
        estimate, solved = solve_track(solver, audio, sample_rate, operator)
        merged = bands.merge(audio, estimate, sample_rate, cutoff)
        details.update(solved)
    else:  # the input already holds everything the model could add
        merged, details["windows"] = audio, 0
    split_at = max(cutoff, crossover)
    if sample_rate / 2 <= split_at:
        return (merged,), {**details, "high_band": "none"}
    high = bands.dsp_restoration(merged, sample_rate, SuperResolution(cutoff=split_at))
    if high is None:
        return (merged,), {**details, "high_band": "none"}
    return (bands.merge(merged, high, sample_rate, split_at),), {**details, "high_band": "dsp"}


def _separate(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: Separate
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """One track per source: model band, shared top band, then mixture consistency."""
    operator = make_operator(damage, solver.adapter.sample_rate)
    estimate, details = solve_track(solver, audio, sample_rate, operator, damage.sources)
    crossover = bands.crossover_frequency(solver.adapter.sample_rate)
    if sample_rate / 2 > crossover:
        high = bands.split_high_band(audio, estimate, damage.weights, sample_rate, crossover)
        estimate = bands.lowpass(estimate, sample_rate, crossover) + high
        details["high_band"] = "mix, shared by band energy"
    sources = bands.mix_consistent(estimate, audio, damage.weights)
    return tuple(sources), details


def _inpaint(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: Inpaint
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """Solve context windows around the gaps; splice inside the gaps only."""
    rate, mode = solver.adapter.sample_rate, solver.settings.stereo
    ranges = gaps.full_rate_ranges(damage.gaps, sample_rate, audio.shape[-1])
    encoded, count, signals = encode_for_model(solver, audio, sample_rate)
    model_ranges = gaps.model_rate_ranges(ranges, sample_rate, rate, signals.shape[-1])
    plan = gaps.plan_gap_windows(
        model_ranges, signals.shape[-1], solver.adapter.window_samples, rate
    )
    masks = gaps.window_masks(model_ranges, plan)
    inits, init_details = _pattern_inits(solver, audio, sample_rate, damage, count, plan)
    solved = solver(split(signals, plan), None, masks=masks, inits=inits)
    joined, _ = overlap_add(solved, plan)
    fill = from_model_rate(joined, rate, sample_rate, audio.shape[-1])
    fill = stereo.decode(stereo.pass_through(fill, encoded[count:]), mode, audio.shape[0])
    crossfade = round(damage.crossfade * sample_rate)
    high_band = "none"
    out = gaps.splice(audio, fill, ranges, crossfade)
    if sample_rate / 2 > bands.crossover_frequency(rate):
        # the top band is replicated from the spliced track, then the fill with it is spliced
        replicated = _replicate_top_band(fill, out, sample_rate, ranges, rate)
        if replicated is not None:
            out = gaps.splice(audio, replicated, ranges, crossfade)
            high_band = "dsp band replication"
    details = {
        "windows": len(plan),
        "window_samples": plan.length,
        "rows": len(plan) * len(signals),
        "gaps": len(ranges),
        REGIONS: [[first, stop] for first, stop in ranges],  # all it changed: fades lie inside
        "high_band": high_band,
        **init_details,
    }
    return (out,), details


def _pattern_inits(
    solver: WindowSolver,
    audio: np.ndarray,
    sample_rate: int,
    damage: Inpaint,
    count: int,
    plan: Any,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """With ``init="pattern"``: the dsp pattern fill of every gap, as model-rate windows
    ``(count, windows, L)`` like the solver's, to start each chain from (SDEdit); else None.

    A gap the pattern search finds no passage for makes the whole track start from noise, as
    with ``init="noise"``; ``init_fallback`` in the details says why.
    """
    settings = solver.settings
    if settings.init != "pattern":
        return None, {"init": "noise"}
    from diffmusic_engine.dsp.inpaint import restore_inpaint

    def progress(done: Progress) -> None:  # the search's progress; a cancel stops it too
        report(solver.callback, done.step, done.total, "pattern init")

    try:  # pattern_from 0: every gap gets the pattern fill, however short
        filled, _ = restore_inpaint(
            audio, sample_rate, damage, {"pattern_from": 0.0, "pattern_from_edge": 0.0}, progress
        )
    except DamageError as error:
        return None, {"init": "noise", "init_fallback": str(error)}
    encoded = stereo.encode(filled, settings.stereo)[:count]
    signals = to_model_rate(encoded, sample_rate, solver.adapter.sample_rate)
    details = {"init": "pattern", "init_strength": settings.init_strength}
    return split(signals, plan), details


def _replicate_top_band(
    fill: np.ndarray, spliced: np.ndarray, sample_rate: int, ranges: list, rate: int
) -> np.ndarray | None:
    """A copy of ``fill`` with a top band inside the gaps: the dsp backend's band replication
    of ``spliced`` (the input with the model's fill in its gaps), run on short segments around
    the gaps only. ``None`` if the dsp backend cannot do it. The arguments are not changed."""
    crossover = bands.crossover_frequency(rate)
    margin = round(REPLICATION_MARGIN * sample_rate)
    out = fill.copy()
    tilts = bands.replication_tilts(spliced, sample_rate, ranges, crossover)
    for first, stop in gaps.segments(ranges, margin, spliced.shape[-1]):
        damage = SuperResolution(cutoff=crossover)
        replicated = bands.dsp_restoration(spliced[:, first:stop], sample_rate, damage, tilts)
        if replicated is None:
            return None
        out[:, first:stop] = bands.merge(fill[:, first:stop], replicated, sample_rate, crossover)
    return out


def _declip(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: Declip
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """The model's estimate in the clipped samples only, held beyond the level, as dsp's.
    Channels (or sides) clipped apart are solved per channel, each guided at its own levels: in
    mid/side a channel's clipping bounds M + S or M - S, two rows guided apart, which no per-row
    T says."""
    if damage.channel_levels and stereo.uses_mid_side(solver.settings.stereo, len(audio)):
        settings = replace(solver.settings, stereo="per-channel")
        per_channel = WindowSolver(solver.adapter, solver.solve, settings, solver.callback)
        (estimate,), details = _model_band_only(per_channel, audio, sample_rate, damage)
        details["stereo"] = "per-channel (channels or sides clipped at different levels)"
    else:
        (estimate,), details = _model_band_only(solver, audio, sample_rate, damage)
    return (consistent_with_clipping(audio, estimate, damage.levels),), details


def _declick(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int, damage: Declick
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """The model's estimate in the given click spans only (``check_supported`` asks for them);
    (restored, removed) as dsp's."""
    (estimate,), details = _model_band_only(solver, audio, sample_rate, damage)
    tracks, repaired = spans.declicked(audio, estimate, damage, sample_rate)
    return tracks, {**details, **repaired}


# Each task's method: (solver, audio, sample_rate, damage) -> (tracks, details)
TASK_METHODS: dict[type, Callable[..., tuple[tuple[np.ndarray, ...], dict[str, Any]]]] = {
    Inpaint: _inpaint,
    SuperResolution: _super_resolution,
    PhaseRetrieval: _model_band_only,
    Dereverb: _model_band_only,
    Separate: _separate,
    Declip: _declip,
    Declick: _declick,
}
