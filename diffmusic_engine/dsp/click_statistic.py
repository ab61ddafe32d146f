"""Declick's detection statistic (:mod:`.declick`'s docstring: the method): the forward and
backward AR prediction errors of a channel, a model fitted per block, and the statistic
``d[n] / sigma[n]`` read from them. The confirmation passes refit only the blocks that hold a
hidden sample, the rest keep the first pass's model (:func:`block_models`' ``plain``: on a
3.7-minute mix three passes had fitted every block, 2/3 of diagnose's time). The models are
kept, not their errors: four float64 signals of a stereo file had raised diagnose's peak memory
by a third (1.17 -> 1.55 GB on 219 s); the errors are filtered again (0.14 ms a block, the fit
0.48 ms)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.linalg import cho_factor, cho_solve
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from diffmusic_engine.dsp.ar import NOISE_FLOOR_DB, burg, with_noise_floor

BLOCK_SECONDS = 0.1  # AR model fitted per block of this length
SMOOTH_SECONDS = 0.25e-3
SCALE_SECONDS = 0.02  # robust error scale per block of this length
MAD_TO_SIGMA = 1 / 0.6745
MIN_ROWS_PER_COEFFICIENT = 4  # fewer clean prediction rows per AR coefficient: fit on all


def block_models(
    x: np.ndarray,
    sample_rate: int,
    order: int,
    progress: Callable[[float], None],
    excluded: np.ndarray | None = None,
    plain: list[np.ndarray | None] | None = None,
) -> list[np.ndarray | None]:
    """Per block of ``x`` (:func:`_block`), its AR model of ``order`` (:func:`fit_ar` over the
    block and ``order`` samples on each side) fitted without the ``excluded`` samples; ``None``
    where there is none (too short, silent, or a fit not finite). ``plain``: the models with
    none excluded, taken for the blocks that hold no excluded sample (their fit is the same).
    ``progress(fraction)`` after every block."""
    models: list[np.ndarray | None] = []
    for i, first in enumerate(range(0, x.size, _block(order, sample_rate))):
        progress(first / x.size)
        low, high = _reach(first, x.size, order, sample_rate)
        hidden = None if excluded is None else excluded[low:high]
        if plain is not None and (hidden is None or not hidden.any()):
            models.append(plain[i])  # the plain fit
            continue
        segment = x[low:high]
        if segment.size <= order + 1 or not np.any(segment):
            models.append(None)
            continue
        a = fit_ar(segment, order, hidden)
        models.append(a if np.all(np.isfinite(a)) else None)
    return models


def click_statistic(
    x: np.ndarray, sample_rate: int, order: int, models: list[np.ndarray | None]
) -> np.ndarray:
    """``d[n] / sigma[n]``: the geometric mean of the forward and backward prediction errors of
    ``x`` by each block's AR model (``models``, :func:`block_models`; within ``order`` samples
    of an end, the one error there is) over their robust local scale."""
    forward, backward = _prediction_errors(x, sample_rate, order, models)
    width = max(1, round(SMOOTH_SECONDS * sample_rate))
    product = np.multiply(forward, backward)
    np.abs(product, out=product)
    # within ``order`` samples of an end one error has no samples to read: the other alone (a
    # click there had read 0 and was never found; :mod:`.declick_edges` repairs it)
    edge = min(order, x.size)
    product[:edge], product[x.size - edge :] = backward[:edge] ** 2, forward[x.size - edge :] ** 2
    del backward
    # in place from here: each whole-signal temporary is 8 bytes a sample (200 MB a channel of a
    # 10-minute file), and declick's detection held diagnose's peak memory
    d = uniform_filter1d(product, width)
    del product
    np.sqrt(np.maximum(d, 0.0, out=d), out=d)
    d /= _error_scale(forward, sample_rate)
    return d


def forward_scaled(
    x: np.ndarray, sample_rate: int, order: int, models: list[np.ndarray | None]
) -> np.ndarray:
    """``|e_f|`` of ``x`` (each block's model, ``models``) over its robust local scale: how far
    each sample departs from what the samples before it predict, in the music's own error."""
    forward = _prediction_errors(x, sample_rate, order, models)[0]
    return np.abs(forward) / _error_scale(forward, sample_rate)


def _error_scale(forward: np.ndarray, sample_rate: int) -> np.ndarray:
    """The music's own prediction error around each sample: the robust local scale of the
    forward error ``forward`` over SCALE_SECONDS, what both readings above are measured in."""
    return local_scale(np.abs(forward), round(SCALE_SECONDS * sample_rate))


def _prediction_errors(
    x: np.ndarray, sample_rate: int, order: int, models: list[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray]:
    """The forward and backward prediction errors of ``x`` by each block's model (0 where it
    has none, and where a sample has no past or future of ``order`` samples)."""
    forward, backward = np.zeros_like(x), np.zeros_like(x)
    block = _block(order, sample_rate)
    for first, a in zip(range(0, x.size, block), models, strict=True):
        if a is None:
            continue
        low, high = _reach(first, x.size, order, sample_rate)
        segment, lead, stop = x[low:high], first - low, min(x.size, first + block)
        e_f = lfilter(a, [1.0], segment)  # e_f[n] = sum_k a_k s[n - k]
        e_b = lfilter(a, [1.0], segment[::-1])[::-1]  # e_b[n] = sum_k a_k s[n + k]
        forward[first:stop] = e_f[lead : lead + stop - first]
        backward[first:stop] = e_b[lead : lead + stop - first]
    forward[:order] = 0.0
    backward[x.size - order :] = 0.0
    return forward, backward


def _block(order: int, sample_rate: int) -> int:
    """The samples of a block, whose AR model is fitted once (``BLOCK_SECONDS``)."""
    return max(4 * order, round(BLOCK_SECONDS * sample_rate))


def _reach(first: int, n: int, order: int, sample_rate: int) -> tuple[int, int]:
    """The samples of ``n`` its model reads for the block from ``first``: ``order`` each side."""
    return max(0, first - order), min(n, first + _block(order, sample_rate) + order)


def fit_ar(segment: np.ndarray, order: int, hidden: np.ndarray | None) -> np.ndarray:
    """AR coefficients ``[1, a_1 .. a_p]`` of ``segment``: Burg (:func:`.ar.burg`), or, where some
    samples are ``hidden``, least squares over the prediction rows ``e[n]`` that touch none of
    them (the covariance method; its filter need not be minimum phase, and ``e`` is an FIR
    filter's output, so it need not be). Burg needs contiguous data, hence the other method.
    Both fit the segment with :mod:`.ar`'s white-noise floor under it: without it, a few pure
    digital tones gave prediction errors of 1e37 and no click was found among them.
    """
    if hidden is None or not hidden.any():
        return burg(segment, order)
    floored = with_noise_floor(segment, NOISE_FLOOR_DB, seed=order)
    rows = sliding_window_view(floored, order + 1)  # rows[r] = segment[r .. r + p]
    clean = ~sliding_window_view(hidden, order + 1).any(axis=1)
    if clean.sum() < MIN_ROWS_PER_COEFFICIENT * order:
        return burg(segment, order)
    # e[n] = s[n] + sum_k a_k s[n - k]: target rows[:, p], regressors rows[:, p - k], k = 1 .. p
    target, regressors = rows[clean, order], rows[clean, order - 1 :: -1]
    try:  # the normal equations: 10x faster than an SVD on blocks of thousands of rows
        coefficients = cho_solve(cho_factor(regressors.T @ regressors), -(regressors.T @ target))
    except np.linalg.LinAlgError:  # singular (digital silence under the hidden spans)
        return burg(segment, order)
    return np.concatenate([[1.0], coefficients])


def local_scale(magnitude: np.ndarray, width: int) -> np.ndarray:
    """Robust standard deviation per block of ``width`` samples, spread back to every sample.

    The larger of each block's and its neighbours' medians, so a click's own block cannot pull
    the scale down at a block edge; a floor keeps digital silence from dividing by zero.
    """
    count = -(-magnitude.size // width)
    padded = np.pad(magnitude, (0, count * width - magnitude.size), mode="edge")  # a copy: ours
    medians = np.median(padded.reshape(count, width), axis=1, overwrite_input=True) * MAD_TO_SIGMA
    neighbours = np.maximum(medians, np.maximum(np.roll(medians, 1), np.roll(medians, -1)))
    floor = max(1e-9, 1e-3 * float(np.median(medians)))
    return np.repeat(np.maximum(neighbours, floor), width)[: magnitude.size]
