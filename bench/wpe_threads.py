"""Blind dsp dereverb's time with WPE's BLAS held to one thread, against BLAS's own threads.

    .venv/bin/python bench/wpe_threads.py [--runs 3] [--busy 0 1 2]

A shipped clip (6 s of stereo, ``diffmusic_engine/evaluation/data/real``) in a 1.5 s synthetic
room goes through ``restore`` with the blind ``Dereverb`` (room estimate, WPE, late mask), first
as shipped (``dereverb.WPE_BLAS_THREADS``, 1), then with BLAS's default threads, alternating,
``--runs`` times each, while ``--busy`` processes spin on other work (the DAW, a second job).
Target: held to one thread, at most as long as with BLAS's threads when the machine is idle, and
at most half as long when every core is busy. Measured on 2 cores (``--busy 0 1 2``): 1.0 s
against 1.2 s idle, 1.2 against 3.6 s with one core busy, 2.3 against 7.0 s with both.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make the project importable

CLIP = REPO / "diffmusic_engine/evaluation/data/real/chaos_god_backing.flac"


def spin(stop: multiprocessing.Event) -> None:
    """Busy work that uses no BLAS: a core taken, as by another program."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def timed_restore(wet: np.ndarray, rate: int, threads: int | None) -> float:
    from diffmusic_engine.api import restore
    from diffmusic_engine.damage import Dereverb
    from diffmusic_engine.dsp import dereverb

    dereverb.WPE_BLAS_THREADS = threads  # None: no limit, BLAS's own threads
    started = time.perf_counter()
    result = restore(wet, rate, Dereverb())
    assert result.details["method"] == "wpe", result.details  # it dereverberated
    return time.perf_counter() - started


def main() -> None:
    from threadpoolctl import threadpool_info

    from diffmusic_engine.audio import read_audio
    from diffmusic_engine.dsp import dereverb
    from diffmusic_engine.evaluation.rooms import reverberate
    from diffmusic_engine.impulse_response import synthetic_rir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2], help="spinning processes")
    args = parser.parse_args()
    audio, info = read_audio(CLIP)
    rate = info.sample_rate
    wet = reverberate(audio, synthetic_rir(1.5, rate, seed=3)[None])
    shipped = dereverb.WPE_BLAS_THREADS
    default = max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
    timed_restore(wet, rate, shipped)  # imports and caches warm
    for busy in args.busy:
        stop = multiprocessing.Event()
        spinners = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(busy)]
        for process in spinners:
            process.start()
        times: dict[int | None, list[float]] = {shipped: [], None: []}
        for _ in range(args.runs):
            for threads in times:
                times[threads].append(timed_restore(wet, rate, threads))
        stop.set()
        for process in spinners:
            process.join()
        one, free = np.median(times[shipped]), np.median(times[None])
        print(f"{busy} busy: WPE's BLAS at {shipped} thread {one:.1f} s, at BLAS's {default} "
              f"{free:.1f} s (median of {args.runs}; ratio {one / free:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
