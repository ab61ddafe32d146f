"""Source separation, a WEAK BASELINE: spectral masks that know nothing about instruments.

Asked for plainly, the dsp backend DECLINES: on real mixes (rock: guitar + backing, the shipped
excerpts and ``../shared/audio``) these masks score 1-8 dB SI-SDR *below* returning the mixture as
every source, so the error points to the diffusion backend. They run only when named, with the
option ``masks`` (the preset ``harmonic-percussive`` sets it):

* ``masks = "harmonic-percussive"``, 2 sources: harmonic / percussive split
  (``librosa.decompose.hpss``, soft masks): source 1 is what is smooth in time (sustained
  notes), source 2 what is smooth in frequency (hits).
* ``masks = "nmf"``, any number: NMF of the magnitude spectrogram
  (``librosa.decompose.decompose``, scikit-learn) with one component per source, sorted by
  frequency, each turned into a soft (Wiener-like) mask.

Neither knows which source is which instrument or matches the given ordering of the mix: use it
to get rough stems quickly, and the diffusion backend when quality matters.

The masks are computed once on the mid (mean of channels) and applied to every channel, so the
channels of a source stay aligned. Data consistency is exact: the masked parts ``s_i`` sum to
the input (the last is ``input - sum`` of the others), and the outputs are ``x_i = s_i / w_i``, so
``sum_i w_i x_i`` is the input (up to float32 rounding).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from diffmusic_engine.damage import Separate
from diffmusic_engine.dsp.options import N_FFT, Option, parse_options
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback, report

OPTIONS = {
    "n_fft": N_FFT,
    "power": Option(default=2.0, low=0.5, high=8.0),  # mask sharpness
    "margin": Option(default=1.0, low=1.0, high=10.0),  # HPSS margin (1: masks sum to one)
    "iterations": Option(default=200, low=10, high=5000, integer=True),  # NMF
    # which split was asked for; none: the backend declines
    "masks": Option(kind=str, choices=("harmonic-percussive", "nmf")),
}
EPS = 1e-10
DECLINED = (
    "dsp separate: spectral masks score below the mixture itself on real music, so the dsp "
    "backend does not separate; use --backend diffusion --model ID (a GPU is advised), or name a "
    'split that sums back to the mix: --preset harmonic-percussive, or masks = "nmf" in a '
    "preset's [options] (in REAPER: the Backend and Model, or the Preset, of DiffMusic - "
    "Settings)"
)


def restore_separate(
    audio: np.ndarray,
    sample_rate: int,
    damage: Separate,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """``damage.sources`` tracks ``x_i`` with ``sum_i w_i x_i == audio``."""
    import librosa

    opts = parse_options("separate", options, OPTIONS)
    masks = opts.get("masks")
    if masks is None:
        raise DamageError(DECLINED)
    if masks == "harmonic-percussive" and damage.sources != 2:
        raise DamageError(
            f"dsp separate: masks='harmonic-percussive' splits into 2 sources, not "
            f"{damage.sources}; use masks='nmf' for more"
        )
    n_fft, hop = opts["n_fft"], opts["n_fft"] // 4
    n = audio.shape[-1]
    steps = damage.sources + 1
    report(callback, 0, steps, "separate")
    x = audio.astype(np.float64)
    # a clip shorter than one frame is zero-padded to it (librosa would warn on the terminal)
    padded = np.pad(x, [(0, 0), (0, max(0, n_fft - n))])
    spec = librosa.stft(padded, n_fft=n_fft, hop_length=hop)  # (channels, F, T)
    magnitude = np.abs(spec.mean(axis=0))  # the mid's magnitude: one set of masks for all
    if masks == "harmonic-percussive":
        soft = hpss_masks(magnitude, power=opts["power"], margin=opts["margin"])
    else:
        soft = nmf_masks(
            magnitude, damage.sources, power=opts["power"], iterations=opts["iterations"],
            seed=opts["seed"],
        )  # fmt: skip
    report(callback, 1, steps, "separate")
    parts = []  # s_i
    for i, mask in enumerate(soft[:-1]):
        parts.append(librosa.istft(mask * spec, n_fft=n_fft, hop_length=hop, length=n))
        report(callback, i + 2, steps, "separate")
    parts.append(x - np.sum(parts, axis=0))
    report(callback, steps, steps, "separate")
    tracks = tuple(
        (part / w).astype(np.float32) for part, w in zip(parts, damage.weights, strict=True)
    )
    return tracks, {"masks": masks, **opts}


def hpss_masks(magnitude: np.ndarray, *, power: float = 2.0, margin: float = 1.0) -> np.ndarray:
    """Harmonic and percussive soft masks ``(2, F, T)`` of a magnitude spectrogram."""
    import librosa

    harmonic, percussive = librosa.decompose.hpss(magnitude, mask=True, power=power, margin=margin)
    return np.stack([harmonic, percussive])


def nmf_masks(
    magnitude: np.ndarray, sources: int, *, power: float = 2.0, iterations: int = 200,
    seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Soft masks ``(sources, F, T)`` from an NMF ``|Y| ~ W H`` with one component per source.

    ``mask_i = (W_i H_i)^p / sum_j (W_j H_j)^p``; components sorted by their peak frequency.
    """
    import librosa
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    model = NMF(n_components=sources, init="nndsvda", max_iter=iterations, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a baseline: iterations are capped
        w, h = librosa.decompose.decompose(magnitude, transformer=model, sort=True)
    parts = np.stack([np.outer(w[:, i], h[i]) for i in range(sources)]) ** power
    return parts / (parts.sum(axis=0, keepdims=True) + EPS)
