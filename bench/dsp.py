"""Real-time factor of the dsp backend, per task, on synthesised stereo 44.1 kHz music.

RTF = processing time / audio duration (below 1: faster than real time). For each task the
damaged input is made from the same excerpt (``synth.music_excerpt``) with ``degrade``, then
``restore(..., backend="dsp")`` is timed: wall clock and CPU time of this process (all threads;
CPU > wall means several cores, wall >> CPU a busy machine).

Usage: .venv/bin/python bench/dsp.py [--seconds 60] [--quick] [--tasks inpaint,separate-2,...]
                                    [--torch-threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffmusic_engine.api import degrade, restore  # noqa: E402
from diffmusic_engine.audio import write_audio  # noqa: E402
from diffmusic_engine.damage import (  # noqa: E402
    Damage,
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.impulse_response import synthetic_rir  # noqa: E402
from diffmusic_engine.synth import music_excerpt, music_stems  # noqa: E402

RATE = 44100


def cases(seconds: float, folder: Path) -> dict[str, tuple[str, Callable[[], tuple]]]:
    """name -> (what is measured, a function building (damaged audio, damage, options))."""

    def inpaint() -> tuple:
        # one 20 ms dropout every 2 s
        gaps = tuple(Gap(t + 0.9, t + 0.92) for t in np.arange(0, seconds - 0.95, 2.0))
        damage = Inpaint(gaps)
        return degrade(music_excerpt(seconds, RATE), RATE, damage), damage, {}

    def super_resolution() -> tuple:
        damage = SuperResolution(8000.0)
        return degrade(music_excerpt(seconds, RATE), RATE, damage), damage, {}

    def phase_retrieval() -> tuple:
        damage = PhaseRetrieval(1024, 256)
        return degrade(music_excerpt(seconds, RATE), RATE, damage), damage, {"iterations": 100}

    def dereverb(blind: bool) -> Callable[[], tuple]:
        def build() -> tuple:
            ir = synthetic_rir(0.6, RATE, seed=0)
            path = folder / "rir.wav"
            write_audio(path, ir[None], RATE)
            damaged = degrade(music_excerpt(seconds, RATE), RATE, Dereverb(rir=path))
            return damaged, Dereverb() if blind else Dereverb(rir=path), {}

        return build

    def separate(sources: int) -> Callable[[], tuple]:
        def build() -> tuple:
            stems = list(music_stems(seconds, RATE).values())
            groups = np.array_split(np.arange(len(stems)), sources)
            clean = np.stack([sum(stems[i] for i in group) for group in groups])
            damage = Separate(sources)
            masks = "harmonic-percussive" if sources == 2 else "nmf"  # declined unless named
            return degrade(clean, RATE, damage), damage, {"masks": masks}

        return build

    return {
        "inpaint": (f"{int(seconds // 2)} gaps of 20 ms, AR order 512", inpaint),
        "super-resolution": ("cutoff 8 kHz, SBR", super_resolution),
        "phase-retrieval": ("fast Griffin-Lim, 100 iterations", phase_retrieval),
        "dereverb-known": ("Wiener deconvolution, RT60 0.6 s", dereverb(blind=False)),
        "dereverb-blind": (
            "room estimate, bounded WPE, late mask, RT60 0.6 s",
            dereverb(blind=True),
        ),
        "separate-2": ("HPSS soft masks", separate(2)),
        "separate-3": ("NMF soft masks", separate(3)),
    }


def time_one(audio: np.ndarray, damage: Damage, options: dict) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    restore(audio, RATE, damage, backend="dsp", options=options)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="excerpt length (default 60)")
    parser.add_argument("--quick", action="store_true", help="20 s excerpts (for make bench)")
    parser.add_argument("--tasks", help="comma-separated subset of the tasks")
    parser.add_argument(
        "--torch-threads", type=int, help="torch intra-op threads (phase retrieval's STFTs)"
    )
    args = parser.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    seconds = 20.0 if args.quick and args.seconds == 60.0 else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        table = cases(seconds, Path(tmp))
        names = args.tasks.split(",") if args.tasks else list(table)
        unknown = sorted(set(names) - set(table))
        if unknown:
            parser.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(table)}")
        # Warm-up on 1 s (numba/librosa caches, torch kernels) so the first row is not penalised.
        warm = cases(1.0, Path(tmp))
        for name in names:
            audio, damage, options = warm[name][1]()
            time_one(audio, damage, options)
        import torch

        print(f"dsp backend on {seconds:g} s of stereo {RATE} Hz music (synth.music_excerpt), "
              f"torch threads {torch.get_num_threads()}")  # fmt: skip
        print(f"{'task':<18}{'wall (s)':>10}{'CPU (s)':>10}{'RTF':>8}  method")
        for name in names:
            description, build = table[name]
            audio, damage, options = build()
            wall, cpu = time_one(audio, damage, options)
            print(f"{name:<18}{wall:>10.2f}{cpu:>10.2f}{wall / seconds:>8.3f}  {description}",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
