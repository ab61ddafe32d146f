"""What "a dropout" should mean: false finds in quiet real music, and finds of real dropouts.

    python -m bench.dropout_rule AUDIO_DIR...

(e.g. ``../shared/audio diffmusic_engine/evaluation/data/real``, recordings of 5.5 s or more)

1. **False finds**: every recording played ``GAINS`` dB down (a quiet passage), stored in 24-bit
   and 16-bit (no dither) and 16-bit with TPDF dither, scanned by each candidate rule and by the
   engine's: how many recordings show a "dropout" and how many runs in all. Clean music has
   none, so every run is a false find.
2. **Finds**: dropouts of ``LENGTHS`` cut (digital silence) into each recording, then passed
   through what happens to files (16-bit and 24-bit with and without dither, TPDF or
   noise-shaped, soxr to 48 kHz, MP3 via pedalboard): the median and worst fraction of each
   dropout a rule covers, and how far past the dropout the engine's runs reach (ms, median /
   worst: music taken for the dropout). The engine's rule ("engine"): digital silence, or a
   quiet run with abrupt edges, widened (``DropoutScanner.widen``).
3. **Fills after MP3**: a 50 ms and a 300 ms dropout through MP3, filled by ``restore`` (the
   embedded default) over the runs found with and without the widening: 1 ms frames left 20 dB
   or more under the undamaged recording's MP3 (holes), and the log-mel distance to it (dB)
   over the dropout and 50 ms either side.

The candidate rules are the engine's scanner (:class:`DropoutScanner`) by level alone, with
another threshold or minimum length; the rule the engine keeps is ``diagnose.dropouts``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pedalboard
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import recordings_from_command_line  # noqa: E402
from diffmusic_engine.diagnose.dropouts import SILENCE_DB, DropoutScanner, find  # noqa: E402
from diffmusic_engine.evaluation.storage import fixed_point  # noqa: E402

THRESHOLDS_DB = (SILENCE_DB, -96.0, -90.0)
MIN_SECONDS = (0.0005, 0.002, 0.005)
GAINS = (0, -40, -50, -60, -70)
LENGTHS = (0.005, 0.05, 0.3, 1.0)  # cut at 0.8, 1.8, 3.0 and 4.2 s
STARTS = (0.8, 1.8, 3.0, 4.2)


def runs(audio: np.ndarray, rate: int, threshold_db: float | None, min_seconds: float) -> list:
    """Runs by level alone (``threshold_db``, no edge test, no widening), or, for ``None``, the
    engine's dropouts (:func:`diffmusic_engine.diagnose.dropouts.find`), in samples."""
    if threshold_db is None:
        return [(round(a * rate), round(b * rate)) for a, b in find(audio, rate)]
    length = int(np.ceil(min_seconds * rate))
    return DropoutScanner(length, silence=10 ** (threshold_db / 20)).scan(audio, 0)


def rule_name(threshold_db: float | None) -> str:
    return "engine" if threshold_db is None else f"{threshold_db:.1f} dBFS"


def false_finds(recordings: list[tuple[str, np.ndarray, int]]) -> None:
    print(f"false finds in clean music: recordings with any (of {len(recordings)}), runs in all")
    mins = "  ".join(f"min {m * 1000:g} ms" for m in MIN_SECONDS)
    print(f"gain dB  storage     {'rule':>12s}  {mins}   engine")
    for gain in GAINS:
        for bits, dither in ((24, None), (16, None), (16, "tpdf")):
            level = 10 ** (gain / 20)
            quiet = [(fixed_point(a * level, bits, dither), r) for _, a, r in recordings]
            engine = [len(runs(a, r, None, 0)) for a, r in quiet]
            for i, threshold in enumerate(THRESHOLDS_DB):
                cells = []
                for min_seconds in MIN_SECONDS:
                    found = [len(runs(a, r, threshold, min_seconds)) for a, r in quiet]
                    cells.append(f"{sum(map(bool, found)):3d} {sum(found):6d}")
                last = f"  {sum(map(bool, engine)):3d} {sum(engine):4d}" if i == 0 else ""
                storage = f"{bits}-bit {dither or ''}"
                print(f"{gain:7d}  {storage:10s}  {threshold:12.1f}  " + "  ".join(cells) + last)


PATHS = ("float", "16-bit", "16-bit TPDF", "24-bit TPDF", "16-bit shaped", "soxr 48 kHz",
         "MP3 V2")  # fmt: skip


def processed(audio: np.ndarray, rate: int) -> Iterator[tuple[str, np.ndarray, int]]:
    """The damaged recording as files meet it after the dropout happened (:data:`PATHS`)."""
    yield "float", audio, rate
    buffer = io.BytesIO()
    sf.write(buffer, audio.T, rate, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    yield "16-bit", sf.read(buffer, dtype="float32")[0].T, rate
    yield "16-bit TPDF", fixed_point(audio, 16, "tpdf", seed=1), rate
    yield "24-bit TPDF", fixed_point(audio, 24, "tpdf", seed=2), rate
    yield "16-bit shaped", fixed_point(audio, 16, "shaped", seed=3), rate
    yield "soxr 48 kHz", np.ascontiguousarray(soxr.resample(audio.T, rate, 48000).T), 48000
    yield "MP3 V2", pedalboard.MP3Compressor(vbr_quality=2)(audio, rate), rate


RULES = (*THRESHOLDS_DB, None)  # by level alone (dBFS), and the engine's


def finds(recordings: list[tuple[str, np.ndarray, int]], min_seconds: float, gain: float) -> None:
    coverage: dict[tuple[str, float | None, float], list[float]] = {}
    overreach: dict[tuple[str, float], list[float]] = {}
    for _, audio, rate in recordings:
        damaged, truth = audio * 10 ** (gain / 20), []
        for length, start in zip(LENGTHS, STARTS, strict=True):
            first = int(start * rate)
            damaged[:, first : first + int(length * rate)] = 0.0
            truth.append((start, first / rate + int(length * rate) / rate, length))
        for path, signal, path_rate in processed(damaged, rate):
            for rule in RULES:
                spans = [(a / path_rate, b / path_rate) for a, b in
                         runs(signal, path_rate, rule, min_seconds)]  # fmt: skip
                for start, end, length in truth:
                    near = [(a, b) for a, b in spans if b > start and a < end]
                    covered = sum(min(b, end) - max(a, start) for a, b in near)
                    coverage.setdefault((path, rule, length), []).append(covered / (end - start))
                    if rule is None and near:
                        past = max(0.0, start - near[0][0]) + max(0.0, near[-1][1] - end)
                        overreach.setdefault((path, length), []).append(1000 * past)
    print(f"\nfinds (min {min_seconds * 1000:g} ms, music at {gain:g} dB): fraction of each "
          "dropout covered, median / worst over recordings")  # fmt: skip
    print("path           rule         " + "  ".join(f"{x * 1000:9g} ms" for x in LENGTHS))
    for path in PATHS:
        for rule in RULES:
            cells = [coverage[(path, rule, x)] for x in LENGTHS]
            row = "  ".join(f"{np.median(c):.2f} / {np.min(c):.2f}" for c in cells)
            print(f"{path:13s}  {rule_name(rule):11s}  {row}")
    print("\nengine: ms taken past the dropout, median / worst over the dropouts found")
    for path in PATHS:
        cells = [overreach.get((path, x), [0.0]) for x in LENGTHS]
        print(f"{path:13s}  " + "  ".join(f"{np.median(c):5.1f} / {np.max(c):5.1f}" for c in cells))


def fills(recordings: list[tuple[str, np.ndarray, int]]) -> None:
    from diffmusic_engine.api import restore
    from diffmusic_engine.damage import Gap, Inpaint
    from diffmusic_engine.metrics import log_mel_distance

    holes: dict[bool, list[int]] = {False: [], True: []}
    distance: dict[bool, list[float]] = {False: [], True: []}
    for _, audio, rate in recordings:
        ms, coded = rate // 1000, pedalboard.MP3Compressor(vbr_quality=2)
        clean = coded(audio, rate)
        for length, start in ((0.05, STARTS[1]), (0.3, STARTS[2])):
            first, stop = int(start * rate), int(start * rate) + int(length * rate)
            damaged = audio.copy()
            damaged[:, first:stop] = 0.0
            signal = coded(damaged, rate)
            for edges in (False, True):  # digital silence alone / the engine's rule
                spans = runs(signal, rate, None if edges else SILENCE_DB, 0.002)
                gaps = tuple(Gap(a / rate, b / rate) for a, b in spans)
                out = restore(signal, rate, Inpaint(gaps=gaps)).audio
                n = (stop - first) // ms
                frames = slice(first, first + n * ms)
                power = [np.mean(x[:, frames].reshape(x.shape[0], n, ms) ** 2, axis=(0, 2))
                         for x in (out, clean)]  # fmt: skip
                holes[edges].append(int(np.sum(power[0] < 0.01 * power[1])))
                around = slice(first - 50 * ms, stop + 50 * ms)
                distance[edges].append(log_mel_distance(clean[:, around], out[:, around], rate))
    print("\nfills after MP3 V2 (50 and 300 ms dropouts) over the runs of digital silence alone "
          "and the engine's: holes in ms (total, worst), log-mel dB")  # fmt: skip
    for edges in (False, True):
        print(f"{'engine' if edges else 'silence':9s} holes {sum(holes[edges]):4d} "
              f"{max(holes[edges]):3d}  log-mel mean {np.mean(distance[edges]):.3f}")  # fmt: skip


def main() -> None:
    recordings = recordings_from_command_line(__doc__)
    if not recordings or min(a.shape[1] / r for _, a, r in recordings) < 5.5:
        sys.exit("error: give folders of recordings at least 5.5 s long (the cuts end at 5.2 s)")
    false_finds(recordings)
    finds(recordings, 0.002, 0.0)
    finds(recordings, 0.002, -40.0)
    fills(recordings)


if __name__ == "__main__":
    main()
