"""Restoring DAW audio of any length, rate and channel count with a 16 kHz mono window model.

The path of a track through the diffusion backend::

    input (ch, N) at its own rate
      -> stereo.encode: mid and side, or each channel         signals (K, N)
      -> soxr to the model rate (16 kHz)                      (K, n)
      -> overlapping windows, solved as ONE batch             (K * windows, L) -> solve
         (chunks of batch_size rows; the K signals of a window share their initial noise z_T;
         a silent side, i.e. a mono track in stereo, is passed through unsolved)
      -> weighted overlap-add, soxr back to the input rate    (K, N)
      -> stereo.decode, then the band merge of the task       (ch, N), same rate and length

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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from diffmusic_engine.audio import resample
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
from diffmusic_engine.diffusion.options import DEFAULT_INIT_STRENGTH, OPTIONS
from diffmusic_engine.errors import DamageError
from diffmusic_engine.impulse_response import load_impulse_response
from diffmusic_engine.longform import bands, gaps, spans, stereo
from diffmusic_engine.longform.windows import overlap_add, plan_windows, split
from diffmusic_engine.operators import (
    BlindConvolutionOperator,
    ConvolutionOperator,
    LowPassOperator,
    MagnitudeOperator,
    MaskOperator,
    Operator,
    blind_operator,
    make_operator,
)
from diffmusic_engine.progress import Progress, ProgressCallback, report

# solve(adapter, operator, measurement, *, sources, sampler, vmc, seed, prompt, guidance_dtype,
#       z_T, callback, [steps, gamma, eta]) -> (B, n) or (B, sources, n):
#       diffmusic_engine.diffusion.solver.solve
SolveFunction = Callable[..., torch.Tensor]

REPLICATION_MARGIN = 0.25  # s of audio around a gap given to the dsp band replication


@dataclass(frozen=True)
class SolverSettings:
    """How to run the solver over the windows; ``None`` leaves the solver's own default. The
    defaults are the option table's (:data:`diffmusic_engine.diffusion.options.OPTIONS`)."""

    sampler: str = OPTIONS["sampler"].default
    vmc: bool = OPTIONS["vmc"].default
    steps: int | None = None
    gamma: float | None = None
    eta: float | None = None
    seed: int = 0
    prompt: str | None = None
    stereo: str = OPTIONS["stereo"].default
    batch_size: int = OPTIONS["batch_size"].default
    guidance_dtype: str = OPTIONS["guidance_dtype"].default
    init: str = OPTIONS["init"].default  # inpainting: "pattern" starts from the dsp fill (SDEdit)
    init_strength: float = DEFAULT_INIT_STRENGTH  # the fraction of the steps run from the fill
    room_steps: int = OPTIONS["room_steps"].default  # blind dereverb only; not for solve()

    def solve_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``solve`` (the defaults left out)."""
        kwargs: dict[str, Any] = {
            "sampler": self.sampler, "vmc": self.vmc, "seed": self.seed, "prompt": self.prompt,
            "guidance_dtype": self.guidance_dtype,
        }  # fmt: skip
        for name in ("steps", "gamma", "eta"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs


class WindowSolver:
    """Solves stacks of windows in chunks of ``batch_size`` rows, reporting windows x steps.

    Rows are signal-major (``row = signal * windows + window``); every signal's copy of window
    ``w`` starts from the same initial noise ``z_T[w]``, drawn once per restoration from
    ``seed``, so the result does not depend on ``batch_size``.
    """

    def __init__(
        self,
        adapter: Any,
        solve: SolveFunction,
        settings: SolverSettings,
        callback: ProgressCallback | None,
    ) -> None:
        self.adapter, self.solve, self.settings, self.callback = adapter, solve, settings, callback
        self.steps_run = 0  # steps of the last chain solved, as the solver reported them

    def initial_noise(self, windows: int, shape: tuple[int, ...], sources: int) -> torch.Tensor:
        """``z_T`` per window: ``(windows, sources, *shape)``, seeded."""
        generator = torch.Generator().manual_seed(self.settings.seed)
        return torch.randn((windows, sources, *shape), generator=generator)

    def __call__(
        self,
        windows: np.ndarray,
        operator: Operator | None,
        *,
        sources: int = 1,
        masks: np.ndarray | None = None,
        inits: np.ndarray | None = None,
    ) -> np.ndarray:
        """Solve ``(signals, windows, L)`` -> ``(signals, windows, L)`` (or ``..., sources, L``).

        ``solve`` takes the damaged windows and measures them itself (``operator.measure``).
        ``masks`` ``(windows, L)`` makes it an inpainting solve: ``T = mask * x`` per row, and
        the windows are masked too, so that ``y = T(window)``. Separation latents are
        source-fastest (row ``b * sources + i``), as ``solve`` orders them. ``inits``
        (``windows``' shape) are guesses of the clean windows: each chain starts from its guess
        (``solve``'s ``x_init``, SDEdit) and runs ``settings.init_strength`` of the steps.
        """
        signals, count, length = windows.shape
        rows = np.ascontiguousarray(windows.reshape(-1, length), np.float32)
        latent_shape = tuple(self.adapter.latent_shape(length))
        noise = self.initial_noise(count, latent_shape, sources)
        device = getattr(self.adapter, "device", None)
        outputs = []
        for first in range(0, len(rows), self.settings.batch_size):
            index = np.arange(first, min(first + self.settings.batch_size, len(rows)))
            x = torch.from_numpy(rows[index]).to(device)
            if masks is not None:
                chunk_operator = MaskOperator(
                    torch.from_numpy(masks[index % count]).to(device), self.adapter.sample_rate
                )
                x = chunk_operator(x)  # nothing inside the (widened) gaps is trusted
            else:  # row = signal * count + window: each row takes its signal's operator
                chunk_operator = operator.for_signals(index // count)
            start = {}
            if inits is not None:
                guess = np.ascontiguousarray(inits.reshape(-1, length)[index], np.float32)
                start = {"x_init": torch.from_numpy(guess).to(device),
                         "strength": self.settings.init_strength}  # fmt: skip
            solved = self.solve(
                self.adapter, chunk_operator, x, sources=sources,
                z_T=noise[index % count].reshape(-1, *latent_shape).to(device),
                callback=self._progress(first, len(index), len(rows)),
                **start, **self.settings.solve_kwargs(),
            )  # fmt: skip
            outputs.append(solved.detach().to("cpu", torch.float32).numpy())
        solved = np.concatenate(outputs)
        return solved.reshape(signals, count, *solved.shape[1:])

    def _progress(self, first: int, size: int, rows: int) -> ProgressCallback:
        """Map a chunk's step reports onto ``rows x steps`` units for the whole restoration."""

        def callback(progress: Progress) -> None:
            self.steps_run = progress.total
            done = first * progress.total + progress.step * size
            report(self.callback, done, rows * progress.total, progress.stage or "solve")

        return callback


def to_model_rate(signals: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    """``(..., N)`` at ``sample_rate`` -> ``(..., n)`` at the model's ``rate`` (soxr)."""
    flat = signals.reshape(-1, signals.shape[-1])
    out = resample(flat, sample_rate, rate)
    return out.reshape(*signals.shape[:-1], out.shape[-1])


def from_model_rate(signals: np.ndarray, rate: int, sample_rate: int, length: int) -> np.ndarray:
    """``(..., n)`` at ``rate`` -> ``(..., length)`` at ``sample_rate``, trimmed or padded."""
    flat = resample(np.ascontiguousarray(signals.reshape(-1, signals.shape[-1])), rate, sample_rate)
    out = np.zeros((flat.shape[0], length), np.float32)
    out[:, : min(length, flat.shape[1])] = flat[:, :length]
    return out.reshape(*signals.shape[:-1], length)


def check_supported(damage: Damage, init: str = "noise") -> None:
    """Raise :class:`DamageError` for what the model cannot restore: declicking without the
    clicks' times, a pattern start for anything but inpainting."""
    if init != "noise" and not isinstance(damage, Inpaint):
        raise DamageError(
            f"diffusion {damage.task}: init={init} starts from the dsp fill of gaps, so it is "
            "for inpainting only; leave init out (init=noise)"
        )
    if isinstance(damage, Declick) and not damage.clicks:
        raise DamageError(
            "diffusion declick needs the clicks' times (--click START:END, or a preset from "
            "diffmusic diagnose --preset-out); finding them is the dsp backend's (--backend dsp)"
        )


def model_operator(damage: Damage, rate: int, sample_rate: int) -> Operator:
    """The forward model at the model's ``rate`` for audio damaged at ``sample_rate``.

    Phase retrieval keeps the STFT's durations (n_fft and hop scaled by the rate ratio), so the
    16 kHz magnitudes are those the input's trusted magnitudes imply below 8 kHz. A multichannel
    impulse response is averaged to one (the model solves mid/side or single channels).
    """
    if isinstance(damage, PhaseRetrieval):
        scale = rate / sample_rate
        n_fft = max(16, round(damage.n_fft * scale))
        return MagnitudeOperator(n_fft, max(1, min(n_fft // 2, round(damage.hop * scale))), rate)
    if isinstance(damage, Dereverb):
        ir = load_impulse_response(damage.rir, rate, damage.rir_rate)
        return ConvolutionOperator(ir.mean(axis=0) if ir.ndim == 2 else ir, rate)
    return make_operator(damage, rate)


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
    task = _TASKS.get(type(damage), _model_band_only)
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


def solve_track(
    solver: WindowSolver,
    audio: np.ndarray,
    sample_rate: int,
    operator: Operator,
    sources: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The model's estimate of the whole track at the input's rate: ``(ch, N)``/``(S, ch, N)``."""
    rate, mode = solver.adapter.sample_rate, solver.settings.stereo
    encoded, count, signals = _to_model(solver, audio, sample_rate)
    plan = plan_windows(signals.shape[-1], solver.adapter.window_samples)
    solved = solver(split(signals, plan), operator, sources=sources)  # (K, W, [S,] L)
    if sources > 1:
        solved = np.moveaxis(solved, 2, 0)  # (S, K, W, L)
    joined, _ = overlap_add(solved, plan)
    estimate = from_model_rate(joined, rate, sample_rate, audio.shape[-1])
    estimate = stereo.pass_through(estimate, encoded[count:])
    details = {
        "windows": len(plan),
        "window_samples": plan.length,
        "rows": len(signals) * len(plan),
    }
    return stereo.decode(estimate, mode, audio.shape[0]), details


def _to_model(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """``(encoded, count, signals)``: the stereo encoding of ``audio``, how many of its signals
    are solved (a silent side is not), and those at the model's rate."""
    mode = solver.settings.stereo
    encoded, count = stereo.split_silent_side(stereo.encode(audio, mode), mode, audio.shape[0])
    return encoded, count, to_model_rate(encoded[:count], sample_rate, solver.adapter.sample_rate)


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
    encoded, count, signals = _to_model(solver, audio, sample_rate)
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
    Channels clipped apart are solved per channel, each guided at its own level: in mid/side a
    channel's clipping bounds M + S or M - S, two rows guided apart, which no per-row T says."""
    if damage.channel_levels and stereo.uses_mid_side(solver.settings.stereo, len(audio)):
        settings = replace(solver.settings, stereo="per-channel")
        per_channel = WindowSolver(solver.adapter, solver.solve, settings, solver.callback)
        (estimate,), details = _model_band_only(per_channel, audio, sample_rate, damage)
        details["stereo"] = "per-channel (channels clipped at different levels)"
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


_TASKS: dict[type, Callable[..., tuple[tuple[np.ndarray, ...], dict[str, Any]]]] = {
    Inpaint: _inpaint,
    SuperResolution: _super_resolution,
    Separate: _separate,
    Declip: _declip,
    Declick: _declick,
}
