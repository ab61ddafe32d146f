"""Do no harm on real music: dsp separation and bandwidth extension on songs with known stems.

For every song (the excerpts the package ships, and ``*_mix/_backing/_guitar.flac`` triples in the
folders given, e.g. ``../shared/audio``):
- separation, 2 sources: mean SI-SDR over the two stems of the dsp harmonic/percussive split
  (named: plain dsp separation declines) and of "the mixture as every source";
- bandwidth extension from 8 kHz: whole-clip LSD of the restored and of the low-passed input, their
  ratio, and the SNR below 7 kHz of the restored against the low-passed input (the band kept).

Usage: .venv/bin/python bench/real_music.py [FOLDER...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffmusic_engine.api import degrade, restore  # noqa: E402
from diffmusic_engine.audio import read_audio  # noqa: E402
from diffmusic_engine.damage import Separate, SuperResolution  # noqa: E402
from diffmusic_engine.evaluation.corpus import REAL_SONGS, real_stems  # noqa: E402
from diffmusic_engine.metrics import lsd, si_sdr, snr  # noqa: E402

CUTOFF = 8000.0  # Hz: the bandwidth-extension case
KEPT_BELOW = 7000.0  # Hz: where the input must come back unchanged


def songs(folders: list[Path]) -> list[tuple[str, list[np.ndarray], int]]:
    """``(name, [backing, guitar], rate)`` for the shipped songs and the folders' triples."""
    found = [(f"shipped/{s}", list(real_stems(s, 60.0).values()), 44100) for s in REAL_SONGS]
    for folder in folders:
        for mix in sorted(folder.glob("*_mix.flac")):
            stems = [read_audio(str(mix).replace("_mix", f"_{k}")) for k in ("backing", "guitar")]
            found.append(
                (f"{folder.name}/{mix.stem[:-4]}", [a for a, _ in stems], stems[0][1].sample_rate)
            )
    return found


def below(audio: np.ndarray, rate: int) -> np.ndarray:
    keep = np.fft.rfftfreq(audio.shape[-1], 1 / rate) < KEPT_BELOW
    return np.fft.irfft(np.fft.rfft(audio) * keep, n=audio.shape[-1])


def main(folders: list[Path]) -> None:
    print(f"{'song':32s} {'hpss':>7s} {'mixture':>7s} {'gain':>6s} | "
          f"{'LSD lp':>6s} {'LSD out':>7s} {'ratio':>5s} {'SNR<7k':>6s}")  # fmt: skip
    for name, stems, rate in songs(folders):
        mix = np.sum(stems, axis=0)
        split = restore(mix, rate, Separate(2), options={"masks": "harmonic-percussive"}).tracks
        hpss = np.mean([si_sdr(s, x) for s, x in zip(stems, split, strict=True)])
        mixture = np.mean([si_sdr(s, mix) for s in stems])
        low = degrade(mix, rate, SuperResolution(CUTOFF))
        out = restore(low, rate, SuperResolution(CUTOFF)).tracks[0]
        before, after = lsd(mix, low, rate), lsd(mix, out, rate)
        kept = snr(below(low, rate), below(out, rate))
        print(f"{name:32s} {hpss:7.2f} {mixture:7.2f} {hpss - mixture:6.2f} | "
              f"{before:6.3f} {after:7.3f} {after / before:5.3f} {kept:6.1f}")  # fmt: skip


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
