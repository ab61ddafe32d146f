"""Gates: trains of dips through a lossy codec, or of runs of digital silence, read as a stutter
gate's offs (:mod:`.coded`: GATE_COUNT or more, each within GATE_FRAMES of the one before; the
silent runs GATE_COUNT in a row evenly spaced and alike, :func:`.coded.ungated`), which
``restore --gap auto`` and a batch's ``gaps="auto"`` leave alone and say so (a burst of as many
dropouts reads the same); the one rule is :func:`diffmusic_engine.diagnose.dropouts.find_all`'s."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import dropouts


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s, "dips": [{"start": s, "end": s}, ...]}, ...]``, rounded to
    0.1 ms: the gates left alone, each from its first dip to its last; here of runs of digital
    silence alone, the audio not said to be lossy coded (:func:`diffmusic_engine.diagnose.diagnose`
    with ``lossy`` reads a codec's dips too, through :func:`.dropouts.detect_all`)."""
    return dropouts.detect_all(audio, sample_rate)["gates"]
