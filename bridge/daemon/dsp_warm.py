"""Imported once by the dsp jobs' forkserver (:mod:`bridge.daemon.dsp_process`): warms it up.

Importing this module imports every dsp task module and runs librosa's STFT and inverse STFT once
(on first use they compile numba kernels: 15 s measured on a loaded 2-core machine). Every job is
forked from the warmed server, so none pays that again. No torch operation runs here: torch's
thread pools must not exist in a process that forks.
"""

from __future__ import annotations

import importlib
import logging

import numpy as np

from diffmusic_engine.damage import TASKS

log = logging.getLogger(__name__)


def warm_up() -> None:
    for task in TASKS:
        try:
            importlib.import_module(f"diffmusic_engine.dsp.{task.replace('-', '_')}")
        except ImportError as exc:
            log.warning("dsp %s unavailable: %s", task, exc)
    import librosa

    x = np.zeros(4096)
    librosa.istft(librosa.stft(x, n_fft=2048, hop_length=512), n_fft=2048, hop_length=512)


warm_up()
