"""The window solver: a track at any rate and channel count through a 16 kHz mono window model.

A track's path (``restore.restore_long`` runs it, with each task's band merge)::

    input (ch, N) at its own rate
      -> stereo.encode: mid and side, or each channel         signals (K, N)
      -> soxr to the model rate (16 kHz)                      (K, n)
      -> overlapping windows, solved as ONE batch             (K * windows, L) -> solve
         (chunks of batch_size rows; the K signals of a window share their initial noise z_T;
         a silent side, i.e. a mono track in stereo, is passed through unsolved)
      -> weighted overlap-add, soxr back to the input rate    (K, N)
      -> stereo.decode, then the band merge of the task       (ch, N), same rate and length
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from librosa.util import fix_length

from diffmusic_engine.damage import (
    Damage,
    Dereverb,
    PhaseRetrieval,
)
from diffmusic_engine.diffusion.options import DEFAULT_INIT_STRENGTH, DEFAULT_ROOM_STEPS, OPTIONS
from diffmusic_engine.impulse_response import load_impulse_response
from diffmusic_engine.longform import stereo
from diffmusic_engine.longform.windows import overlap_add, plan_windows, split
from diffmusic_engine.operators import (
    ConvolutionOperator,
    MagnitudeOperator,
    MaskOperator,
    Operator,
    make_operator,
)
from diffmusic_engine.progress import Progress, ProgressCallback, report
from diffmusic_engine.rates import resample

# solve(adapter, operator, measurement, *, sources, sampler, vmc, seed, prompt, guidance_dtype,
#       z_T, callback, [steps, gamma, eta]) -> (B, n) or (B, sources, n):
#       diffmusic_engine.diffusion.solver.solve
SolveFunction = Callable[..., torch.Tensor]


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
    room_steps: int = DEFAULT_ROOM_STEPS  # blind dereverb only; not for solve()

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
    out = fix_length(flat, size=length).astype(np.float32, copy=False)
    return out.reshape(*signals.shape[:-1], length)


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


def solve_track(
    solver: WindowSolver,
    audio: np.ndarray,
    sample_rate: int,
    operator: Operator,
    sources: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The model's estimate of the whole track at the input's rate: ``(ch, N)``/``(S, ch, N)``."""
    rate, mode = solver.adapter.sample_rate, solver.settings.stereo
    encoded, count, signals = encode_for_model(solver, audio, sample_rate)
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


def encode_for_model(
    solver: WindowSolver, audio: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """``(encoded, count, signals)``: the stereo encoding of ``audio``, how many of its signals
    are solved (a silent side is not), and those at the model's rate."""
    mode = solver.settings.stereo
    encoded, count = stereo.split_silent_side(stereo.encode(audio, mode), mode, audio.shape[0])
    return encoded, count, to_model_rate(encoded[:count], sample_rate, solver.adapter.sample_rate)
