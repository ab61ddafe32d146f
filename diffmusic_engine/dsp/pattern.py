"""Pattern fill for long gaps: copy the passage of the song whose surroundings match the gap's.

Music repeats itself (RX Spectral Repair's "Pattern" mode; Perraudin et al. 2018, "Inpainting of
long audio segments with similarity graphs"). For a gap ``[first, stop)`` with context ``C`` on
each side:

1. **Features** ``F_t`` per STFT frame ``t`` of the mono mix, each dimension standardised over the
   file so that each block weighs the same: log-mel (timbre, level), chroma (harmony, robust to a
   part entering or leaving) and the onset envelope (rhythm). Frames touching a gap are invalid.
2. **Search**: every shift ``d`` (frames) whose source ``[first, stop) + d * hop`` lies in the
   file, away from every gap, is scored by the mean distance ``||F_t - F_(t+d)||^2`` over the
   valid context frames ``t`` of both sides. All shifts at once by FFT correlation (the sum
   expands into ``|F_t|^2 + |F_(t+d)|^2 - 2 F_t . F_(t+d)``).
3. **Rank** the ``candidates`` best local minima; refine each to the sample by the normalised
   cross-correlation (NCC) of the waveform just outside both gap edges over +- one hop, and keep
   the one whose refined NCC (phase agreement at the splices) plus feature score is best.
4. **Copy** the source (one shift for every channel: the stereo image stays), scaled per channel
   to the level of the gap's own context on each side, the gain moving linearly in dB from one
   side's to the other's (a dropout in a fade follows the fade); the caller crossfades it in.
   A passage whose copy so scaled departs from that level (it straddles a level step: the loud
   bar next to a quiet passage) is left out (:mod:`.pattern_level`).

The ``similarity`` of a passage is the correlation of its contexts' features with the gap's (1:
identical surroundings). It is reported, and ``min_similarity`` can refuse a poor match, but it
does not tell a repeat from material that never comes back well: measured at 0.12-0.58 for 36
gaps in the two real mixes, 0.10-0.28 for a random never-repeating melody, 0.59 for a chirp.
So the fill is refused only when no passage of the gap's length exists outside the gaps. Nor does
it, or any other signal tried, say where a fill is poor well enough to warn: 465 random gaps in
real songs, docs/results.md "Telling a poor long-gap fill".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import correlate, fftconvolve

from diffmusic_engine.dsp.pattern_level import EXCESS_DB, Level, excess_db, level
from diffmusic_engine.longform.windows import taper
from diffmusic_engine.rates import samples_at

__all__ = ["Candidate", "Features", "Level", "compose", "features", "find", "level", "refresh"]

BASE_HOP = 512  # at 44.1 kHz (11.6 ms); scaled to other rates
CHUNK_FRAMES = 2048  # features in chunks of ~24 s so a cancel takes effect within a second
N_MELS = 64
# Candidates kept for the composite: score within this fraction of the way from the best to the
# median score (a true repeat's neighbours in the ranking that do not line up are left out)
CLOSE = 0.5
# A passage whose waveform beside both gap edges correlates this well with the gap's (NCC) is
# an exact repeat (two takes of a riff differing by noise 23 dB down correlate at 0.99): the
# composite then keeps only passages as exact.
EXACT = 0.99
# Seconds of the song on each side of a dropout that clients send for the search (the batch
# Restorer's ``context_seconds``, the REAPER dropout action's ``context`` setting): a repeat of
# the gap's material is looked for in all of it. Not to be confused with ``match_context`` (the
# stretch around the gap that is compared) or ``longform.gaps.CONTEXT`` (the diffusion window's).
SEARCH_CONTEXT_S = 30.0


@dataclass(frozen=True)
class Features:
    """Standardised per-frame features ``F`` ``(frames, dims)``, frame validity ``v``, and the
    file's ``mean`` and ``scale`` per dimension that standardised them (kept for
    :func:`refresh`)."""

    F: np.ndarray
    valid: np.ndarray
    hop: int
    mean: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True)
class Candidate:
    """A source passage: ``shift`` samples from the gap, its scores and per-channel ``gain``."""

    shift: int
    score: float  # mean squared feature distance of the contexts (lower is better)
    ncc: float  # waveform correlation just outside the gap edges after refinement
    similarity: float  # correlation of the contexts' features with the source's
    gain: Level
    excess: float = 0.0  # dB of the scaled copy over the gap's expected level (pattern_level)


def chunk_count(n_samples: int, sample_rate: int) -> int:
    """How many times :func:`features` ticks for ``n_samples`` of audio."""
    return -(-(1 + n_samples // frame_hop(sample_rate)) // CHUNK_FRAMES)


def frame_hop(sample_rate: int) -> int:
    """The feature hop: ``BASE_HOP`` at 44.1 kHz, the nearest power of two elsewhere."""
    return samples_at(sample_rate, BASE_HOP)


def features(
    mono: np.ndarray,
    sample_rate: int,
    holes: list[tuple[int, int]],
    tick: Callable[[], None] | None = None,
) -> Features:
    """Log-mel, chroma and onset features of ``mono`` (frames centred at ``t * hop``)."""
    hop = frame_hop(sample_rate)
    n_frames = 1 + mono.size // hop
    raw = _raw_features(mono, sample_rate, 0, n_frames, tick)
    valid = _valid_frames(n_frames, hop, holes)
    known = raw[valid] if valid.any() else raw
    mean, scale = known.mean(axis=0), np.empty(raw.shape[1])
    blocks = (N_MELS, 12, 1)  # log-mel, chroma, onset
    for b0, b1 in zip(np.cumsum((0,) + blocks[:-1]), np.cumsum(blocks), strict=True):
        dims = slice(int(b0), int(b1))  # each block weighs the same
        scale[dims] = (known[:, dims].std(axis=0) + 1e-6) * np.sqrt(b1 - b0)
    F = (raw - mean) / scale
    F[~valid] = 0.0
    return Features(F=F, valid=valid, hop=hop, mean=mean, scale=scale)


def refresh(
    feats: Features, mono: np.ndarray, sample_rate: int, first: int, stop: int, holes: list
) -> Features:
    """``feats`` after samples ``[first, stop)`` of ``mono`` were filled in: the frames that see
    them computed again (standardised as before), validity from the ``holes`` left."""
    hop = feats.hop
    reach = (4 + onset_frames(hop)) * hop  # a frame's window, and the onset's frames back
    f0, f1 = max(0, (first - reach) // hop), min(feats.F.shape[0], (stop + reach) // hop + 1)
    F = feats.F.copy()
    F[f0:f1] = (_raw_features(mono, sample_rate, f0, f1) - feats.mean) / feats.scale
    valid = _valid_frames(F.shape[0], hop, holes)
    F[~valid] = 0.0
    return Features(F=F, valid=valid, hop=hop, mean=feats.mean, scale=feats.scale)


def onset_frames(hop: int) -> int:
    """Frames before a frame whose log-mel its onset strength reads: librosa's (lag 1, centred
    for its default n_fft of 2048) pads 1 + 2048 // (2 hop) frames; one more for safety."""
    return 2 + 2048 // (2 * hop)


def _raw_features(
    mono: np.ndarray, sample_rate: int, f0: int, f1: int, tick: Callable[[], None] | None = None
) -> np.ndarray:
    """Unstandardised features ``(f1 - f0, dims)`` of frames ``[f0, f1)``: log-mel (dB),
    chroma (normalised per frame), onset strength."""
    import librosa

    hop = frame_hop(sample_rate)
    n_fft = 4 * hop
    early = min(f0, onset_frames(hop))  # frames before f0 the onset strength needs
    start = f0 - early
    padded = np.pad(mono.astype(np.float32), (n_fft // 2, n_fft // 2))
    mel_basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=N_MELS)
    chroma_basis = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft)
    mel = np.empty((N_MELS, f1 - start), np.float32)
    chroma = np.empty((12, f1 - start), np.float32)
    for c0 in range(start, f1, CHUNK_FRAMES):
        c1 = min(f1, c0 + CHUNK_FRAMES)
        frames = padded[c0 * hop : (c1 - 1) * hop + n_fft]
        stft = librosa.stft(frames, n_fft=n_fft, hop_length=hop, center=False)
        power = np.abs(stft) ** 2
        mel[:, c0 - start : c1 - start] = mel_basis @ power
        c = chroma_basis @ power
        chroma[:, c0 - start : c1 - start] = c / np.maximum(c.max(axis=0, keepdims=True), 1e-10)
        if tick is not None:
            tick()  # progress (and a chance to cancel) per chunk
    log_mel = librosa.power_to_db(mel, ref=1.0, top_db=None)
    onset = librosa.onset.onset_strength(S=log_mel, sr=sample_rate, hop_length=hop)[None]
    raw = np.concatenate([log_mel, chroma, onset[:, : f1 - start]], axis=0)
    return raw[:, early:].T.astype(np.float64)


def _valid_frames(n_frames: int, hop: int, holes: list[tuple[int, int]]) -> np.ndarray:
    """Frames whose window (``[t*hop - 2 hop, t*hop + 2 hop)``) touches none of ``holes``."""
    valid = np.ones(n_frames, bool)
    half = 2 * hop  # n_fft // 2
    for first, stop in holes:
        valid[max(0, (first - half) // hop) : (stop + half) // hop + 1] = False
    return valid


def search(
    feats: Features,
    first: int,
    stop: int,
    context: int,
    forbidden: list[tuple[int, int]],
    n_samples: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and feature correlations of every source shift (samples, multiples of hop) for
    the gap ``[first, stop)``.

    ``forbidden`` sample ranges (every gap with its crossfades) may not overlap the source,
    widened by one hop for the refinement. Returns ``(shifts, scores, correlations)`` of the
    allowed shifts.
    """
    F, v, hop = feats.F, feats.valid.astype(np.float64), feats.hop
    n = F.shape[0]
    t0 = max(0, (first - context) // hop)  # template frames [t0, t1): context, gap, context
    t1 = min(n, -(-(stop + context) // hop) + 1)
    gap_frames = slice(max(t0, first // hop), min(t1, -(-stop // hop) + 1))
    m = v[t0:t1].copy()
    m[gap_frames.start - t0 : gap_frames.stop - t0] = 0.0  # the context frames only
    if m.sum() == 0:
        return np.empty(0, int), np.empty(0), np.empty(0)
    G = F[t0:t1] * m[:, None]
    norms = np.sum(F * F, axis=1)
    # The template may hang over either end of the file (zeros: invalid), so pad by its length
    # L; index s of a correlation is the template starting at frame s - L.
    L = t1 - t0

    def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.pad(a, [(L, L)] + [(0, 0)] * (a.ndim - 1))
        return fftconvolve(a, b[::-1], mode="valid", axes=0)

    den = corr(v, m)
    cross = corr(F, G).sum(axis=1)
    own = corr(v, m * norms[t0:t1])  # |F_t|^2 where the source frame is valid too
    other = corr(norms, m)  # |F_(t+d)|^2 (zero where invalid)
    # Context frames the source side lacks (a file end, another gap) count as a good but not
    # exceptional distance (the 10th percentile), so that a match on a few frames does not beat
    # one on many by chance, and a perfect match on part of the context still wins.
    total = float(m.sum())
    ok = den >= 0.1 * total
    raw = (own + other - 2 * cross) / np.maximum(den, 1e-9)
    typical = float(np.percentile(raw[ok], 10)) if ok.any() else 0.0
    score = (own + other - 2 * cross + (total - den) * typical) / total
    # the contexts' feature correlation: 1 for a true repeat, ~0 for unrelated material
    correlation = cross / np.sqrt(np.maximum(own * other, 1e-20))
    shifts = (np.arange(score.size) - L - t0) * hop  # source = target + shift
    ok &= (first + shifts - hop >= 0) & (stop + shifts + hop <= n_samples)
    for r0, r1 in forbidden:  # source [first+D-hop, stop+D+hop) must miss [r0, r1)
        ok &= ~((first + shifts - hop < r1) & (stop + shifts + hop > r0))
    return shifts[ok], score[ok], correlation[ok]


def best_minima(shifts: np.ndarray, scores: np.ndarray, count: int, spacing: int) -> list[int]:
    """Indices of the ``count`` lowest scores at least ``spacing`` samples apart."""
    chosen: list[int] = []
    for index in np.argsort(scores):
        if all(abs(shifts[index] - shifts[c]) >= spacing for c in chosen):
            chosen.append(int(index))
            if len(chosen) == count:
                break
    return chosen


def refine(mono: np.ndarray, first: int, stop: int, shift: int, hop: int, edge: int) -> tuple:
    """The shift within ``+- hop`` of ``shift`` maximising the NCC of the ``edge`` samples just
    outside both gap edges with the source's; ``(shift, ncc)``."""
    parts = []
    if first > 0:
        parts.append((max(0, first - edge), first))
    if stop < mono.size:
        parts.append((stop, min(mono.size, stop + edge)))
    total = np.zeros(2 * hop + 1)
    energy = 0.0
    source_energy = np.zeros(2 * hop + 1)
    for a, b in parts:
        if a + shift - hop < 0 or b + shift + hop > mono.size:
            continue
        template = mono[a:b]
        source = mono[a + shift - hop : b + shift + hop]
        total += correlate(source, template, mode="valid", method="fft")
        energy += float(template @ template)
        c = np.concatenate([[0.0], np.cumsum(source**2)])
        w = b - a
        source_energy += c[w:] - c[:-w]
    ncc = total / np.sqrt(np.maximum(energy * source_energy, 1e-20))
    best = int(np.argmax(ncc))
    return shift + best - hop, float(ncc[best])


def find(
    audio: np.ndarray,
    mono: np.ndarray,
    feats: Features,
    first: int,
    stop: int,
    *,
    context: int,
    level_context: int,
    forbidden: list[tuple[int, int]],
    candidates: int,
    edge: int,
    near: int = 0,
) -> list[Candidate]:
    """The source passages for ``[first, stop)``, best first; empty when none lies in the file.
    ``context``: samples compared on each side for the search; ``level_context``: for the
    level (:func:`level`), ``near``: the samples beside the gap that read it in a rest."""
    shifts, scores, correlations = search(feats, first, stop, context, forbidden, mono.size)
    if shifts.size == 0:
        return []
    median = float(np.median(scores))
    ranked = []
    for index in best_minima(
        shifts, scores, candidates, spacing=max(feats.hop, (stop - first) // 4)
    ):
        shift, ncc = refine(mono, first, stop, int(shifts[index]), feats.hop, edge)
        gain = level(audio, first, stop, shift, level_context, forbidden, near)
        ranked.append(
            Candidate(
                shift=shift,
                score=float(scores[index]),
                ncc=ncc,
                similarity=float(correlations[index]),
                gain=gain,
                excess=excess_db(audio, first, stop, shift, gain),
            )
        )
    # A passage across a level step (loud inside, quiet contexts) is left out; if all are, the
    # one nearest the expected level stays
    level_fits = [c for c in ranked if abs(c.excess) <= EXCESS_DB]
    ranked = level_fits or [min(ranked, key=lambda c: abs(c.excess))]
    # Rank by feature score in units of the median, minus the phase agreement at the splices;
    # keep those whose score is within CLOSE of the way from the best to the median.
    ranked.sort(key=lambda c: c.score / max(median, 1e-9) - 0.5 * c.ncc)
    kept = close(ranked, median)
    if kept[0].ncc >= EXACT:  # the song repeats itself here (a loop, a copied bar): only
        return [c for c in kept if c.ncc >= EXACT]  # passages as exact add nothing but blur
    return kept


def close(ranked: list[Candidate], median: float) -> list[Candidate]:
    """Those of ``ranked`` (in order) whose score lies within ``CLOSE`` of the way from the
    best's to ``median``, the best always: the passages left by the level test may all score
    over the median of every shift (a dropout in a gated MP3 kept none, and the fill raised
    IndexError, a user trial)."""
    lowest = min(c.score for c in ranked)
    return [c for c in ranked if c.score <= lowest + CLOSE * max(median - lowest, 0.0)]


def compose(
    audio: np.ndarray, first: int, stop: int, found: list[Candidate], ramp: int
) -> np.ndarray:
    """The fill of ``[first, stop)`` ``(channels, stop - first)``: STFT magnitudes the geometric
    mean of the candidates' (as REPET estimates the repeating part of a song from the median of
    its repeats, Rafii & Pardo 2013; the geometric mean is the estimate with the least mean
    squared log-spectral error, and measured 1 % better than the median), phases the best one's;
    the best one's own samples at the edges (its phase agrees with the original there), ramped
    into the composite over ``ramp`` samples. What belongs to one repeat only (a fill, a solo
    note) is attenuated; what every repeat shares (the riff, the beat) stays. The composite is
    then scaled, per channel, to the candidates' median RMS: a geometric mean of magnitudes that
    differ sits under their power (fills of 0.1 to 1 s in six real mixes came out a median
    2.66 dB quieter than the music they replaced; +0.03 dB after), and a mean let one candidate
    far over the others set the level (docs/results.md "Dropouts in a quiet passage: sources
    across a level step")."""
    import librosa

    n_fft, hop = 2048, 512
    pad = n_fft
    m = stop - first
    segments = []
    for c in found:
        a, b = first + c.shift - pad, stop + c.shift + pad
        seg = np.zeros((audio.shape[0], b - a))
        lo, hi = max(0, a), min(audio.shape[1], b)
        seg[:, lo - a : hi - a] = audio[:, lo:hi]
        segments.append(seg * c.gain.over(a - c.shift, b - c.shift))
    best = segments[0][:, pad : pad + m]
    if len(found) < 3 or m <= 2 * ramp:
        return best
    spectra = librosa.stft(np.stack(segments), n_fft=n_fft, hop_length=hop)
    magnitude = np.abs(spectra)
    combined = np.exp(np.mean(np.log(magnitude + 1e-9), axis=0))
    phase = np.exp(1j * np.angle(spectra[0]))
    composite = librosa.istft(combined * phase, hop_length=hop, length=m + 2 * pad)[
        :, pad : pad + m
    ]
    candidates_rms = np.median([_rms(seg[:, pad : pad + m]) for seg in segments], axis=0)
    composite *= (candidates_rms / np.maximum(_rms(composite), 1e-12))[:, None]
    w = taper(m, ramp)  # weight of the composite
    return (1 - w) * best + w * composite


def _rms(x: np.ndarray) -> np.ndarray:
    """Per-channel root mean square of ``(channels, samples)`` ``x``."""
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1))
