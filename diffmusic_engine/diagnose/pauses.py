"""Pauses: runs of digital silence between songs (the music fades into them, or a decay is
gated to them), which ``restore --gap auto`` and a batch's ``gaps="auto"`` leave alone; the one
rule is :mod:`diffmusic_engine.diagnose.dropouts`'."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import dropouts


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]``, rounded to 0.1 ms: the silent runs left alone."""
    return dropouts.detect_all(audio, sample_rate)["pauses"]
