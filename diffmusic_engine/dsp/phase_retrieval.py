"""Phase retrieval: the dsp method's options, and the call to fast Griffin-Lim
(:mod:`.griffin_lim`, on the operators' torch STFT), which loads torch only when it runs: the
CLI reads ``OPTIONS`` without it."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.damage import PhaseRetrieval
from diffmusic_engine.dsp.options import Option, parse_options
from diffmusic_engine.progress import ProgressCallback

OPTIONS = {
    "iterations": Option(default=100, low=0, high=10000, integer=True),
    "momentum": Option(default=0.99, low=0.0, high=1.5),  # alpha
}


def restore_phase_retrieval(
    audio: np.ndarray,
    sample_rate: int,
    damage: PhaseRetrieval,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A signal whose STFT magnitude matches the input's, for every channel."""
    opts = parse_options("phase-retrieval", options, OPTIONS)
    from diffmusic_engine.dsp.griffin_lim import retrieve_phase

    out = retrieve_phase(audio, damage.n_fft, damage.hop, iterations=opts["iterations"],
                         momentum=opts["momentum"], callback=callback)  # fmt: skip
    return out, {"n_fft": damage.n_fft, "hop": damage.hop, **opts}
