"""Declipping by A-SPADE, the analysis-sparse SPADE of Kitic, Bertin & Gribonval (2015), in the
form of Zaviska, Rajmic, Ozerov & Rencker, "Revisiting synthesis model in sparse audio
declipper" (2018), Algorithm 2.

Each frame ``y`` (``window`` samples, hop ``window / 4``) with reliable samples ``R``, and
samples clipped high ``H`` / low ``L``, is restored by ADMM on

    min ||z||_0  s.t.  z = A x,  x in Gamma(y) = {x : x_R = y_R, x_H >= theta+, x_L <= -theta-}

(``theta+ = theta- = theta`` unless the two sides were clipped apart), with ``A`` a Parseval DFT
frame of ``redundancy`` (the frame zero-padded, FFT, scaled so that
``A^T A = I``):

    z_bar = H_k(A x + u)                       (keep the k largest coefficients)
    x     = proj_Gamma(A^T (z_bar - u))          (A^T A = I makes this a plain clamp per sample)
    u     = u + A x - z_bar
    k     = k + step every ``every`` iterations, until ||A x - z_bar|| <= epsilon ||y||.

Frames are solved together (a batch of FFTs per iteration), those that converge leave the batch;
frames without a clipped sample are not touched. The frames are joined by Hann-weighted
overlap-add, which keeps consistency (a convex combination of consistent frames is consistent);
then the reliable samples are copied from the input, so they are bit-identical. Written here
because no maintained Python package implements SPADE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from diffmusic_engine.clipping import clipped_mask, consistent_with_clipping, side_levels
from diffmusic_engine.damage import Declip
from diffmusic_engine.dsp.options import MAX_N_FFT, Option, parse_options
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.rates import samples_at

OPTIONS = {
    # frame length in samples; 0 = about 46 ms (2048 at 44.1 kHz, rounded to a power of two)
    "window": Option(default=0, low=0, high=MAX_N_FFT, integer=True),
    "redundancy": Option(default=2, low=1, high=4, integer=True),  # of the DFT frame
    "step": Option(default=32, low=1, high=256, integer=True),  # s: k grows by this ...
    "every": Option(default=1, low=1, high=16, integer=True),  # r: ... every r iterations
    "epsilon": Option(default=0.1, low=1e-6, high=1.0),  # relative to the frame's norm
    "iterations": Option(default=1000, low=1, high=100000, integer=True),  # at most
}
AUTO_WINDOW_44K1 = 2048  # window samples at 44.1 kHz when not given (rates.samples_at)
BATCH_FRAMES = 256  # frames per solver batch: bounds memory on long files


def restore_declip(
    audio: np.ndarray,
    sample_rate: int,
    damage: Declip,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Declip float32 ``(channels, samples)`` ``audio``; clipped samples stay beyond the level."""
    opts = parse_options("declip", options, OPTIONS)
    if damage.level == "auto":
        raise DamageError("dsp declip: resolve level 'auto' first (restore does)")
    level = damage.levels  # one, one per channel or per side (auto on channels clipped apart)
    window = opts["window"] or samples_at(sample_rate, AUTO_WINDOW_44K1)
    clipped = clipped_mask(audio, level)
    frames, hop = _frames(audio.astype(np.float64), window)
    masks, _ = _frames(clipped, window)
    # each frame's levels, positive and negative side: its channel's (frames run channel by
    # channel), (frames, 2)
    per_channel_frames = len(frames) // len(audio)
    thetas = np.repeat(np.stack(side_levels(level, len(audio)), axis=1), per_channel_frames, 0)
    todo = np.flatnonzero(masks.any(axis=-1))
    batches = [todo[i : i + BATCH_FRAMES] for i in range(0, todo.size, BATCH_FRAMES)]
    iterations = 0
    for index, batch in enumerate(batches):

        def progress(fraction: float, index: int = index) -> None:
            report(callback, round(1000 * (index + fraction)), 1000 * len(batches), "declip")

        frames[batch], used = aspade(
            frames[batch], masks[batch], thetas[batch], opts, window, progress
        )
        iterations = max(iterations, used)
    out = consistent_with_clipping(audio, _overlap_add(frames, hop, audio.shape), level)
    report(callback, 1, 1, "declip")
    details = {
        "level": float(damage.level), "clipped": float(clipped.mean()),
        "frames": int(todo.size), **opts,
        "window": window, "max_iterations_used": iterations,  # the window used (option 0: auto)
    }  # fmt: skip
    return out, details


def aspade(
    y: np.ndarray,
    clipped: np.ndarray,
    theta: np.ndarray,
    opts: dict[str, Any],
    window: int,
    progress: Any,
) -> tuple[np.ndarray, int]:
    """A-SPADE on frames ``y`` ``(frames, window)`` whose samples ``clipped`` (the same shape,
    :func:`~diffmusic_engine.clipping.clipped_mask`'s) were clipped at ``theta`` ``(frames,
    2)`` (each frame's positive and negative side's level: its channel's); returns the
    estimates and the iterations the slowest frame needed."""
    frame = _DftFrame(window, opts["redundancy"])
    consistent = _Consistent(y, clipped, theta)
    y = consistent.y
    x = y.copy()
    active = np.arange(y.shape[0])
    ax = frame.analysis(x)  # A x for the active frames
    u = np.zeros_like(ax)
    k = opts["step"]  # the same for every frame: they all start together
    # ||A x|| = ||x|| / sqrt(2) with the one-sided scaling of _DftFrame
    tolerance = opts["epsilon"] * np.linalg.norm(y, axis=1) / np.sqrt(2)
    iteration = 0
    for iteration in range(1, opts["iterations"] + 1):
        z_bar = _hard_threshold(ax + u, k)
        x_new = consistent.project(frame.synthesis(z_bar - u), active)
        ax = frame.analysis(x_new)
        u += ax
        u -= z_bar
        x[active] = x_new
        if iteration % opts["every"] == 0:
            k += opts["step"]
        going = _energy(ax - z_bar) > tolerance[active] ** 2
        if not going.all():
            active, ax, u = active[going], ax[going], u[going]
        progress(1 - active.size / y.shape[0])  # each iteration: well under a second
        if not active.size:
            break
    return x, iteration


class _DftFrame:
    """``A``, the Parseval DFT frame: a frame of ``window`` samples zero-padded to ``redundancy``
    times that, its one-sided ortho spectrum (up to the common factor sqrt(2)); ``A^T`` its
    inverse on the range."""

    def __init__(self, window: int, redundancy: int) -> None:
        self.window, self.n_fft = window, window * redundancy
        # Parseval scaling of the one-sided spectrum (ortho FFT): bins 1 .. n_fft/2 - 1 stand for
        # two, so DC and Nyquist are scaled by 1/sqrt(2) relative to them (in place: it is cheap)
        self.edge = np.float32(np.sqrt(0.5))

    def analysis(self, x: np.ndarray) -> np.ndarray:
        """``A x`` for frames ``x`` ``(frames, window)``."""
        z = scipy.fft.rfft(x, n=self.n_fft, norm="ortho", workers=-1)
        z[:, 0] *= self.edge
        z[:, -1] *= self.edge
        return z

    def synthesis(self, z: np.ndarray) -> np.ndarray:
        """``A^T z``: frames ``(frames, window)``."""
        z = z.copy()
        z[:, 0] /= self.edge
        z[:, -1] /= self.edge
        return scipy.fft.irfft(z, n=self.n_fft, norm="ortho", workers=-1)[:, : self.window]


class _Consistent:
    """``Gamma(y)``: the frames equal to ``y`` where it was not ``clipped`` and beyond its level
    where it was (``theta``: each frame's positive and negative side's); :attr:`y` the frames as
    given, in single precision (it halves the cost; far below audible error), as are the levels
    (``H`` and ``L``, the clipped samples' sides, are read on the frames as given)."""

    def __init__(self, y: np.ndarray, clipped: np.ndarray, theta: np.ndarray) -> None:
        self.high, self.low = clipped & (y > 0), clipped & (y < 0)  # H and L
        self.reliable = ~clipped
        self.y = y.astype(np.float32)
        self.theta_high = theta[:, :1].astype(np.float32)  # theta+ (a magnitude)
        self.theta_low = theta[:, 1:].astype(np.float32)  # theta-

    def project(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``x``, frames ``rows`` of those given, projected onto ``Gamma(y)``."""
        x = np.where(self.high[rows], np.maximum(x, self.theta_high[rows]), x)
        x = np.where(self.low[rows], np.minimum(x, -self.theta_low[rows]), x)
        return np.where(self.reliable[rows], self.y[rows], x)


def _energy(z: np.ndarray) -> np.ndarray:
    """Each row's ``||z||^2`` (complex ``z``)."""
    return np.einsum("fk,fk->f", z.real, z.real) + np.einsum("fk,fk->f", z.imag, z.imag)


def _hard_threshold(v: np.ndarray, k: int) -> np.ndarray:
    """``v`` with all but the ``k`` largest-magnitude coefficients of each row set to zero."""
    magnitude = np.abs(v)
    k = min(k, v.shape[1])
    kth = np.partition(magnitude, v.shape[1] - k, axis=1)[:, v.shape[1] - k]
    return np.where(magnitude >= kth[:, None], v, 0)


def _frames(x: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """``(channels * frames, window)`` frames at hop ``window / 4`` covering the padded signal."""
    hop = window // 4
    padded = np.pad(x, ((0, 0), (window, window + hop)))
    frames = sliding_window_view(padded, window, axis=-1)[:, ::hop]  # (channels, count, window)
    return np.array(frames.reshape(-1, window)), hop  # a copy: the frames are solved in place


def _overlap_add(frames: np.ndarray, hop: int, shape: tuple[int, int]) -> np.ndarray:
    """Hann-weighted overlap-add of ``_frames`` output back to ``shape``, divided by the sum of
    the weights (by hand: librosa keeps its overlap-add private, and the diffusion backend's,
    :mod:`diffmusic_engine.longform.windows`, takes a plan of unevenly spaced windows)."""
    channels, n = shape
    window = frames.shape[1]
    hann = np.hanning(window + 2)[1:-1]
    per_channel = frames.reshape(channels, -1, window)
    length = hop * (per_channel.shape[1] - 1) + window
    total, weights = np.zeros((channels, length)), np.zeros(length)
    for i in range(per_channel.shape[1]):
        total[:, i * hop : i * hop + window] += hann * per_channel[:, i]
        weights[i * hop : i * hop + window] += hann
    return (total / np.maximum(weights, 1e-12))[:, window : window + n]
