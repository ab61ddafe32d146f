"""``diffmusic diagnose``'s speed on a whole song: CPU seconds per stage, and the real-time factor.

The song: the recordings of ``/work/shared/audio`` (or ``$DIFFMUSIC_AUDIO``) and the real stems
shipped, one after another, as often as it takes to fill ``--minutes`` (else
``synth.music_excerpt``), stereo 44.1 kHz. One short diagnosis first pays the imports and
numba's caches (a first run after installing, without ``python -m diffmusic_engine.warmup``,
pays 13 s more), then the song's is timed: CPU time of this process per detector
(``OMP_NUM_THREADS=1`` makes it one core's), wall time beside it.

Goal: RTF (CPU seconds per second of audio) under 0.06: a 4-minute song in 15 s. On 219 s of
25 real mixes of many kinds (rock, jazz, piano, a waltz: docs/results.md "diagnose: the work read
once") the detectors had taken 19.9 s (RTF 0.091; clicks 14.5 s: declick's confirmation passes
refitted every block, and the dropout rule was read four times), 11.6 s after (0.053). The rock
recordings read here hold few click-like spans to confirm: 0.049 before, 0.044 after (2 min).

Usage: .venv/bin/python bench/diagnose.py [--minutes 4] [--quick] [--lossy]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffmusic_engine.audio import read_audio  # noqa: E402
from diffmusic_engine.diagnose import diagnose  # noqa: E402
from diffmusic_engine.evaluation.corpus import REAL_DIR  # noqa: E402
from diffmusic_engine.progress import Progress  # noqa: E402
from diffmusic_engine.synth import music_excerpt  # noqa: E402

RATE = 44100
AUDIO = Path(os.environ.get("DIFFMUSIC_AUDIO", "/work/shared/audio"))
GOAL_RTF = 0.06


def song(minutes: float) -> tuple[np.ndarray, str]:
    """``minutes`` of real recordings one after another (else synthesised music), and what."""
    paths = sorted(AUDIO.glob("*.flac")) if AUDIO.is_dir() else []
    mixes = [read_audio(path) for path in [*paths, *sorted(REAL_DIR.glob("*.flac"))]]
    mixes = [audio for audio, info in mixes if info.sample_rate == RATE and audio.shape[0] == 2]
    n = round(minutes * 60 * RATE)
    if not mixes:
        return np.tile(music_excerpt(60.0, RATE), -(-n // (60 * RATE)))[:, :n], "synthesised"
    joined = np.concatenate(mixes * (1 + n // sum(m.shape[1] for m in mixes)), axis=1)
    return joined[:, :n], f"{len(mixes)} real recordings ({AUDIO}, the stems shipped)"


def timed(audio: np.ndarray, lossy: bool) -> tuple[dict[str, float], float, float]:
    """CPU seconds per detector, and CPU and wall seconds in all, of one diagnosis."""
    marks: list[tuple[float, str]] = []

    def mark(progress: Progress) -> None:
        marks.append((time.process_time(), progress.stage.split()[-1]))

    started = time.perf_counter()
    diagnose(audio, RATE, callback=mark, lossy=lossy)
    wall = time.perf_counter() - started
    stages = {name: t - marks[i][0] for i, (t, name) in enumerate(marks[1:])}
    return stages, marks[-1][0] - marks[0][0], wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="two minutes")
    parser.add_argument("--lossy", action="store_true", help="read as decoded from a lossy codec")
    args = parser.parse_args()
    audio, what = song(2.0 if args.quick else args.minutes)
    seconds = audio.shape[1] / RATE
    timed(audio[:, : 2 * RATE], args.lossy)  # imports, numba's caches
    stages, cpu, wall = timed(audio, args.lossy)
    print(f"{seconds:.0f} s of {what}, lossy={args.lossy}")
    print("  ".join(f"{name} {t:.2f}" for name, t in stages.items()) + " (CPU s)")
    rtf = cpu / seconds
    print(f"diagnose: {cpu:.2f} s CPU, {wall:.2f} s wall; RTF {rtf:.3f} (goal < {GOAL_RTF}): "
          f"{'met' if rtf < GOAL_RTF else 'NOT MET'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
