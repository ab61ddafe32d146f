"""Imported once by the dsp jobs' forkserver (:mod:`bridge.daemon.dsp_process`): warms it up.

Importing this module imports every dsp task module and Griffin-Lim's (torch, about 1 s: phase
retrieval imports it only when it runs), and runs librosa's STFT and inverse STFT once (on
first use they import numba and compile kernels: 12 s measured on a loaded 2-core machine).
Every job is forked from the warmed server, so none pays that again. No torch operation runs here:
torch's thread pools must not exist in a process that forks.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

DAEMON = os.getppid()  # the daemon that started this server


def exit_if_orphaned() -> None:
    """Stop warming up once the daemon is gone (even by ``kill -9``): a killed daemon's server
    must not keep the CPU from its successor. (After the warm-up, the forkserver itself exits
    when it sees the daemon gone.)"""
    if os.getppid() != DAEMON:
        os._exit(0)


def warm_up() -> None:
    from diffmusic_engine.dsp.options import import_task_modules

    import_task_modules(before_each=exit_if_orphaned)
    exit_if_orphaned()
    importlib.import_module("diffmusic_engine.dsp.griffin_lim")  # phase retrieval's, when it runs
    exit_if_orphaned()
    import librosa

    exit_if_orphaned()
    x = np.zeros(4096)
    librosa.istft(librosa.stft(x, n_fft=2048, hop_length=512), n_fft=2048, hop_length=512)


warm_up()
