"""Declick's repair of a click within its repair order of a file's start or end (:mod:`.declick`):
the inpainting's two-sided AR fill has too few samples on the file's side there (it had
extrapolated from the other side, the observed samples dropped and no evidence asked), so the
span is repaired from the one side it has: the AR model of the music inside continued over the
span to the file's end (backward, from the inside, at the start: a stationary AR process read
backward has the same model), the samples between the span and the file's end held as they are.

The observations are a noisy reading of the music, as in :func:`.ar._retain`: the posterior mean
``(P + B^-1) u = B^-1 d`` (``d`` the observations' departure from the plain estimate: the
continuation with the held tail fitted; ``P`` the music's precision there, from the prediction-error
filter's rows over the span and the tail, scaled so that its error is the one expected, below;
``B`` the burst's power per sample, read by EM: a click fills a few of its span's samples). Do no
harm: a span is left as it is unless its departure stands out from the music's prediction error
(the mode's evidence, as elsewhere; or, where it does so on another channel, its departure there
stands out by the evidence along that one's: the channels share a click's detection, but a click
need not be on every channel, and a channel's music departs as much in any direction) and what the
repair removes holds more energy than the repair's own expected error (the posterior's variance).
Digital silence (``dropouts.SILENCE``: a click added to it leaves it sounding) is no click's:
where it runs from the span to the file's end on a channel, that channel's music ends there (the
span's samples in it kept), and where a click lies in that silence (the silence cut there) the
span's other silent samples, in runs of two or more, are held as they are. A silent sample in a
span within music is not held: it can be the damage.
The error expected of the music's estimate is the larger of the AR model's and the one measured on
known stretches as long inside the file (the same estimate from the same side, at
``declick.CONTROL_OFFSETS`` widths in, x the mode's ``fill_error`` gain at
``declick.CONTROL_PERCENTILE``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.linalg import solve, toeplitz

from diffmusic_engine.diagnose.dropouts import SILENCE
from diffmusic_engine.dsp.ar import MIN_CONTEXT, RETAIN_FLOOR, burg, continue_by

# context samples: max(CONTEXT x the unknowns, 2 x order); declick's inpainting reads as much
CONTEXT = 4.0
# The burst's power is read per sample (a click fills a few of its span's samples, the margin and
# the detection's smear the rest) from the departure beyond the music's prior, then from the
# posterior again, BURST_ROUNDS times (EM). One power for the span, as the two-sided fill reads
# it, and the continuation's error as the bar: 731 of 1148 clicks at real mixes' ends repaired,
# 14.4 dB mean gain; per sample: 1088, 22.9 dB (docs/results.md "Declick at a file's ends").
BURST_ROUNDS = 3
# No harm: a repair is kept where what it removes holds more energy than its own expected error
# (the posterior's variance over the span) x SURE: without it, 6 of the 1148 made worse (4 by 3 dB
# or more); 1: 2 (both by 3 dB or more, one made worse by the parent too), 1065 repaired (1062
# with the attack's evidence at the start); 3: 2, 1041 (the same docs section).
SURE = 1.0


def at_ends(
    spans: list[tuple[int, int]], n: int, order: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``spans`` of ``n`` samples split: those within ``order`` of the start or the end (fewer
    than ``order`` samples on the file's side), and the others."""
    near = [(first, stop) for first, stop in spans if first < order or n - stop < order]
    return near, [span for span in spans if span not in near]


def repair_ends(
    audio: np.ndarray,
    spans: list[tuple[int, int]],
    order: int,
    evidence: Callable[[int, int, int], float] | float,
    gain: float,
    offsets: tuple[int, ...],
    percentile: float,
    clicked: np.ndarray | None = None,
) -> np.ndarray:
    """``audio`` with each span of ``spans`` (all near an end, :func:`at_ends`) repaired on each
    channel from its inside (:func:`continued`), or kept where that would do no good.
    ``evidence(channel, first, stop)`` (or one number) as the inpainting's; ``gain`` 0: no
    harm test (clicks given by the user). ``clicked`` marks the samples of every detected span:
    a known stretch that touches one is not measured (it measures the click, not the music; as
    :func:`.declick._fill_error` skips it)."""
    out = audio.copy()
    n = audio.shape[1]
    for first, stop in spans:
        at_start = first < n - stop  # the nearer end
        # backward at the start: the inside read in reverse leads up to the span, then the
        # file's first samples (held)
        start = n - stop if at_start else first
        reads = [(x[::-1] if at_start else x).astype(np.float64) for x in audio]
        marked = None if clicked is None else (clicked[::-1] if at_start else clicked)[:start]
        asked = [
            evidence(c, first, stop) if callable(evidence) else evidence for c in range(len(audio))
        ]
        # a channel's digital silence that runs to the file's end is its music's end (a click
        # on it leaves it non-zero): the span's samples in it kept (the music continued into
        # it had put music in the silence of a channel silent before its music starts, 14 of
        # 126 such channels at each end, with the click on the other channel)
        heard = [_sounding(read[start:]) for read in reads]
        lengths = [min(stop - first, tail.size) for tail in heard]  # the span's samples repaired
        fits = [_fitted(read[:start], tail, m, order)
                for read, tail, m in zip(reads, heard, lengths, strict=True)]  # fmt: skip
        margins = [_departure(fit) / asked_c if asked_c > 0 else np.inf
                   for fit, asked_c in zip(fits, asked, strict=True)]  # fmt: skip
        clearest = int(np.argmax(margins))
        if 0 < asked[clearest] < _departure(fits[clearest]):
            # the click stands out there; a channel whose louder music had hidden it (read under
            # its evidence and kept whole) is repaired where the click's shape stands out in its
            # departure (not where it departs at all: a click on one channel only had then let
            # the other's music be repaired, 8-13 dB SNR; the no-harm test is still each one's)
            shape = fits[clearest].departure
            asked = [0.0 if fit is not None and _along(fit, shape[: fit.departure.size]) > asked_c
                     else asked_c
                     for fit, asked_c in zip(fits, asked, strict=True)]  # fmt: skip
        for channel, (read, asked_c) in enumerate(zip(reads, asked, strict=True)):
            tail, m = heard[channel], lengths[channel]
            if m == 0:
                continue
            fixed = continued(
                read[:start], tail, m, order, asked_c, gain, offsets, percentile, marked,
                fits[channel], in_silence=tail.size < n - start,
            )  # fmt: skip
            if at_start:
                out[channel, stop - m : stop] = fixed[::-1]
            else:
                out[channel, first : first + m] = fixed
    return out


def _sounding(observed: np.ndarray) -> np.ndarray:
    """``observed`` (in time order towards the file's end) up to the digital silence (at most
    ``SILENCE``) that runs from it to the file's end: the music's end there, as the file's is."""
    sounding = np.flatnonzero(np.abs(observed) > SILENCE)
    return observed[: sounding[-1] + 1 if sounding.size else 0]


def _in_runs(silent: np.ndarray) -> np.ndarray:
    """Which of ``silent``'s True samples have a True neighbour: a run of silence, not a lone
    zero."""
    before = np.r_[False, silent[:-1]]
    after = np.r_[silent[1:], False]
    return silent & (before | after)


def _departure(fit: _Fit | None) -> float:
    """The span's departure from the music's continuation (:func:`_fitted`), whitened, in energy
    over its samples x the prediction-error power: what the mode's evidence asks of it."""
    if fit is None:
        return 0.0
    if not fit.sigma_e2 > 0:  # music predicted exactly: any departure stands out
        return np.inf if fit.whitened > 0 else 0.0
    return fit.whitened / (fit.departure.size * fit.sigma_e2)


def _along(fit: _Fit, shape: np.ndarray) -> float:
    """How far ``fit``'s departure stands out along ``shape`` (a click's departure on another
    channel): its whitened energy along it over its whitened energy per sample in the span's
    other directions (the channel's own music's departure; an F statistic, as the evidence
    asks of the departure over the AR model's error). 0 where it cannot be told: one sample,
    no shape."""
    weighted = fit.normal @ shape  # whitened inner products: d' N s (N: the span's normal matrix)
    norm = float(shape @ weighted)
    if shape.size < 2 or not norm > 0:
        return 0.0
    along = float(fit.departure @ weighted) ** 2 / norm
    rest = (fit.whitened - along) / (shape.size - 1)
    return along / rest if rest > 0 else np.inf


def continued(
    context: np.ndarray,
    observed: np.ndarray,
    m: int,
    order: int,
    evidence: float,
    gain: float,
    offsets: tuple[int, ...],
    percentile: float,
    clicked: np.ndarray | None = None,
    fit: _Fit | None = None,
    in_silence: bool = False,
) -> np.ndarray:
    """The first ``m`` of the ``observed`` samples that follow ``context`` (float64, in time
    order; the rest run to the file's end and are held), repaired: the posterior mean under the
    AR prior of ``context``'s continuation, or ``observed[:m]`` as it is (no harm; see the
    module's docstring). ``clicked``: ``context``'s samples in a detected span; ``fit``: that
    continuation (:func:`_fitted`), where the caller has read it already. ``in_silence``: the
    span lies in the channel's silence before its music (:func:`_sounding` cut the silence
    beyond it): its silent samples are held."""
    if fit is None:  # (None given where no model was read: it reads None again)
        fit = _fitted(context, observed, m, order)
    y = observed[:m].copy()
    if fit is None:
        return y
    if evidence > 0 and fit.whitened <= evidence * m * fit.sigma_e2:
        return y  # no more than the music's own prediction error: no click
    departure, variance, normal = fit.departure, fit.variance, fit.normal
    expected = fit.sigma_e2 * variance
    if gain > 0:
        measured = _measured(context, observed.size, m, order, fit.width, offsets, clicked)
        expected = max(expected, gain * float(np.percentile(measured, percentile)) if measured
                       else expected)  # fmt: skip
    if not expected > 0:  # music predicted exactly (no error to weigh a burst against): kept
        return y
    # the prior of the music: the continuation's error, as large as expected
    precision = normal * (variance / expected)
    # in the silence before the channel's music, a silent sample is held as it is: a click added
    # to it leaves it sounding. Within music a silent sample is not held: a click's own sample
    # can read 0 (the music under it its opposite), and a mute's zeros are the damage (held, a
    # click one of whose samples read 0 had been left 5-11 dB under the click, 47 dB when not;
    # a 4-8 sample mute made 3-21 dB worse than left as it was). Nor is a lone silent sample
    # held there: it is the music's or a click's zero (a file whose first sample read 0 had left
    # such a click 14 dB under it, 46.5 dB when it had none)
    free = ~_in_runs(np.abs(observed) <= SILENCE)[:m] if in_silence else np.ones(m, bool)
    if not free.any():
        return y
    # the music at the other samples is then its estimate given the held
    u = departure.copy()  # held: as observed
    given = np.zeros(int(free.sum()))
    if not free.all():
        held = normal[np.ix_(free, ~free)] @ departure[~free]
        given = -solve(normal[np.ix_(free, free)], held, assume_a="pos")
    shift, covariance = _posterior(
        departure[free] - given, precision[np.ix_(free, free)], RETAIN_FLOOR * expected / m
    )
    u[free] = given + shift
    removed = departure - u
    if gain > 0 and float(removed @ removed) <= SURE * float(np.trace(covariance)):
        return y
    return fit.plain + u


def _posterior(
    departure: np.ndarray, precision: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mean of the music's ``departure`` from its estimate (prior ``precision``)
    under a burst of its own power per sample (a click lies on a few of its span's samples): the
    departure beyond the prior's, read again from the posterior ``BURST_ROUNDS`` times (EM),
    each at least ``floor``; and the posterior's covariance."""
    prior = np.diag(np.linalg.inv(precision))
    burst = np.maximum(departure**2 - prior, floor)
    for _ in range(BURST_ROUNDS):
        covariance = np.linalg.inv(precision + np.diag(1 / burst))
        u = covariance @ (departure / burst)
        burst = np.maximum((departure - u) ** 2 + np.diag(covariance), floor)
    return u, covariance


class _Fit(NamedTuple):
    """The music's continuation over a span (:func:`_fitted`)."""

    width: int  # context samples read
    sigma_e2: float  # the AR model's prediction-error power
    plain: np.ndarray  # the plain estimate of the span
    variance: float  # its error variance's trace over sigma_e2
    normal: np.ndarray  # the normal equations' matrix over the span
    departure: np.ndarray  # the observed span less the plain estimate
    whitened: float  # its energy whitened by the AR model (the prediction error it adds)


def _fitted(context: np.ndarray, observed: np.ndarray, m: int, order: int) -> _Fit | None:
    """The AR model of ``context``'s last samples (``CONTEXT`` x the observed, at least twice the
    order) continued over the first ``m`` ``observed`` samples, the rest held (:func:`_plain`);
    ``None`` where there is none (too little context, silent, or no model)."""
    width = int(max(CONTEXT * observed.size, 2 * order))
    near = context[-width:]
    if m < 1 or near.size < MIN_CONTEXT or not np.any(near):
        return None
    a = burg(near, order)
    if a.size == 1:
        return None
    sigma_e2 = float(np.mean(np.convolve(near, a, "valid") ** 2))
    plain, variance, filt, normal = _plain(near, observed, m, a)
    departure = observed[:m] - plain
    whitened = filt @ np.concatenate([departure, np.zeros(observed.size - m)])
    return _Fit(width, sigma_e2, plain, variance, normal, departure, float(whitened @ whitened))


def _plain(
    near: np.ndarray, observed: np.ndarray, m: int, a: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The least-squares estimate of the first ``m`` samples continuing ``near`` with the rest
    of ``observed`` held, its error variance's trace over the innovation power, and the
    prediction-error filter's matrix over the observed samples and its normal equations' matrix
    over the ``m`` unknowns."""
    count = observed.size
    column = np.zeros(count)
    column[: min(count, a.size)] = a[: min(count, a.size)]
    filt = toeplitz(column, np.zeros(count))  # rows: e[n] = sum_k a_k x[n - k] in the span on
    base = continue_by(near, count, a)
    span, tail = filt[:, :m], filt[:, m:]
    normal = span.T @ span
    u = solve(normal, -span.T @ (tail @ (observed[m:] - base[m:])), assume_a="pos")
    variance = float(np.trace(np.linalg.inv(normal)))
    return base[:m] + u, variance, filt, normal


def _measured(
    context: np.ndarray,
    count: int,
    m: int,
    order: int,
    width: int,
    offsets: tuple[int, ...],
    clicked: np.ndarray | None = None,
) -> list[float]:
    """The plain estimate's error energies (:func:`_plain`) on known stretches of ``context``
    as long as the span and its held tail (``count``), ``offsets`` x ``width`` in from its end,
    each continued from the ``width`` samples before it; none whose samples ``clicked`` marks."""
    errors = []
    for offset in offsets:
        stop = context.size - offset * width
        start = stop - count
        if start - width < 0 or (clicked is not None and clicked[start - width : stop].any()):
            continue
        near = context[start - width : start]
        if not np.any(near):
            continue
        a = burg(near, order)
        if a.size == 1:
            continue
        truth = context[start:stop]
        estimate = _plain(near, truth, m, a)[0]
        errors.append(float(np.sum((estimate - truth[:m]) ** 2)))
    return errors
