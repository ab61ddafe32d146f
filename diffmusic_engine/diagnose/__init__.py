"""Diagnose a recording: what damage does it show? The start of a repair assistant.

:func:`diagnose` runs every detector of :data:`DETECTORS` on the audio and returns one JSON-ready
dict, keyed by detector name (the contract in docs/protocol.md, "diffmusic diagnose"). A detector
is a module of this package with ``detect(audio, sample_rate) -> JSON-ready value``; adding one
is adding its module and its name here.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from diffmusic_engine.audio import check_audio
from diffmusic_engine.progress import ProgressCallback, report

# name -> the module ``diffmusic_engine.diagnose.<name>`` that detects it, in report order.
DETECTORS: tuple[str, ...] = ("reverb", "bandwidth", "dropouts", "pauses", "clicks", "clipping")


def diagnose(
    audio: np.ndarray, sample_rate: int, *, callback: ProgressCallback | None = None
) -> dict[str, Any]:
    """Every detector's finding for float32 ``(channels, samples)`` ``audio``.

    Progress goes to ``callback`` before and after each detector (it may raise ``Cancelled``).
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    check_audio(audio)
    findings: dict[str, Any] = {}
    report(callback, 0, len(DETECTORS), "diagnose")
    for i, name in enumerate(DETECTORS):
        module = importlib.import_module(f"{__name__}.{name}")
        findings[name] = module.detect(audio, sample_rate)
        report(callback, i + 1, len(DETECTORS), f"diagnose {name}")
    return findings
