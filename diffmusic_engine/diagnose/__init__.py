"""Diagnose a recording: what damage does it show? The start of a repair assistant.

:func:`diagnose` runs every detector of :data:`DETECTORS` on the audio and returns one JSON-ready
dict, keyed by detector name (the contract in docs/protocol.md, "diffmusic diagnose"). A detector
is a module of this package with ``detect(audio, sample_rate) -> JSON-ready value``; adding one
is adding its module and its name here. A module whose one scan answers several names also has
``detect_all(audio, sample_rate, lossy) -> {name: value}``, which :func:`diagnose` calls once for
them all (dropouts, pauses and gates: one rule, one scan, which had run twice; ``lossy``: the
input was lossy coded, :mod:`.coded`). The click finds at the gates' edges are then left out
(:func:`.clicks.off_gate_edges`: it needs the gates read, a lossy file's; declick itself leaves
out those cut to digital silence, :func:`.clicks.off_edges`).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from diffmusic_engine.audio_arrays import check_audio, given_audio
from diffmusic_engine.diagnose import scans
from diffmusic_engine.progress import ProgressCallback, report

# name -> the module ``diffmusic_engine.diagnose.<name>`` that detects it, in report order.
DETECTORS: tuple[str, ...] = (
    "reverb", "bandwidth", "dead_channels", "dropouts", "pauses", "cut_ends", "gates", "clicks",
    "clipping",
)  # fmt: skip


def diagnose(
    audio: np.ndarray,
    sample_rate: int,
    *,
    callback: ProgressCallback | None = None,
    lossy: bool = False,
) -> dict[str, Any]:
    """Every detector's finding for float32 ``(channels, samples)`` ``audio``; ``lossy``: it was
    decoded from a lossy codec (``AudioInfo.lossy``: dropouts are read as its dips too).

    Progress goes to ``callback`` before and after each detector (it may raise ``Cancelled``).
    """
    audio = given_audio(audio)
    check_audio(audio)
    findings: dict[str, Any] = {}
    report(callback, 0, len(DETECTORS), "diagnose")
    with scans.shared():  # the dropout rule read once (.scans)
        for i, name in enumerate(DETECTORS):
            if name not in findings:  # else answered by an earlier detector's scan
                module = importlib.import_module(f"{__name__}.{name}")
                detect_all = getattr(module, "detect_all", None)
                if detect_all is not None:
                    findings.update(detect_all(audio, sample_rate, lossy))
                else:
                    findings[name] = module.detect(audio, sample_rate)
            report(callback, i + 1, len(DETECTORS), f"diagnose {name}")
    # a gate's edges read as clicks through a codec's dips (declick's own finds leave out the
    # edges of a gate cut to digital silence: clicks.off_edges)
    if lossy and findings.get("clicks") and findings.get("gates"):
        from diffmusic_engine.diagnose.clicks import off_gate_edges

        clicks, gates = findings["clicks"], findings["gates"]
        findings["clicks"] = off_gate_edges(clicks, gates, audio, sample_rate)
    return {name: findings[name] for name in DETECTORS}
