"""What "a dropout" should mean: false finds in quiet real music, and finds of real dropouts.

    python -m bench.dropout_rule AUDIO_DIR...

(e.g. ``../shared/audio diffmusic_engine/evaluation/data/real``, recordings of 5.5 s or more)

1. **False finds**: every recording played ``GAINS`` dB down (a quiet passage), stored in 24-bit
   and 16-bit (no dither), scanned by each candidate rule: how many recordings show a "dropout"
   and how many runs in all. Clean music has none, so every run is a false find.
2. **Finds**: dropouts of ``LENGTHS`` cut (digital silence) into each recording, then passed
   through what happens to files (16-bit with and without TPDF dither, soxr to 48 kHz, MP3 via
   pedalboard): the median and worst fraction of each dropout the rule covers.

The candidate rules are the engine's scanner (:class:`DropoutScanner`) with another threshold
or minimum length; the rule the engine keeps is ``diagnose.dropouts`` (digital silence, 2 ms).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pedalboard
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffmusic_engine.diagnose.dropouts import SILENCE_DB, DropoutScanner  # noqa: E402

THRESHOLDS_DB = (SILENCE_DB, -96.0, -90.0)
MIN_SECONDS = (0.0005, 0.002, 0.005)
GAINS = (0, -40, -50, -60)
LENGTHS = (0.005, 0.05, 0.3, 1.0)  # cut at 0.8, 1.8, 3.0 and 4.2 s
STARTS = (0.8, 1.8, 3.0, 4.2)


def runs(audio: np.ndarray, rate: int, threshold_db: float, min_seconds: float) -> list:
    scanner = DropoutScanner.at_rate(
        rate, min_seconds=min_seconds, silence=10 ** (threshold_db / 20)
    )
    return scanner.scan(audio, 0)


def stored(audio: np.ndarray, bits: int) -> np.ndarray:
    step = 2.0 ** (bits - 1)
    return (np.round(audio * step) / step).astype(np.float32)


def false_finds(recordings: list[tuple[str, np.ndarray, int]]) -> None:
    print(f"false finds in clean music: recordings with any (of {len(recordings)}), runs in all")
    print(
        "gain dB  bits  threshold dBFS  " + "  ".join(f"min {m * 1000:g} ms" for m in MIN_SECONDS)
    )
    for gain in GAINS:
        for bits in (24, 16):
            quiet = [(stored(a * 10 ** (gain / 20), bits), r) for _, a, r in recordings]
            for threshold in THRESHOLDS_DB:
                cells = []
                for min_seconds in MIN_SECONDS:
                    found = [len(runs(a, r, threshold, min_seconds)) for a, r in quiet]
                    cells.append(f"{sum(map(bool, found)):3d} {sum(found):6d}")
                print(f"{gain:7d}  {bits:4d}  {threshold:14.1f}  " + "  ".join(cells))


def processed(audio: np.ndarray, rate: int) -> Iterator[tuple[str, np.ndarray, int]]:
    """The damaged recording as files meet it after the dropout happened."""
    yield "float", audio, rate
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, rate, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    yield "16-bit", sf.read(buffer, dtype="float32")[0].T, rate
    rng = np.random.default_rng(1)
    dither = (rng.random(audio.shape) - rng.random(audio.shape)) / 2**15  # TPDF, +-1 LSB
    yield "16-bit TPDF", stored(audio + dither, 16), rate
    yield "soxr 48 kHz", np.ascontiguousarray(soxr.resample(audio.T, rate, 48000).T), 48000
    yield "MP3 V2", pedalboard.MP3Compressor(vbr_quality=2)(audio, rate), rate


def finds(recordings: list[tuple[str, np.ndarray, int]], min_seconds: float) -> None:
    coverage: dict[tuple[str, float, float], list[float]] = {}
    for _, audio, rate in recordings:
        damaged, truth = audio.copy(), []
        for length, start in zip(LENGTHS, STARTS, strict=True):
            first = int(start * rate)
            damaged[:, first : first + int(length * rate)] = 0.0
            truth.append((start, first / rate + int(length * rate) / rate, length))
        for path, signal, path_rate in processed(damaged, rate):
            for threshold in THRESHOLDS_DB:
                spans = [(a / path_rate, b / path_rate) for a, b in
                         runs(signal, path_rate, threshold, min_seconds)]  # fmt: skip
                for start, end, length in truth:
                    covered = sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)
                    coverage.setdefault((path, threshold, length), []).append(
                        covered / (end - start)
                    )
    print(f"\nfinds (min {min_seconds * 1000:g} ms): fraction of each dropout covered, "
          "median / worst over recordings")  # fmt: skip
    print("path          threshold  " + "  ".join(f"{x * 1000:9g} ms" for x in LENGTHS))
    for path in ("float", "16-bit", "16-bit TPDF", "soxr 48 kHz", "MP3 V2"):
        for threshold in THRESHOLDS_DB:
            cells = [coverage[(path, threshold, x)] for x in LENGTHS]
            row = "  ".join(f"{np.median(c):.2f} / {np.min(c):.2f}" for c in cells)
            print(f"{path:12s} {threshold:10.1f}  {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of .flac/.wav recordings")
    args = parser.parse_args()
    recordings = []
    for folder in args.dirs:
        for path in sorted([*folder.glob("*.flac"), *folder.glob("*.wav")]):
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            recordings.append((path.name, np.ascontiguousarray(audio.T), rate))
    if not recordings or min(a.shape[1] / r for _, a, r in recordings) < 5.5:
        sys.exit("error: give folders of recordings at least 5.5 s long (the cuts end at 5.2 s)")
    false_finds(recordings)
    finds(recordings, 0.002)


if __name__ == "__main__":
    main()
