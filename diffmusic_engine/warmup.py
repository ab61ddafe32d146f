"""Every dsp path once on half a second of noise: ``python -m diffmusic_engine.warmup``.

A fresh install pays, on the first run of each path, for compiling Python bytecode and the numba
kernels librosa caches on disk (measured: the first restore of a path 25-28 s, later 2-5 s). The
Makefile runs this once after installing, so a user's first command does not pay it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def warm_up_cases() -> list[tuple[Any, dict[str, Any]]]:
    """One short job of every dsp task, with its options (a test holds it to damage.TASKS)."""
    from diffmusic_engine.damage import (
        Declick,
        Declip,
        Dereverb,
        Gap,
        Inpaint,
        PhaseRetrieval,
        Separate,
        SuperResolution,
    )

    return [
        (Inpaint((Gap(0.2, 0.21),)), {}),
        (SuperResolution(4000.0), {}),
        (PhaseRetrieval(), {"iterations": 2}),
        (Dereverb(), {}),
        (Separate(2), {"masks": "harmonic-percussive"}),
        (Declick(), {}),
        (Declip(level=0.25), {}),  # the noise's peaks over 2.5 sigma
    ]


def warm_up() -> float:
    """Seconds spent restoring one short noise clip with every dsp task."""
    from diffmusic_engine.api import restore
    from diffmusic_engine.metrics import lsd

    rate = 22050
    audio = (0.1 * np.random.default_rng(0).standard_normal((2, rate // 2))).astype(np.float32)
    started = time.perf_counter()
    for damage, options in warm_up_cases():
        restore(audio, rate, damage, options=options)
    lsd(audio, audio, rate)
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"warmed up every dsp path in {warm_up():.1f} s (bytecode and numba caches written)")
