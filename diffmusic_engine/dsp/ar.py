"""Autoregressive (AR) models of audio: Burg's method with a white-noise floor, and the gap
interpolation on it.

One fit for everyone who models music as AR (:mod:`.inpaint` fills gaps with it, :mod:`.declick`
finds clicks by its prediction error). ``a = [1, a_1 .. a_p]``: ``e[n] = sum_k a_k x[n - k]``.

The gap interpolation (:func:`interpolate`; Janssen, Veldhuis & Vries, 1986): for each gap, on a
segment ``s`` = [left context | unknown samples | right context]:

1. fit an AR model ``a`` (:func:`burg`) to the context on both sides;
2. choose the unknown samples ``x_u`` that minimise the prediction error energy
   ``sum_n e_n^2`` with ``e_n = sum_k a_k s_(n-k)`` over every row touching an unknown sample.
   Splitting ``e = A_u x_u + e_0`` (``e_0``: the error with the unknowns set to zero), the normal
   equations are ``(A_u^T A_u) x_u = -A_u^T e_0``. For one contiguous gap with at least ``p``
   known samples on each side, ``A_u^T A_u`` is the symmetric Toeplitz matrix of the
   autocorrelation ``r_k = sum_l a_l a_(l+k)`` of the coefficients, solved in O(m^2) by Levinson
   recursion (``scipy.linalg.solve_toeplitz``);
3. refit ``a`` on the completed segment and solve again (a few iterations).

A signal whose spectrum spans far over 100 dB (a band-limited transfer, near silent above its
cutoff; a few pure digital tones, whose AR model is singular past order 2 per tone) gives a
whitening filter with a gain far beyond float precision: a gap's normal equations lost all
precision (a 20 ms fill reached 1e10) and the prediction error of two tones reached 1e37. White
noise under the signal bounds that range (the white-noise correction of LPC coders). -120 dB
leaves tones predictable (an AR(4) pair of sinusoids: 65 dB prediction gain; -100 dB: 45 dB;
-60 dB: -1 dB); on full-band music fills are as without it (two real mixes, 3-20 ms gaps:
relative error 0.856 against 0.856).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from scipy.linalg import cho_solve_banded, cholesky_banded, solve_toeplitz
from scipy.signal import lfilter, lfiltic

# dB of white noise under the signal's power: the fine floor, and the coarse one used where
# Burg's recursion still fails at the fine one (two sinusoids under -120 dB of noise did, on a
# segment the first iterations of an inpainting had filled)
NOISE_FLOOR_DB, COARSE_FLOOR_DB = -120.0, -60.0
# sigma_v^2 at least this share of the plain estimate's error variance (spans with no noise)
RETAIN_FLOOR = 0.05
# ... and this share of the AR model's where the error is measured (``fill_error``): a faint click
# on an exposed guitar stem is moved less towards a fill worse than it (0.05: 3 of 96 files of a
# user trial's made worse, 0.02: 1, 0.01: 1 and 0.05 dB less gain; docs/results.md "Declick: the
# fill's error measured beside it")
MEASURED_FLOOR = 0.02
# ... and, measured, at most the departure's second difference's power / WHITE_DIFF2 (a white
# burst keeps 1 + 4 + 1 times its power there, an attack's error little: a -30 dB burst on a
# guitar stem's attack read 5e-5, not 0.0063, and was 1.2e-6), unless the departure exceeds
# CLICK_BEYOND x the measured error (that much is a click, white or not: asymmetric and ringing
# clicks lost up to 1.7 dB to the bound alone; 1.5 x: two seeded guitar attacks made worse again;
# docs/results.md "Declick: the fill's error measured beside it"), and the span is at no attack
# (declick.ATTACK_RISE: there the fill errs more than the stretches beside it measure, and the
# rule had replaced drum attacks: a drum-and-bass mix, -20 dB bursts on its onset peaks, -3.14 ->
# +0.01 dB; docs/results.md "Declick: an attack's mismatch is no click")
WHITE_DIFF2, CLICK_BEYOND = 6.0, 2.0
# The music's own roughness: the second difference the music beside a span (the span's length on
# each side) holds, at its share of power there, is no burst's; where that leaves none and the span
# is no louder than the music can be (below), the departure is the music's, whatever its size, and
# the span is kept as observed. A sharp drum hit's attack and noisy body are far from the fill and
# as rough as the music just after them: the bound and CLICK_BEYOND had taken the hit for the burst
# (built hits, 0.3-2 ms attacks at 0.5 over a 0.1 bass: clean hits changed, faint bursts on them
# -36 dB; docs/results.md "Declick: a drum hit's own roughness is no burst"). The music within the
# span is taken to be at most SPAN_RISE x as loud (power) as on its louder side, the rest of the
# span's power a click's: a smooth click in rough music (an asymmetric pulse on a distorted guitar)
# had been read as the music's roughness and kept (trial: chaos_god asym 0.55 -> 0.13 dB uncapped);
# at 2 x the built hits' peaks, louder than the decay beside them, were taken for bursts again. A
# span louder than that is never the music's alone (away from an attack: at one the bound alone
# decides): smooth pops (1 ms half-sines, peak 10 x the RMS) on a guitar stem had been kept whole or
# nearly (mime_guitar, on onset peaks 3.61 -> 0.00 dB, at random places 5.50 -> 0.44 dB;
# docs/results.md, same section).
SPAN_RISE = 4.0
RETAIN_LONGEST = 2048  # unknowns: longer gaps are not clicks (the variance costs O(m^2 p))
MIN_CONTEXT = 8  # fewer known samples than this on a side: treat that side as absent
# A fill louder than FILL_GAIN x its context's peak is solved again with the AR fit's coarse
# noise floor (COARSE_FLOOR_DB, -60 dB: real mixes' fills as before).
FILL_GAIN = 4.0


def with_noise_floor(x: np.ndarray, floor_db: float, seed: int) -> np.ndarray:
    """``x`` plus white noise ``floor_db`` under its mean power (the draw fixed by ``seed``)."""
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(np.mean(x**2))
    return np.ascontiguousarray(x + noise * 10 ** (floor_db / 20))


def burg(x: np.ndarray, order: int, floor_db: float = NOISE_FLOOR_DB) -> np.ndarray:
    """Burg AR coefficients ``[1, a_1 .. a_p]`` of ``x`` plus white noise ``floor_db`` under it
    (then :data:`COARSE_FLOOR_DB` if that fails); ``[1]`` for a silent or too-short signal."""
    import librosa

    order = min(order, x.size - 1)
    if order < 1 or not np.any(x):
        return np.ones(1)
    for db in (floor_db, COARSE_FLOOR_DB):
        a = librosa.lpc(with_noise_floor(x, db, seed=order), order=order)
        if np.all(np.isfinite(a)):
            return a
    return np.ones(1)


def interpolate(
    left: np.ndarray,
    m: int,
    right: np.ndarray,
    *,
    order: int = 512,
    iterations: int = 3,
    context: float = 4.0,
    observed: np.ndarray | None = None,
    evidence: float = 0.0,
    fill_error: Callable[[], tuple[float, bool]] | None = None,
) -> np.ndarray:
    """The ``m`` samples between ``left`` and ``right`` (float64) by iterative AR interpolation.

    Only the last/first ``max(context * m, 2 * order)`` samples of each side are used.
    ``observed``: noisy values of the ``m`` samples (clicks: the music plus a burst), retained
    as far as their noise allows (:func:`_retain`; two-sided gaps only). ``fill_error``: the
    plain estimate's error energy over the gap, measured, and whether the gap is at an attack
    (:func:`_burst_power`; called only where ``observed`` is not kept as it is).
    """
    width = int(max(context * m, 2 * order))
    left, right = left[-width:], right[:width]
    if left.size < MIN_CONTEXT and right.size < MIN_CONTEXT:
        return np.zeros(m)
    if right.size < MIN_CONTEXT:
        return extrapolate(left, m, order)
    if left.size < MIN_CONTEXT:
        return extrapolate(right[::-1], m, order)[::-1]
    # The Toeplitz form needs at least p known samples on each side of the gap.
    p = min(order, left.size - 1, right.size - 1)
    if not np.any(left) and not np.any(right):
        return np.zeros(m)
    peak = max(np.abs(left).max(), np.abs(right).max())
    measured = cache(fill_error) if fill_error is not None else None  # once, if solved twice
    for floor_db in (NOISE_FLOOR_DB, COARSE_FLOOR_DB):
        # Iteration 0: a = Burg fit to both contexts (joined; one junction among many rows).
        a = burg(np.concatenate([left, right]), p, floor_db)
        segment = np.concatenate([left, np.zeros(m), right])
        k = left.size  # index of the first unknown sample in the segment
        for iteration in range(iterations):
            if iteration > 0:  # refit on the completed segment; a failed refit keeps `a`
                refit = burg(segment, p, floor_db)
                a = refit if refit.size > 1 else a
            segment[k : k + m] = _solve_gap(segment, k, m, a)
        if observed is not None:
            y = np.asarray(observed, np.float64)
            segment[k : k + m] = _retain(segment, k, m, a, y, evidence, measured)
        fill = segment[k : k + m].copy()
        if np.all(np.isfinite(fill)) and np.abs(fill).max() <= FILL_GAIN * peak:
            break
    return fill


def _retain(
    segment: np.ndarray,
    k: int,
    m: int,
    a: np.ndarray,
    y: np.ndarray,
    evidence: float = 0.0,
    fill_error: Callable[[], tuple[float, bool]] | None = None,
) -> np.ndarray:
    """The unknowns given noisy observations ``y = x_u + v`` of them, ``v`` white.

    Unless ``y`` departs from the plain estimate ``x_p`` more than the music's own prediction
    error allows, ``|A (y - x_p)|^2 > evidence m sigma_e^2`` (the departure whitened by the AR
    model, against ``evidence`` times the error power expected over the span), ``y`` is kept as
    it is: what was found there is not a click (declick's detections in clean real music, drum
    and pick attacks, read under 100; repairing them, and faint clicks, did more harm than the
    clicks: see docs/results.md "Declick: do no harm").

    With the AR prior of excitation variance ``sigma_e^2`` the posterior mean minimises
    ``|e|^2 + lambda |y - x_u|^2``, ``lambda = sigma_e^2 / sigma_v^2`` (clicks that leave the
    signal beneath them: Godsill & Rayner, "Digital Audio Restoration", ch. 5), so
    ``(A_u^T A_u + lambda I) x_u = -A_u^T e_0 + lambda y``. ``sigma_e^2`` is the prediction
    error power on the known rows; ``sigma_v^2`` the observations' departure from the plain
    estimate ``x_p`` less that estimate's own error variance
    ``sigma_e^2 mean diag((A_u^T A_u)^-1)`` (the maximum likelihood value under the two
    Gaussians), floored so that a clean span keeps its samples only as far as the prior allows.

    The model's error variance is that of music as predictable as the context; a click is found
    where the music is least predictable too (its attacks: there the plain estimate erred 2.3x
    the variance, median of 859 spans that a user trial's repairs made worse, and 0.9x elsewhere),
    and a faint click then reads as noise the fill removes, with the music. ``fill_error()``, the
    error energy measured beside the span, is subtracted where it is larger, ``sigma_v^2``
    floored at ``MEASURED_FLOOR`` wherever it was measured: what the departure holds beyond it
    is the click. An attack can err more than every stretch beside it: ``sigma_v^2`` is also at
    most what a white burst leaves in the departure's second difference, which the music's
    error, low in frequency, barely reaches, unless the departure is well beyond the measured
    error away from an attack (:func:`_burst_power`). A departure no rougher than the music
    beside the span, in a span no louder than that music can be, is the music's: ``y`` is kept
    as it is; so is a louder one at an attack, where the bound alone reads the burst and the
    music's roughness took it all (a smooth pop on an onset peak, docs/results.md "Declick: a
    drum hit's own roughness is no burst").
    """
    p = a.size - 1
    known = np.concatenate([np.convolve(segment[:k], a, "valid"),
                            np.convolve(segment[k + m :], a, "valid")])  # fmt: skip
    if p == 0 or not known.size or m > RETAIN_LONGEST:
        return segment[k : k + m]
    sigma_e2 = float(np.mean(known**2))
    if evidence > 0:
        whitened = np.convolve(y - segment[k : k + m], a)
        if float(whitened @ whitened) <= evidence * m * sigma_e2:
            return y.copy()
    prior_var = sigma_e2 * _plain_error_share(a, m)
    departure = y - segment[k : k + m]
    power = _mean_power(departure)
    sigma_v2, floor = power - prior_var, RETAIN_FLOOR * prior_var
    measured, attack = fill_error() if fill_error is not None else (0.0, False)
    measured /= m
    if measured > 0:  # 0: no known stretch beside the span to measure; the model's alone
        beyond = power - max(prior_var, measured)
        sides = (segment[max(0, k - m) : k], segment[k + m : k + 2 * m])
        sigma_v2 = _burst_power(departure, beyond, measured, attack, y, sides)
        floor = MEASURED_FLOOR * prior_var
        if beyond > 0 and sigma_v2 <= 0:  # the music's own departure, no burst in it
            return y.copy()
    lam = sigma_e2 / max(sigma_v2, floor)
    return _solve_gap(segment, k, m, a, lam, y)


def _plain_error_share(a: np.ndarray, m: int) -> float:
    """``mean diag((A_u^T A_u)^-1)``: the plain estimate's error variance over ``m`` unknowns
    under the AR model ``a``, per unit of excitation variance."""
    # A_u^T A_u is banded (p diagonals each side): its Cholesky factor gives the diagonal of
    # the inverse at O(m^2 p) (np.linalg.inv costs m^3, 10x more on click lengths)
    p = a.size - 1
    column = _toeplitz_column(a, m)
    band = np.array(
        [np.r_[np.full(m - lag, column[lag]), np.zeros(lag)] for lag in range(min(p, m - 1) + 1)]
    )
    factor = cholesky_banded(band, lower=True)
    return float(np.mean(np.diag(cho_solve_banded((factor, True), np.eye(m)))))


def _burst_power(
    departure: np.ndarray,
    beyond_error: float,
    measured: float,
    attack: bool = False,
    observed: np.ndarray | None = None,
    sides: tuple[np.ndarray, ...] = (),
) -> float:
    """The burst's power in ``departure`` (the observations less the plain estimate): the
    departure's power beyond the fill's error variance (``beyond_error``; that variance measured
    beside the span, ``measured``, or the model's), but no more than a white burst leaves in the
    second difference (``WHITE_DIFF2``; all of it on two samples or fewer) unless the power
    beyond ``CLICK_BEYOND x measured`` is more, and the span is at no ``attack`` (there the fill
    errs more than the stretches beside it measure, and the mismatch is the attack's).

    With the ``observed`` span and the music on its ``sides``: the second difference the music
    holds on its louder side, at its share of the span's observed power (at most ``SPAN_RISE`` x
    that side's), is left out of the bound (a quiet side's share is of music far quieter than
    the span's); where that leaves none and the span is no louder than ``SPAN_RISE`` x that
    side, the departure is the music's (0: no burst), whatever its power; a louder span keeps
    the ``CLICK_BEYOND`` rule (a smooth pop has little second difference to leave)."""
    power = _mean_power(departure)
    white = power
    if departure.size > 2:
        rough = _diff2_power(departure)
        louder = max(sides, key=_mean_power, default=np.zeros(0))
        if observed is not None and louder.any():  # the rough share of the louder side's power
            side_power, span_power = _mean_power(louder), _mean_power(observed)
            share = _diff2_power(louder) / side_power
            ceiling = SPAN_RISE * side_power  # the most power the music within the span holds
            rough = max(0.0, rough - share * min(span_power, ceiling))
            if rough == 0.0 and span_power <= ceiling:
                return 0.0
        white = rough / WHITE_DIFF2
    return min(beyond_error, white if attack else max(white, power - CLICK_BEYOND * measured))


def _mean_power(x: np.ndarray) -> float:
    """The mean power of ``x``."""
    return float(np.mean(x**2))


def _diff2_power(x: np.ndarray) -> float:
    """The mean power of ``x``'s second difference (0 for under 3 samples)."""
    return float(np.mean(np.diff(x, 2) ** 2)) if x.size > 2 else 0.0


def _toeplitz_column(a: np.ndarray, m: int) -> np.ndarray:
    """First column of ``A_u^T A_u`` for ``m`` unknowns: the autocorrelation of ``a``."""
    p = a.size - 1
    r = np.correlate(a, a, mode="full")[p:]  # r_0 .. r_p
    column = np.zeros(m)
    column[: min(m, p + 1)] = r[: min(m, p + 1)]
    return column


def _solve_gap(
    segment: np.ndarray,
    k: int,
    m: int,
    a: np.ndarray,
    lam: float = 0.0,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """Least-squares unknowns ``segment[k:k+m]`` under the prediction-error filter ``a``
    (plus ``lam |y - x_u|^2`` when noisy observations ``y`` are given)."""
    p = a.size - 1
    zeroed = segment.copy()
    zeroed[k : k + m] = 0.0
    # e_0 on the rows n = k .. k+m-1+p (all taps inside the segment since k >= p, tail >= p).
    e0 = np.convolve(zeroed[k - p : k + m + p], a, mode="valid")  # rows n = k .. k+m+p-1
    rhs = -np.correlate(e0, a, mode="valid")  # -(A_u^T e_0): length m
    column = _toeplitz_column(a, m)
    if y is not None:
        column[0] += lam
        rhs = rhs + lam * y
    return solve_toeplitz(column, rhs)


def extrapolate(context: np.ndarray, m: int, order: int) -> np.ndarray:
    """``m`` samples continuing ``context`` (float64) by its AR model (one-sided gaps).

    The all-pole filter ``1/A(z)`` runs on from the context's last ``p`` samples with zero
    excitation: the least-squares solution when no known samples follow the gap.
    """
    return continue_by(context, m, burg(context, order))


def continue_by(context: np.ndarray, m: int, a: np.ndarray) -> np.ndarray:
    """``m`` samples continuing ``context`` by the AR model ``a`` (prediction-error filter,
    ``a[0] = 1``), zero excitation: :func:`extrapolate` with the model already fitted."""
    p = a.size - 1
    if p == 0:
        return np.zeros(m)
    state = lfiltic([1.0], a, context[::-1][:p])  # past outputs, most recent first
    return lfilter([1.0], a, np.zeros(m), zi=state)[0]
