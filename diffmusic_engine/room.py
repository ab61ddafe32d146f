"""The room, estimated blind from a reverberant recording: RT60 per octave band, DRR, confidence.

Free-decay detection and decay fitting (after Lollmann et al., 2010, "An improved algorithm for
blind reverberation time estimation", on octave-band energy envelopes instead of samples):

1. Each octave band's energy envelope ``e_b(t)`` in dB (10 ms frames, channels' power averaged).
2. Free decays: runs where the smoothed envelope falls frame after frame for at least
   ``MIN_DECAY_S`` and ``MIN_DROP_DB``, cut where it reaches the band's floor.
3. Each decay's slope by least squares on its tail (the first ``SKIP_S`` hold the fall of the
   direct sound), so ``T = -60 / slope``.
4. A played note can only decay as fast as the room lets it or slower (the recording's envelope
   is the source's convolved with the room's exponential), so the room's decay is the lower edge
   of the decays' distribution: the ``QUANTILE`` of the ``T`` s, weighted by each decay's drop.
5. DRR from the step at each decay's start: when the source stops, direct sound ``D`` vanishes
   at once and the reverberation ``R`` continues, so the level falls by ``10 log10(1 + D/R)``
   between the last loud frame and the tail's fit extrapolated back to that frame.

The broadband RT60 is the mean over 500 Hz and 1 kHz (ISO 3382's T_mid). Confidence grows with
the number of decays found and shrinks with their spread across bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, sosfilt

OCTAVES_HZ = (125, 250, 500, 1000, 2000, 4000, 8000)  # octave-band centres
MID_BANDS_HZ = (500, 1000)  # T_mid
HOP_S = 0.01  # envelope frame
SMOOTH_S = 0.05  # envelope smoothing before finding decays
WINDOWS_S = (0.2, 0.4, 0.8)  # decay windows tried
SUB_BLOCKS = 5
MIN_DROP_DB = 3.0
FLOOR_MARGIN_DB = 6.0  # a decay stops this far above the band's floor
QUANTILE = 0.25
RT60_RANGE_S = (0.1, 10.0)


@dataclass(frozen=True)
class RoomEstimate:
    """``rt60``: broadband RT60 (s); ``rt60_bands``: octave centre (Hz) -> RT60 (s);
    ``drr_db``: direct-to-reverberant ratio (dB); ``confidence``: 0 (a guess) .. 1 (sure)."""

    rt60: float
    rt60_bands: dict[int, float]
    drr_db: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of docs/protocol.md ("diffmusic diagnose")."""
        return {
            "rt60_s": round(self.rt60, 2),
            "rt60_bands": {str(f): round(t, 2) for f, t in self.rt60_bands.items()},
            "drr_db": round(self.drr_db, 1),
            "confidence": round(self.confidence, 2),
        }


@dataclass(frozen=True)
class Decay:
    """One free decay: its RT60, its drop (dB) and the step at its start (dB)."""

    rt60: float
    drop_db: float
    step_db: float


def estimate_room(audio: np.ndarray, sample_rate: int) -> RoomEstimate | None:
    """The room of float ``(channels, samples)`` ``audio``, or ``None`` if no decay shows."""
    bands = [f for f in OCTAVES_HZ if f * np.sqrt(2) < 0.45 * sample_rate]
    decays = {f: band_decays(audio, sample_rate, f) for f in bands}
    rt60_bands = {f: _lower_edge(d) for f, d in decays.items() if d}
    if not rt60_bands or not any(f in rt60_bands for f in MID_BANDS_HZ):
        return None
    rt60 = float(np.mean([rt60_bands[f] for f in MID_BANDS_HZ if f in rt60_bands]))
    steps = [d.step_db for f, ds in decays.items() if f in rt60_bands for d in ds
             if d.rt60 <= 1.5 * rt60_bands[f]]  # fmt: skip
    drr_db = _drr_db(np.median(steps)) if steps else 0.0
    return RoomEstimate(rt60, rt60_bands, drr_db, _confidence(decays, rt60_bands))


def band_energy_db(audio: np.ndarray, sample_rate: int, centre: float) -> np.ndarray:
    """The octave band's energy envelope in dB, one value per ``HOP_S`` frame."""
    sos = butter(3, [centre / np.sqrt(2), centre * np.sqrt(2)], "bandpass", fs=sample_rate,
                 output="sos")  # fmt: skip
    band = sosfilt(sos, np.asarray(audio, np.float64), axis=-1)
    hop = max(1, round(HOP_S * sample_rate))
    frames = band.shape[-1] // hop
    power = (band[..., : frames * hop] ** 2).reshape(*band.shape[:-1], frames, hop).mean(-1)
    power = power.reshape(-1, frames).mean(axis=0)
    return 10 * np.log10(power + 1e-20)


def band_decays(audio: np.ndarray, sample_rate: int, centre: float) -> list[Decay]:
    """Every free decay of one octave band (steps 2-3 of the module's method).

    Lollmann's test on sub-blocks: a window is a decay when its ``SUB_BLOCKS`` consecutive
    sub-block means fall one after the other; windows of several lengths, overlapping.
    """
    level = band_energy_db(audio, sample_rate, centre)
    if level.size < 10 or level.max() < -100:
        return []
    floor = np.percentile(level, 5) + FLOOR_MARGIN_DB
    decays = []
    for length_s in WINDOWS_S:
        size = round(length_s / HOP_S / SUB_BLOCKS)
        if size * SUB_BLOCKS > level.size:
            continue
        means = uniform_filter1d(level, size, origin=-(size // 2))  # mean of level[i : i + size]
        for start in range(0, level.size - size * SUB_BLOCKS + 1, size):
            m = means[start : start + size * SUB_BLOCKS : size]
            if np.any(np.diff(m) >= 0) or m[-1] < floor or m[0] - m[-1] < MIN_DROP_DB:
                continue
            stop = start + size * SUB_BLOCKS
            t = np.arange(start, stop) * HOP_S
            slope, intercept = np.polyfit(t, level[start:stop], 1)
            rt60 = -60.0 / slope
            if not RT60_RANGE_S[0] <= rt60 <= RT60_RANGE_S[1]:
                continue
            peak = level[max(0, start - 3) : start + 1].max()
            step = peak - (intercept + slope * start * HOP_S)
            decays.append(Decay(rt60, float(m[0] - m[-1]), float(max(step, 0.0))))
    return decays


def _lower_edge(decays: list[Decay]) -> float:
    """The weighted ``QUANTILE`` of the decays' RT60s (step 4)."""
    rt60 = np.array([d.rt60 for d in decays])
    weight = np.array([d.drop_db for d in decays])
    order = np.argsort(rt60)
    cumulative = np.cumsum(weight[order]) / weight.sum()
    return float(rt60[order][np.searchsorted(cumulative, QUANTILE)])


def _drr_db(step_db: float) -> float:
    """DRR from the level step at a decay's start: step = 10 log10(1 + D/R) (step 5)."""
    ratio = 10 ** (step_db / 10) - 1
    return float(10 * np.log10(max(ratio, 1e-2)))


def _confidence(decays: dict[int, list[Decay]], rt60_bands: dict[int, float]) -> float:
    count = sum(len(d) for d in decays.values())
    values = np.log(np.array(list(rt60_bands.values())))
    spread = float(np.std(values)) if values.size > 1 else 1.0
    return float(np.clip((1 - np.exp(-count / 30)) * np.exp(-2 * spread), 0.0, 1.0))
