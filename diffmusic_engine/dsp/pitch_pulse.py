"""Pitch pulses: click detections that are a periodic tone's own, repeating a period away.

A bright periodic tone (a solo trumpet, a sawtooth synth lead) has one sharp pulse per pitch
period, which a short AR model predicts as badly as a click: declick's detector marks them, about
every 2.1 ms on a 470 Hz trumpet, and in a block holding a real burst every pulse of a bright
sawtooth (the burst pulls the block's model, the confirmation refit hides the pulses from itself
and confirms them). Repaired, they did the harm: a solo trumpet with -20 dB bursts came back 12 dB
worse than its input, a clean sawtooth had 1448 spans changed (docs/results.md "Declick: a pitch
pulse is no click"). A pulse's samples repeat one pitch period before or after it, and the
detector marks it again there; a click's do not, and a click falls where it falls:
:func:`pitch_pulses` finds the period ``T`` at which the music around a span repeats
(:func:`pitch_period`, its detected spans left out), and calls the span a pulse where that music
is periodic (``PERIODIC_MISMATCH``), the span differs from the samples ``T`` before or after it
by at most ``PULSE_MISMATCH`` of its power, and another detection starts ``T`` before or after it
(``RECUR_S``). A click whose share of a detected span's power is under ``PULSE_MISMATCH`` is
not told from the pulses it sits among and is left as found (a method that cannot tell does
less): on a bright sawtooth a 1 ms click as loud as the tone (RMS), a third of a period off a
pulse, was left in 3 of 4 places, one 6 dB louder was repaired in 4 of 4, on a pulse or off it.
The channels are judged together, and where that finds no pulse, each channel where the span
stands out from the music beside it (``QUIET_DEPARTURE``) is judged alone: a lead panned to one
side with other music in the other channel is periodic on its own channel only, where its pulses
stand out, and the other music does not repeat at its period. A click in the other channel on a
pulse stands out there too, where nothing repeats: the span is repaired.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

# Pitch range searched: periods of 1 / 2000 to 1 / 80 s.
PERIOD_HZ = (80.0, 2000.0)
# The music beside a span (a longest period on each side, detected spans left out) is periodic
# at T where ``sum (x[n] - x[n-T])^2 <= PERIODIC_MISMATCH sum (x[n]^2 + x[n-T]^2)``: beside 15 of
# the clean solo trumpet's 16 detections (14 under 0.1, 6 under 0.05), beside all of a bright
# sawtooth's (under 0.02).
PERIODIC_MISMATCH = 0.15
# The period is the first dip in that mismatch that comes to at most 2 x the least + this (a
# multiple of the period matches as well).
FUNDAMENTAL_SLACK = 0.01
# A pulse repeats: it differs from the samples T before or after it by at most this share of its
# power (the trumpet's detections 0.005-0.245, the sawtooth's 0.066 at most; its period is no
# whole number of samples) ...
PULSE_MISMATCH = 0.35
# ... and recurs: another detection starts T before or after it, give or take this (the trumpet's
# pulses are detected 91-96 samples apart). A burst as faint as the music's own change from period
# to period repeats too, but falls where it falls: of the 62 bursts that the detector found on the
# trumpet (-20 dB, 3 seeds) none is called a pulse.
RECUR_S = 0.1e-3
# Where the channels together find no pulse (a lead in one channel, other music in the other),
# each channel where the span's mean squared first difference is over this many times the music's
# beside it is judged alone, and the span is a pulse where it is one on each of them. A sawtooth
# lead's pulses stand 4.4 times or more over its ramps; beside them a rock mix's channel stands
# under 2 beside 683 of its 696 pulses, clicks at its RMS 10-19.
QUIET_DEPARTURE = 2.0


def pitch_pulses(audio: np.ndarray, spans: list[tuple[int, int]], sample_rate: int) -> list[bool]:
    """Per span ``[first, stop)`` of ``(channels, samples)`` ``audio`` (sorted, apart): whether it
    is a pitch pulse of periodic music, not a click: on all channels together, or on each channel
    where it stands out from the music beside it (:func:`departures`), each judged alone."""
    x = np.atleast_2d(audio).astype(np.float64)
    music = np.ones(x.shape[1], bool)
    for first, stop in spans:
        music[first:stop] = False
    starts = np.array([first for first, _ in spans])
    pulses = []
    for first, stop in spans:
        pulse = _pulse(x, first, stop, music, starts, sample_rate)
        if not pulse and x.shape[0] > 1:
            # a lead panned to one side: the channels where the span stands out are judged each
            # on its own (the other music does not repeat at the lead's period); a click in a
            # channel beside the pulse stands out there, and that channel has no pulse; where no
            # channel stands out the span stays a click, as judged together
            standing = np.flatnonzero(
                departures(x, first, stop, music, sample_rate) > QUIET_DEPARTURE
            )
            pulse = standing.size > 0 and all(
                _pulse(x[c : c + 1], first, stop, music, starts, sample_rate) for c in standing
            )
        pulses.append(bool(pulse))
    return pulses


def _pulse(
    x: np.ndarray, first: int, stop: int, music: np.ndarray, starts: np.ndarray, sample_rate: int
) -> bool:
    """Whether ``x[:, first:stop]`` is a pitch pulse of the channels of ``x`` judged together."""
    period = pitch_period(x, first, stop, music, sample_rate)
    if period is None:
        return False
    reach = max(1, round(RECUR_S * sample_rate))
    recurs = any(np.any(np.abs(starts - (first + shift)) <= reach) for shift in (-period, period))
    span = x[:, first:stop]
    differences = [
        float(np.sum((span - x[:, first + shift : stop + shift]) ** 2))
        for shift in (-period, period)
        if 0 <= first + shift and stop + shift <= x.shape[1]
    ]
    repeats = bool(differences) and min(differences) <= PULSE_MISMATCH * np.sum(span**2)
    return bool(recurs and repeats)


def departures(
    x: np.ndarray, first: int, stop: int, music: np.ndarray, sample_rate: int
) -> np.ndarray:
    """Per channel of ``x``, how far ``x[:, first:stop]`` departs from the music beside it (a
    longest period on each side, of the samples ``music`` marks): its mean squared first
    difference over the music's."""
    longest = round(sample_rate / PERIOD_HZ[0])
    low, high = max(0, first - longest), min(x.shape[1], stop + longest)
    steps = np.diff(x[:, low:high], axis=1) ** 2
    inside = np.zeros(high - low - 1, bool)
    inside[max(0, first - low - 1) : stop - low] = True
    beside = music[low + 1 : high] & ~inside
    span_level = np.mean(steps[:, inside], axis=1)
    music_level = np.mean(steps[:, beside], axis=1) if beside.any() else np.zeros(x.shape[0])
    return span_level / np.maximum(music_level, 1e-30)


def pitch_period(
    audio: np.ndarray, first: int, stop: int, music: np.ndarray, sample_rate: int
) -> int | None:
    """The pitch period (samples, of ``PERIOD_HZ``) at which the music beside
    ``audio[..., first:stop]`` repeats (a longest period on each side, of the samples ``music``
    marks: the detected spans left out), or None where it is not periodic."""
    longest = round(sample_rate / PERIOD_HZ[0])
    shortest = round(sample_rate / PERIOD_HZ[1])
    x = np.atleast_2d(audio)
    # the windows, with what lies outside the audio left out of every comparison
    base, end = first - 2 * longest, stop + longest
    low, high = max(0, base), min(x.shape[1], end)
    segments = np.zeros((x.shape[0], end - base))
    segments[:, low - base : high - base] = x[:, low:high]
    before = np.zeros(end - base)
    before[low - base : high - base] = music[low:high]
    region = np.zeros(end - base)
    region[longest : first - base] = 1.0
    region[stop - base :] = 1.0
    kept = region * before
    size = end - base
    lags = slice(size - 1 + shortest, size + longest)

    def correlation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return fftconvolve(u, v[::-1])[lags]  # c(T) = sum_i u[i] v[i - T], over lags T

    mismatch, power = 0.0, 0.0
    for segment in segments:
        squares = segment**2
        both = correlation(kept * squares, before) + correlation(kept, before * squares)
        mismatch = mismatch + both - 2 * correlation(kept * segment, before * segment)
        power = power + both
    # judged on half a longest period of music at least (near the audio's ends, beside other
    # detections, a long lag leaves few pairs), and not on digital silence
    judged = (correlation(kept, before) >= longest / 2) & (power > 0)
    ratios = np.where(judged, mismatch / np.maximum(power, 1e-30), np.inf)
    best = float(np.min(ratios))
    if not best <= PERIODIC_MISMATCH:
        return None
    # the fundamental, not a multiple of it (which matches as well, a vibrato aside): the bottom
    # of the first dip that comes near the best
    lag = int(np.argmax(ratios <= 2 * best + FUNDAMENTAL_SLACK))
    while lag + 1 < ratios.size and ratios[lag + 1] < ratios[lag]:
        lag += 1
    return shortest + lag
