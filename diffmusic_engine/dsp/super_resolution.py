"""Bandwidth extension by spectral band replication (SBR, as in HE-AAC, without side info).

Above the cutoff nothing is left, so the missing band is made from the octave below it:

1. STFT ``X[k, t]`` of the band-limited input. The source band is the octave
   ``[f_e / 2, f_e)`` below ``f_e``, where the low-pass starts rolling off;
2. each missing bin ``k >= k_e`` takes the source bin ``k - j W`` (``W``: the source band's width
   in bins; ``j = 1, 2, ...`` the patch) shifted up by ``j W`` bins. The shift is a modulation by
   ``j W`` bin frequencies, so frame ``t`` is multiplied by ``exp(2 pi i j W hop t / n_fft)`` to
   keep the patch's phase coherent across frames;
3. envelope: the mean power per bin of frame ``t`` in the top half-octave below ``f_e`` is
   extended upwards with the long-term spectral tilt of the source octave (dB per octave, clamped
   to a falling range set by the cutoff, ``TILTS``: steep below 8 kHz and above 10 kHz), and each
   third-octave band of the patch is scaled to it, frame by frame;
4. the patch is brought back to the time domain and high-passed with the exact complement of the
   operator's low-pass, ``1 - H_lp``, then added: ``output = input + HP(patch)``. Wherever
   ``H_lp = 1`` (below the roll-off) the input's spectrum is kept exactly.

Where the recording has little of its own near the cutoff (a dark instrument's stem, or dark
music: its top third-octave far under its body, ``top_of_band``), the rebuilt band is added
10 dB lower or not at all (``rebuilt_level_db``), and the details say which.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from diffmusic_engine.backends import REBUILT_LEVEL_DB, UNCHANGED
from diffmusic_engine.band_limit import TRANSITION, long_term_level, lowpass_response
from diffmusic_engine.damage import SuperResolution
from diffmusic_engine.dsp.options import N_FFT, Option, parse_options
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.silence import keep_silence, silent_samples

OPTIONS = {
    "n_fft": N_FFT,
    # clamp on the extrapolated tilt, dB per octave; not given: TILTS for the cutoff
    "min_tilt": Option(low=-60.0, high=0.0),
    "max_tilt": Option(low=-60.0, high=0.0),
    "max_gain_db": Option(default=30.0, low=0.0, high=60.0),  # per band, per frame
    # the level the rebuilt band is added at; not given: measured (rebuilt_level_db below);
    # 0 extends a dark recording at full level all the same
    "rebuilt_level_db": Option(low=-60.0, high=0.0),
}
REPLICATION = ("n_fft", "min_tilt", "max_tilt", "max_gain_db")  # the options replicate() takes
EPS = 1e-20
# (from cutoff Hz, min_tilt, max_tilt): music falls at least ~9 dB/octave above 8 kHz, and
# ever faster towards 20 kHz. 14 real recordings (../shared/audio and the shipped ones, 8 s,
# low-passed then extended; gain-compensated log-mel distance to the clean take, output over
# input, median and recordings made worse), one clamp of -24..-9 for every cutoff: 8 kHz 0.59
# (4 of 14), 12 kHz 0.84 (4), 16 kHz 1.13 (9), 18 kHz 1.38 (9); -60..-20: 12 kHz 0.77 (4),
# 16 kHz 0.85 (5); -60..-30: 8 kHz 0.80 (3), 12 kHz 0.87 (2), 16 kHz 0.80 (4), 18 kHz 0.98 (6).
# Below 8 kHz a guitar stem's top is still as loud as its body (-8.7 to +3.5 dB at 4 kHz, a mix's
# -13.3 to +4.7), so the dark-recording rule below cannot see it, but its cabinet rolls off just
# above: the clean takes' octave above a 4-6 kHz cutoff lies 12-35 dB under the top third-octave
# below it, a backing stem's or mix's 1-10. At -24..-9 the guitar stems came back worse (all six
# at 4 kHz, 1.07-2.42x; five at 5 kHz, 2.15-2.59x; four at 6 and 7 kHz, 3.4-4.6x and 1.07-3.87x);
# the loosest clamp that left none of the 14 worse, with the rule's
# own levels (median before -> after, made worse): 4 kHz -60..-20, 0.710 (6) -> 0.563 (0); 5 kHz
# the same, 0.751 (5) -> 0.564; 6 kHz -60..-24, 0.693 (4) -> 0.710; 7 kHz -60..-36 (-30 left one
# at 1.38x), 0.647 (4) -> 0.863. From 8 kHz the dark-recording rule takes the guitar stems over.
# From 8 kHz: the clamp a full-band mix's top takes (also where a gap's band is rebuilt from
# music of that kind around it: diffmusic_engine.longform.bands.replication_tilts).
FULL_BAND_TILTS = (-24.0, -9.0)
TILTS = (
    (0.0, -60.0, -20.0),
    (5500.0, -60.0, -24.0),
    (6500.0, -60.0, -36.0),
    (8000.0, *FULL_BAND_TILTS),
    (10000.0, -60.0, -20.0),
    (14000.0, -60.0, -30.0),
)
# Above this the band left is the top of hearing and every clamp measured did harm on half the
# recordings or more (18 kHz: 6 of 14, 20 kHz: 9 of 14): the input comes back, and why.
HIGHEST_CUTOFF_HZ = 17000.0
ABOVE_HIGHEST = (
    "a band limit at {cutoff:.0f} Hz leaves only the top of hearing to rebuild, and the dsp "
    "extension measured worse than the input there on real music (6-10 of 14 recordings at "
    "18-20 kHz): nothing changed"
)


# The rebuilt band is set from the top of the band below the cutoff. Where that top lies far under
# the body of the recording (a dark instrument's stem, an electric guitar through its cabinet),
# the band above held almost nothing, and rebuilding it made the recording worse. The measure
# (TopOfBand.top_level_db): the long-term level of the top third-octave below the cutoff minus that
# of BODY_HZ, plus MUSIC_FALL_DB per octave of the cutoff above 8 kHz (how fast mixes' tops fall
# there). The 14 real recordings low-passed at 8/12/14/16 kHz: backing stems and mixes -4.6 to
# -15.1 dB, guitar stems -17.3 to -68.4; excerpts of 8 full songs +1.9 to -26.8 (docs/results.md,
# "Super-resolution of dark recordings"). Under DECLINED_BELOW_DB (every guitar stem from 12 kHz,
# worse at any level, up to 3.9x) the input comes back with the reason. Between that and
# QUIETER_BELOW_DB a top whose long-term spectrum is peaky (flatness under QUIETER_FLATNESS: a
# few partials, not a band of noise) gets the rebuilt band QUIETER_BY_DB lower: three guitar
# stems at 8 kHz, 0.65-0.76, worse up to 10.7x at full level, better at -10 dB (0.88-0.93), where
# the two flat ones (0.91, 0.99) read 0.55 and 0.86 at full level.
BODY_HZ = (200.0, 2000.0)
MUSIC_FALL_DB = 9.0  # per octave above 8 kHz
DECLINED_BELOW_DB = -23.0
QUIETER_BELOW_DB = -16.0
QUIETER_FLATNESS = 0.8
QUIETER_BY_DB = -10.0
TOO_DARK = (
    "the recording has little of its own near the {cutoff:.0f} Hz limit (its top third-octave "
    "below it lies {under:.0f} dB under its {body} band, music's usual fall above 8 kHz "
    "allowed for: a dark instrument's stem, or dark music), where the dsp extension measured "
    "worse than the input on real music (every guitar stem from 12 kHz; dark piano, strings or "
    "celesta recordings, e.g., from 8 kHz): nothing changed; a stem's mix may be extended "
    "instead, or set rebuilt_level_db = 0 (the full band) in a preset's [options] (restore "
    "--preset FILE) to extend it all the same"
)


class TopOfBand(NamedTuple):
    """The long-term spectrum of the top third-octave below a cutoff."""

    top_level_db: float  # dB under the body (BODY_HZ), music's fall above 8 kHz given back
    top_flatness: float  # geometric over arithmetic mean of its power: 1 flat, towards 0 peaky


def top_of_band(
    audio: np.ndarray, sample_rate: int, cutoff: float, leave_out: np.ndarray | None = None
) -> TopOfBand:
    """The :class:`TopOfBand` of ``audio`` below ``cutoff``: about -8 dB for a mix, -17 and
    lower for a guitar stem; ``(0, 1)`` where a band is empty (too short a clip to tell).
    ``leave_out``: the samples of dropouts, whose broadband edges would be read as a top
    (:func:`~diffmusic_engine.band_limit.long_term_level`)."""
    return top_of_spectrum(*long_term_level(audio, sample_rate, leave_out), cutoff)


def top_of_spectrum(freqs: np.ndarray, level: np.ndarray, cutoff: float) -> TopOfBand:
    """:func:`top_of_band` of a long-term spectrum already read (``level`` dB at ``freqs``)."""
    top = cutoff * (1 - TRANSITION)
    in_top = level[(freqs >= top * 2 ** (-1 / 3)) & (freqs < top)]
    in_body = level[(freqs >= BODY_HZ[0]) & (freqs < BODY_HZ[1])]
    if in_top.size == 0 or in_body.size == 0:
        return TopOfBand(0.0, 1.0)
    fall = MUSIC_FALL_DB * max(0.0, np.log2(cutoff / 8000.0))
    power = 10 ** ((in_top - in_top.max()) / 10)
    flatness = np.exp(np.mean(np.log(power))) / np.mean(power)
    return TopOfBand(float(in_top.mean() - in_body.mean() + fall), float(flatness))


def rebuilt_level_db(top: TopOfBand) -> float | None:
    """The level (dB) at which the rebuilt band is added below an input's :class:`TopOfBand`
    ``top``, or ``None``: none added."""
    if top.top_level_db < DECLINED_BELOW_DB:
        return None
    quieter = top.top_level_db < QUIETER_BELOW_DB and top.top_flatness < QUIETER_FLATNESS
    return QUIETER_BY_DB if quieter else 0.0


def tilt_range(cutoff: float) -> tuple[float, float]:
    """``(min_tilt, max_tilt)`` (dB per octave) for a band rebuilt from ``cutoff`` Hz up."""
    return next((low, high) for start, low, high in reversed(TILTS) if cutoff >= start)


def restore_super_resolution(
    audio: np.ndarray,
    sample_rate: int,
    damage: SuperResolution,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Regenerate the band above ``damage.cutoff`` (a number: ``restore`` resolves "auto")."""
    opts = parse_options("super-resolution", options, OPTIONS)
    n_fft = opts["n_fft"]
    if n_fft & (n_fft - 1):
        raise DamageError(f"dsp super-resolution: option n_fft={n_fft} must be a power of two")
    cutoff = float(damage.cutoff)
    if cutoff >= HIGHEST_CUTOFF_HZ:
        return audio.copy(), {"cutoff": cutoff, UNCHANGED: ABOVE_HIGHEST.format(cutoff=cutoff)}
    _fill_tilts(opts, cutoff)
    silent = silent_samples(audio, sample_rate)  # dropouts: left out, and given back as they were
    top = top_of_band(audio, sample_rate, cutoff, silent.any(axis=0))
    level_db = opts.get(REBUILT_LEVEL_DB)
    if level_db is None:
        level_db = rebuilt_level_db(top)
    if level_db is None:
        body = f"{BODY_HZ[0]:.0f}-{BODY_HZ[1]:.0f} Hz"
        reason = TOO_DARK.format(cutoff=cutoff, under=-top.top_level_db, body=body)
        return audio.copy(), {"cutoff": cutoff, **top._asdict(), UNCHANGED: reason}
    channels, n = audio.shape
    highpass = 1.0 - lowpass_response(n, sample_rate, cutoff).astype(np.float64)
    highpass *= 10 ** (level_db / 20)
    out = np.empty_like(audio)
    report(callback, 0, channels, "super-resolution")
    tilts = []
    for channel in range(channels):
        x = audio[channel].astype(np.float64)
        patch, tilt = replicate(x, sample_rate, cutoff, **{k: opts[k] for k in REPLICATION})
        patch = np.fft.irfft(np.fft.rfft(patch) * highpass, n=n)
        out[channel] = (x + patch).astype(np.float32)
        tilts.append(tilt)
        report(callback, channel + 1, channels, "super-resolution")
    details = {**top._asdict(), REBUILT_LEVEL_DB: level_db, "tilt_db_per_octave": tilts}
    out = keep_silence(audio, out, silent)
    return out, {"cutoff": cutoff, **details, **opts}


def _fill_tilts(opts: dict[str, Any], cutoff: float) -> None:
    """The tilt clamp of ``opts``: bounds not given from ``TILTS`` for ``cutoff``; an inverted
    clamp is refused."""
    low, high = tilt_range(cutoff)
    opts["min_tilt"] = low if opts.get("min_tilt") is None else opts["min_tilt"]
    opts["max_tilt"] = high if opts.get("max_tilt") is None else opts["max_tilt"]
    if opts["min_tilt"] > opts["max_tilt"]:  # one bound given, the other from TILTS
        raise DamageError(
            f"dsp super-resolution: min_tilt {opts['min_tilt']:g} is above max_tilt "
            f"{opts['max_tilt']:g} dB/octave (at {cutoff:.0f} Hz the range is {low:g}..{high:g} "
            "when not given); give both"
        )


def replicate(
    x: np.ndarray,
    sample_rate: int,
    cutoff: float,
    *,
    n_fft: int,
    min_tilt: float,
    max_tilt: float,
    max_gain_db: float,
) -> tuple[np.ndarray, float]:
    """The replicated, envelope-shaped band above ``cutoff`` for mono ``x`` (not yet
    high-passed), and the tilt used (dB per octave)."""
    import librosa

    hop = n_fft // 4
    n = x.size
    # a clip shorter than one frame is zero-padded to it (librosa would warn on the terminal)
    padded = np.pad(x, (0, max(0, n_fft - n)))
    spec = librosa.stft(padded, n_fft=n_fft, hop_length=hop, center=True)  # X[k, t]
    bins = spec.shape[0]
    df = sample_rate / n_fft
    k_e = int(np.floor(cutoff * (1 - TRANSITION) / df))  # first bin of the roll-off
    k_lo = max(1, k_e // 2)
    width = k_e - k_lo  # W
    if width < 2 or k_e >= bins:
        return np.zeros(n), 0.0
    patch = _patches(spec, k_e, width, hop, n_fft)
    power, freqs = np.abs(spec) ** 2, np.arange(bins) * df
    tilt = _source_tilt(power, freqs, k_lo, k_e, min_tilt, max_tilt)
    _shape_envelope(patch, power, freqs, k_e, tilt, max_gain_db)
    return librosa.istft(patch, hop_length=hop, n_fft=n_fft, length=n), tilt


def _patches(spec: np.ndarray, k_e: int, width: int, hop: int, n_fft: int) -> np.ndarray:
    """Step 2: the STFT ``spec`` of the patches: bin ``k >= k_e`` takes source bin ``k - jW``
    (``W``: ``width``), phase-advanced for the shift of ``jW`` bins (frames ``hop`` apart, of
    ``n_fft``); nothing below ``k_e``."""
    bins, frames = spec.shape
    k = np.arange(k_e, bins)
    j = (k - k_e) // width + 1
    shift = j * width
    t = np.arange(frames)
    rotation = np.exp(2j * np.pi * np.outer(shift, t) * hop / n_fft)
    patch = np.zeros_like(spec)
    patch[k_e:] = spec[k - shift] * rotation
    return patch


def _source_tilt(
    power: np.ndarray, freqs: np.ndarray, k_lo: int, k_e: int, min_tilt: float, max_tilt: float
) -> float:
    """The long-term tilt (dB per octave) of the source octave ``[k_lo, k_e)`` of ``power``
    ``(bins, frames)``, clamped to ``[min_tilt, max_tilt]``."""
    long_term = 10 * np.log10(power[k_lo:k_e].mean(axis=1) + EPS)
    tilt = float(np.polyfit(np.log2(freqs[k_lo:k_e]), long_term, 1)[0])
    return float(np.clip(tilt, min_tilt, max_tilt))


def _shape_envelope(
    patch: np.ndarray,
    power: np.ndarray,
    freqs: np.ndarray,
    k_e: int,
    tilt: float,
    max_gain_db: float,
) -> None:
    """Step 3, in place: each third-octave band of ``patch`` from ``k_e`` scaled, frame by frame,
    to the mean power per bin of the top half-octave below ``k_e`` (of the input's ``power``)
    extended upwards with ``tilt`` (dB per octave), by at most ``max_gain_db``."""
    ref = slice(int(k_e / np.sqrt(2)), k_e)
    level = power[ref].mean(axis=0)  # mean power per bin, per frame
    f_ref = np.sqrt(freqs[ref.start] * freqs[k_e - 1])
    max_gain = 10 ** (max_gain_db / 10)
    for first, stop in _third_octaves(k_e, patch.shape[0]):
        f_band = np.sqrt(freqs[first] * freqs[stop - 1])
        target = level * 10 ** (tilt * np.log2(f_band / f_ref) / 10)
        current = (np.abs(patch[first:stop]) ** 2).mean(axis=0)
        gain = np.minimum(target / (current + EPS), max_gain)
        patch[first:stop] *= np.sqrt(gain)


def _third_octaves(first: int, stop: int) -> list[tuple[int, int]]:
    """``[first, stop)`` split into bands a third of an octave wide (at least 2 bins)."""
    bands, low = [], first
    while low < stop:
        high = min(stop, max(low + 2, int(np.ceil(low * 2 ** (1 / 3)))))
        if stop - high < 2:
            high = stop
        bands.append((low, high))
        low = high
    return bands
