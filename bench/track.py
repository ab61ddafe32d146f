"""The time a user waits: a stereo region restored end to end at real size (random weights).

    .venv/bin/python bench/track.py [--seconds 10] [--steps 200] [--tasks inpaint ...]
                                    [--again] [--nondeterministic] [--device cuda] [--shapes FILE]

Real-size random-weight AudioLDM2 (shapes from ``../shared/model-shapes``; no weights needed)
runs the product's long-form path (``restore_long`` with the diffusion solver: mid-side stereo,
16 kHz windows batched, the task's operator, the rate and band brought back) on a 44.1 kHz
stereo region for each task, and prints the wall time, the real-time factor (wall / audio) and
the peak memory above the model (the allocator's on CUDA, resident on the CPU). A random model
restores nothing: this measures time and memory, never quality. ``--again`` runs each task a
second time with the same seed and prints whether the output is bit for bit the same (the product
promises it: ``models.base.reproducible``); ``--nondeterministic`` turns CUDA's deterministic
kernels off again, to measure what they cost. On the CPU only a token run fits (``--seconds 1
--steps 1``, as ``make bench`` runs it); the figures that matter come from a GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make the project importable

from bench.solver import SHAPES, PeakMemory, now  # noqa: E402
from diffmusic_engine.damage import Dereverb, Gap, Inpaint, SuperResolution  # noqa: E402
from diffmusic_engine.diffusion.solver import solve  # noqa: E402
from diffmusic_engine.impulse_response import synthetic_rir  # noqa: E402
from diffmusic_engine.longform.pipeline import SolverSettings  # noqa: E402
from diffmusic_engine.longform.restore import restore_long  # noqa: E402
from diffmusic_engine.metrics import MAX_DB, snr  # noqa: E402
from diffmusic_engine.models.base import default_dtype  # noqa: E402
from diffmusic_engine.models.testing import real_size_audioldm2  # noqa: E402
from diffmusic_engine.synth import music_excerpt  # noqa: E402

RATE = 44100


def damages(seconds: float) -> dict:
    """One damage per task, placed in a region of ``seconds``."""
    middle = seconds / 2
    return {
        "inpaint 0.5 s": Inpaint(gaps=(Gap(middle - 0.25, middle + 0.25),)),
        "super-resolution 4 kHz": SuperResolution(cutoff=4000.0),
        "dereverb (room given)": Dereverb(rir=synthetic_rir(0.6, RATE)),
        "dereverb (blind)": Dereverb(rir=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="the region's length")
    parser.add_argument("--steps", type=int, default=200, help="DDIM steps (the solver's default)")
    parser.add_argument("--tasks", nargs="+", help="some of the tasks, by their first word")
    parser.add_argument("--again", action="store_true", help="each task twice: same output?")
    parser.add_argument(
        "--nondeterministic", action="store_true",
        help="CUDA's fastest kernels, as PyTorch's defaults leave them (not as the product runs)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu",
        help="cuda runs the UNet in fp16 as the product does (default: cuda if available)",
    )  # fmt: skip
    parser.add_argument("--shapes", type=Path, default=SHAPES)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    start = time.perf_counter()
    adapter = real_size_audioldm2(args.shapes, device=args.device, dtype=default_dtype(device))
    if args.nondeterministic:
        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)
    print(f"built real-size random AudioLDM2 on {args.device} in "
          f"{time.perf_counter() - start:.1f} s; region {args.seconds:g} s stereo "
          f"{RATE} Hz, {args.steps} steps, IRS with VMC")  # fmt: skip
    region = music_excerpt(duration=args.seconds, sample_rate=RATE, channels=2, seed=1)
    settings = SolverSettings(steps=args.steps)
    for name, damage in damages(args.seconds).items():
        if args.tasks and name.split()[0] not in args.tasks:
            continue
        memory = PeakMemory(device)
        with memory:
            began = now()
            result = restore_long(region, RATE, damage, adapter, solve=solve, settings=settings)
            wall = now() - began
        assert result.audio.shape == region.shape and np.isfinite(result.audio).all()
        print(f"  {name:24s} {wall:7.1f} s wall, real-time factor {wall / args.seconds:6.2f}, "
              f"{result.details.get('windows', '?')} window(s), peak "
              f"{memory.mib:7.0f} MiB above the model", flush=True)  # fmt: skip
        if args.again:
            again = restore_long(region, RATE, damage, adapter, solve=solve, settings=settings)
            print(f"  {'':24s} same seed again: {sameness(result.audio, again.audio)}")


def sameness(first: np.ndarray, second: np.ndarray) -> str:
    """'bit for bit the same', or the second output's SNR against the first."""
    if np.array_equal(first, second):
        return "bit for bit the same"
    apart = snr(first, second)
    return f"differs, SNR {'at least ' if apart >= MAX_DB else ''}{apart:.1f} dB against the first"


if __name__ == "__main__":
    main()
