"""The room, estimated blind from a reverberant recording: RT60 per octave band, DRR, confidence.

Free-decay methods (Lollmann et al., 2010) need the source to stop; dense music rarely does (on
rock stems and mixes in simulated rooms they found a few decays a minute, mostly the notes' own),
so the room is read from the statistics of the level's rise and fall instead, as the spectral
decay distribution methods of the ACE challenge do (Eaton et al., 2016; Prego et al., 2015):

* per STFT bin, the level ``L(t)`` (dB); per octave band, quantiles of ``L(t + n) - L(t)`` over the
  band's active bins for lags ``n`` of 12 ms to 370 ms (a room bounds how fast a level can fall,
  60 dB per RT60, and smooths how fast it fluctuates), and the same on the band's summed level
  (peak-conditioned falls, the envelope's modulation spectrum and the channels' coherence were
  tried as well and generalised worse from one song to another, and lags up to 1.5 s read
  the short rooms worse and a two-slope room no better: docs/results.md);
* the quantiles become rates (dB/s, log-compressed: :func:`_design`), and a ridge regression maps
  each band's rates (plus their mean over bands) to ``log RT60`` of the band, and the mean rates
  to the DRR. A ridge regression shrinks towards the middle of what it was fitted on, so long
  rooms read short: where it reads T_mid from about 0.8 s up, a second ridge regression fitted
  only on the rooms it reads that long takes over (:func:`long_share`). The weights
  (``room_model.json``) are fitted by ``python -m bench.rooms fit`` on six real songs (stems
  and mixes) and two synthetic excerpts placed in simulated rooms: halls (one exponential decay
  per band, a tail drawn for each channel or one for all: a mono impulse response put on a
  stereo mix, whose channels' levels fluctuate together) and rooms of two slopes (early
  reflections, a fast decay over a slower one), whose truth is the T30 a measurement reads;
  the long-room regression also on the same recordings in 42 measured responses (a warehouse,
  rooms of a house, a church, an auditorium and a studio; the truth each one's T30), each
  counted twice: fitted on simulated rooms alone it read a measured 2.2 s concert hall 25 %
  short, now 17 % (that weight chosen looking at such held-out rooms; docs/results.md
  "Measured rooms in the fit"). Each ridge penalty is the one with the least error on songs
  left out of the fit (the long-room one kept at that choice, 1000, when the measured
  responses joined), and the fit reports that error per room (docs/results.md).

Fitted on rock, it reads other kinds of music further off, each in a direction of its own
(drums and bass long, sustained winds short: median relative error 0.2-0.5 in most rooms), and
its confidence does not show that (docs/results.md "Other kinds of music"). Where notes end and
the room rings freely (drums and bass, a trumpet), the free decays of
:mod:`diffmusic_engine.free_decay` lengthen it where they read it longer (a trumpet), when
there are enough of them for the recording's length (``FREE_DECAY_PER_S``; rock never holds that
many, so its estimate is the regression's), within a factor ``FREE_DECAY_FACTOR`` either way
(drums and bass, read 1.4-2x long, shortened). Where they shortened it, the estimate keeps the
regression's reading beside its own (``regression_rt60``): blind dereverberation is told that
(:meth:`RoomEstimate.lengthened_only`), since told the shorter, truer room it removed less
from the drums and bass (docs/results.md "Free decays both ways").

The broadband RT60 is the mean over 500 Hz and 1 kHz (ISO 3382's T_mid). The confidence falls
when the features lie outside what the model was fitted on, when the bands disagree, and for
short recordings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.free_decay import free_decays
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.rates import fitted_frames
from diffmusic_engine.silence import silent_samples, sounding_frames

OCTAVES_HZ = (125, 250, 500, 1000, 2000, 4000, 8000)  # octave-band centres
HOP_AT_44K1 = 512  # the fitted frames' hop (11.6 ms; windows 46.4 ms): fitted_frames keeps them
MID_BANDS_HZ = (500, 1000)  # T_mid
TOP_BAND_SHARE = 0.45  # a band whose upper edge reaches this share of the rate is left out
LAGS_S = (0.0116, 0.0232, 0.0464, 0.0929, 0.186, 0.372)
QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)
ACTIVE_DB = 50.0  # bins this far below the band's peak are left out
RT60_RANGE_S = (0.05, 10.0)  # what a regression far outside its fit may say is clipped to this
MIN_SECONDS = 2.0
FULL_CONFIDENCE_S = 8.0
MAX_SECONDS = 30.0  # a longer recording is measured on its middle 30 s (bounded time)
# One regression shrinks towards the middle of what it was fitted on and reads long rooms
# short; a second one, fitted on the rooms the first reads from LONG_FROM_S / e^LONG_BLEND up,
# takes over there (leaving one song out: hall 2.5 s +3 dB 0.28 -> 0.19).
LONG_FROM_S, LONG_BLEND = 1.0, 0.25
MODEL_FILE = Path(__file__).with_name("room_model.json")
# A room smooths a level's short-lag changes, so in a room (and in music's phrasing) levels move
# further apart over 372 ms than over 46 ms; a steady sound (noise, a drone) moves alike at every
# lag and holds no decay to read. The ratio of the spreads (2 %-98 % quantiles of the bins' level
# change) in the mid bands: white, pink and brown noise 0.99-1.01 (3-30 s, mono or stereo), six
# songs' stems and mixes 1.07-1.45 dry and 1.08-1.80 in rooms 0-13 of bench.rooms, but taken to
# mono (one tail, a mono track) as low as 1.032 in 2-2.5 s halls (docs/results.md, "Steady").
STEADY_GROWTH = 1.02
# Where notes end, the room rings freely: with this many free-decay windows (free_decay.py) per
# second of sounding audio their T_mid replaces the regression's, moved by at most a factor
# FREE_DECAY_FACTOR either way (a trumpet's own slow releases read 1 s in a 0.5 s room; the
# regression, 0.22 s, bounds that).
# A rate, not a count: a count grows with the length (a 6 s rock clip held 89 windows, 14.8 a
# second, whose free decays read a 0.5 s hall +68 %, and so did its 30 s take with 401; a 10 s
# orchestra excerpt 11-13 a second, +84 % to +179 %); drums and bass, a trumpet: 10-170 a second.
# Shortening the regression's long drums and bass (0.7-1.0 over) reads the rooms right, but
# blind dereverb told so did worse in every room (log-mel ratio +0.02 to +0.11, docs/results.md
# "Free decays where notes end" and "Free decays both ways": told a room's true T30 it removes
# less than it would with twice that), so it is told the regression's.
FREE_DECAY_PER_S, FREE_DECAY_FACTOR = 20.0, 2.0


@dataclass(frozen=True)
class RoomEstimate:
    """``rt60``: broadband RT60 (s); ``rt60_bands``: octave centre (Hz) -> RT60 (s);
    ``drr_db``: direct-to-reverberant ratio (dB); ``confidence``: 0 (a guess) .. 1 (sure).
    ``regression_rt60`` and ``regression_rt60_bands``: where the free decays read the room
    shorter than the regression and so shortened ``rt60``, the regression's reading (what blind
    dereverberation is told: :meth:`lengthened_only`); else ``None``."""

    rt60: float
    rt60_bands: dict[int, float]
    drr_db: float
    confidence: float
    regression_rt60: float | None = None
    regression_rt60_bands: dict[int, float] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoomEstimate:
        """The estimate back from :meth:`to_dict`'s form (rounded as that is)."""

        def bands(rt60s: dict[str, float]) -> dict[int, float]:
            return {int(f): float(t) for f, t in rt60s.items()}

        regression = data.get("regression_rt60_bands")
        return cls(
            data["rt60_s"], bands(data["rt60_bands"]), data["drr_db"], data["confidence"],
            data.get("regression_rt60_s"), None if regression is None else bands(regression),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of docs/protocol.md ("diffmusic diagnose"); the regression's reading
        only where it differs (``regression_rt60_s``, ``regression_rt60_bands``)."""

        def bands(rt60s: dict[int, float]) -> dict[str, float]:
            return {str(f): round(t, 2) for f, t in rt60s.items()}

        found = {
            "rt60_s": round(self.rt60, 2),
            "rt60_bands": bands(self.rt60_bands),
            "drr_db": round(self.drr_db, 1),
            "confidence": round(self.confidence, 2),
        }
        if self.regression_rt60 is not None:
            found["regression_rt60_s"] = round(self.regression_rt60, 2)
            found["regression_rt60_bands"] = bands(self.regression_rt60_bands)
        return found

    def lengthened_only(self) -> RoomEstimate:
        """This room as read with the free decays lengthening the regression's reading, never
        shortening it: what blind dereverberation (dsp, the diffusion warm start) is told."""
        if self.regression_rt60 is None:
            return self
        return RoomEstimate(
            self.regression_rt60, self.regression_rt60_bands, self.drr_db, self.confidence
        )


def estimate_room(
    audio: np.ndarray,
    sample_rate: int,
    *,
    silent: np.ndarray | None = None,
    callback: ProgressCallback | None = None,
) -> RoomEstimate | None:
    """The room of float ``(channels, samples)`` ``audio``; ``None`` if too short, silent or
    steady (:func:`is_steady`). ``silent``: :func:`~diffmusic_engine.silence.silent_samples` of
    ``audio`` when the caller has them (else found here). Where the free decays shorten the
    regression's reading, the estimate keeps that too (:meth:`RoomEstimate.lengthened_only`).

    Progress goes to ``callback`` once per octave band (it may raise ``Cancelled``).
    """
    audio = np.atleast_2d(np.asarray(audio, np.float64))
    excess = audio.shape[-1] - int(MAX_SECONDS * sample_rate)
    middle = slice(max(0, excess // 2), max(0, excess // 2) + int(MAX_SECONDS * sample_rate))
    audio = audio[:, middle]
    # a channel's dropout: every channel left out there; found in the middle alone (bounded time)
    silent = (silent_samples(audio, sample_rate) if silent is None else silent[:, middle]).any(0)
    duration = np.count_nonzero(~silent) / sample_rate
    if duration < MIN_SECONDS:  # too short, or too little of it sounding (silent: 0 s)
        return None
    features = room_features(audio, sample_rate, silent=silent, callback=callback)  # (bands, F)
    if is_steady(features):
        return None
    log_rt60, drr_db, z = _predict(_model(), features)
    bands = octave_bands(sample_rate)
    rt60_bands = {f: float(np.exp(log_rt60[i])) for i, f in enumerate(bands)}
    rt60 = float(np.exp(np.mean([log_rt60[bands.index(f)] for f in MID_BANDS_HZ])))
    decays = free_decays(audio, sample_rate, MID_BANDS_HZ, silent=silent)
    regression = None, None
    if decays is not None and decays.count >= FREE_DECAY_PER_S * duration:
        # the bands keep the regression's shape, scaled to the free decays' T_mid
        scale = float(np.clip(decays.rt60 / rt60, 1 / FREE_DECAY_FACTOR, FREE_DECAY_FACTOR))
        if scale < 1:
            regression = rt60, rt60_bands
        rt60, rt60_bands = rt60 * scale, {f: t * scale for f, t in rt60_bands.items()}
    confidence = _confidence(z, log_rt60, duration)
    return RoomEstimate(rt60, rt60_bands, drr_db, confidence, *regression)


def octave_bands(sample_rate: float) -> list[int]:
    """The centres (Hz) of the octave bands a room is described in at ``sample_rate``: those
    whose upper edge lies below :data:`TOP_BAND_SHARE` of it."""
    return [f for f in OCTAVES_HZ if f * np.sqrt(2) < TOP_BAND_SHARE * sample_rate]


def room_features(
    audio: np.ndarray,
    sample_rate: int,
    *,
    silent: np.ndarray | None = None,
    callback: ProgressCallback | None = None,
) -> np.ndarray:
    """``(bands, F)``: the level statistics of each of :func:`octave_bands`, leaving out the
    ``silent`` samples (default: :func:`silent_samples` on any channel)."""
    import librosa

    audio = np.asarray(audio, np.float64)
    n_fft, hop = fitted_frames(sample_rate, HOP_AT_44K1)
    spectrum = librosa.stft(audio, n_fft=n_fft, hop_length=hop)
    power = (np.abs(spectrum) ** 2).reshape(-1, *spectrum.shape[-2:]).mean(axis=0)
    if silent is None:
        silent = silent_samples(audio, sample_rate).any(axis=0)
    sounding = sounding_frames(silent, n_fft, hop, power.shape[-1])
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    lags = [max(1, round(lag * sample_rate / hop)) for lag in LAGS_S]
    bands = octave_bands(sample_rate)
    rows = []
    for i, centre in enumerate(bands):
        inside = (freqs >= centre / np.sqrt(2)) & (freqs < centre * np.sqrt(2))
        rows.append(_band_features(power[inside], lags, sounding))
        report(callback, i + 1, len(bands), "room")
    return np.array(rows)


def is_steady(features: np.ndarray) -> bool:
    """Whether the ``(bands, F)`` features are a steady sound's (see ``STEADY_GROWTH``)."""
    q = features.reshape(len(features), 2, len(LAGS_S), len(QUANTILES))
    bins = q[[OCTAVES_HZ.index(f) for f in MID_BANDS_HZ], 0]  # (mid bands, lags, quantiles)
    spread = bins[..., -1] - bins[..., 0]
    growth = spread[:, -1] / np.maximum(spread[:, LAGS_S.index(0.0464)], 1e-6)
    return bool(growth.mean() < STEADY_GROWTH)


def _band_features(power: np.ndarray, lags: list[int], sounding: np.ndarray) -> list[float]:
    """Quantiles of the level changes over each lag: per bin (where the earlier bin is active)
    and of the band's level, between frames that are both ``sounding``."""
    level = 10 * np.log10(power + 1e-10)  # L (bins, frames)
    active = level > level.max() - ACTIVE_DB
    band_level = 10 * np.log10(power.mean(axis=0) + 1e-10)
    row: list[float] = []
    for n in lags:
        change = level[:, n:] - level[:, :-n]
        row += _quantiles(change[active[:, :-n] & sounding[:-n] & sounding[n:]])
    for n in lags:
        row += _quantiles((band_level[n:] - band_level[:-n])[sounding[:-n] & sounding[n:]])
    return row


def _quantiles(values: np.ndarray) -> list[float]:
    if values.size <= 10:
        return [0.0] * len(QUANTILES)
    return [float(q) for q in np.quantile(values, QUANTILES)]


def _design(features: np.ndarray) -> np.ndarray:
    """The regression's inputs: per band, rates in dB/s, log-compressed (``log(1 + |r|)``).

    A room bounds how fast a level falls (60 dB per RT60), so ``log RT60`` is near linear in
    the log of a rate, not of a level change: each quantile ``q(n)`` over its lag (``|q| / n``)
    and its growth from one lag to the next (``|q(n') - q(n)| / (n' - n)``). Raw quantiles,
    falls only, the bins or the band level alone generalised worse from song to song (leave one
    song out, ``python -m bench.rooms fit``). Each band's inputs sit beside their mean over
    bands (the room is one room for all bands).
    """
    lags = np.asarray(LAGS_S)[:, None]
    q = features.reshape(len(features), 2, len(LAGS_S), len(QUANTILES))  # (bands, 2, lags, Q)
    growth = np.abs(np.diff(q, axis=2)) / np.diff(lags, axis=0)
    rates = np.log1p(np.concatenate([np.abs(q) / lags, growth], axis=2)).reshape(len(q), -1)
    return np.concatenate([rates, np.repeat(rates.mean(0, keepdims=True), len(rates), 0)], 1)


def _predict(model: dict, features: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """log RT60 per band, DRR (dB) and the standardised design ``z`` of ``(bands, F)`` features.

    Where the first regression reads a long room (T_mid from ``LONG_FROM_S``), the one fitted on
    the rooms it reads long (``model["long"]``) takes over, blended across ``LONG_BLEND``.
    """
    design = _design(features)
    z = (design - model["mean"]) / model["scale"]
    log_rt60 = z @ model["rt60_weights"] + model["rt60_bias"]
    if "long" in model:
        share = long_share(log_rt60[None])[0]
        long = model["long"]
        z_long = (design - long["mean"]) / long["scale"]
        log_long = z_long @ long["rt60_weights"] + long["rt60_bias"]
        log_rt60 = (1 - share) * log_rt60 + share * log_long
    log_rt60 = np.clip(log_rt60, *np.log(RT60_RANGE_S))
    return log_rt60, float(z.mean(axis=0) @ model["drr_weights"] + model["drr_bias"]), z


def long_share(log_rt60: np.ndarray) -> np.ndarray:
    """``(n,)``: how much the long-room regression weighs, given the first one's ``(n, bands)``
    log RT60 (0 below ``LONG_FROM_S`` / e^LONG_BLEND at T_mid, 1 above ``LONG_FROM_S`` x
    e^LONG_BLEND)."""
    mid = log_rt60[:, [OCTAVES_HZ.index(f) for f in MID_BANDS_HZ]].mean(axis=1)
    return np.clip((mid - np.log(LONG_FROM_S) + LONG_BLEND) / (2 * LONG_BLEND), 0.0, 1.0)


@cache
def _model() -> dict[str, Any]:
    return _arrays(json.loads(MODEL_FILE.read_text()))


def _arrays(data: dict) -> dict[str, Any]:
    """``data`` with its lists as arrays, nested dictionaries (the long-room regression) too."""
    return {
        k: _arrays(v) if isinstance(v, dict) else np.asarray(v) if isinstance(v, list) else v
        for k, v in data.items()
    }


def _confidence(z: np.ndarray, log_rt60: np.ndarray, duration: float) -> float:
    """1 inside the fitted features' range with bands agreeing on a smooth curve, less outside."""
    outside = float(np.mean(np.abs(z) > 3))  # the share of features beyond 3 sigma
    curve = np.polyval(np.polyfit(np.arange(log_rt60.size), log_rt60, 2), np.arange(log_rt60.size))
    disagreement = float(np.std(log_rt60 - curve))
    length = min(1.0, duration / FULL_CONFIDENCE_S)
    return float(np.clip((1 - 3 * outside) * np.exp(-5 * disagreement) * length, 0.0, 1.0))
