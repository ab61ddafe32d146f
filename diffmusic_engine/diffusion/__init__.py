"""The diffusion backend (``backend="diffusion"``): DiffMusic on a pretrained latent music model.

``restore_diffusion`` checks the options (:mod:`.options`), loads the model once per process and
device (the daemon restores many jobs with one loaded model), and hands the track to
:mod:`diffmusic_engine.longform`, which runs :func:`diffmusic_engine.diffusion.solver.solve` over
16 kHz windows and brings the result back to the track's rate, length and channels.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.backends import UNCHANGED, Restoration
from diffmusic_engine.damage import KEEPS_SILENCE, Damage, SuperResolution
from diffmusic_engine.diffusion.options import model_key
from diffmusic_engine.options import check_options
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.silence import keep_silence, silent_samples

# The process's loaded adapters by (model key, device): what get_model returns. A daemon's
# workers put a memory budget over it (bridge.daemon.models.ModelCache loads through get_model
# and unloads through forget_model); in-process use keeps what it loads.
_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def restore_diffusion(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> Restoration:
    """Restore ``audio`` with the diffusion prior named by ``options["model"]``.

    ``options`` are resolved (see :mod:`diffmusic_engine.options`); their table, with each
    option's meaning and range, is :data:`diffmusic_engine.diffusion.options.OPTIONS`.
    """
    from diffmusic_engine.longform.restore import restore_long

    options = check_options("diffusion", damage, options)  # what it cannot restore too
    settings = settings_from_options(options)
    report(callback, 0, 1, "loading model")
    adapter = get_model(options["model"], options.get("device"))
    from diffmusic_engine.diffusion.solver import solve

    result = restore_long(
        audio, sample_rate, damage, adapter, solve=solve, settings=settings, callback=callback
    )
    if isinstance(damage, KEEPS_SILENCE):  # dropouts stay dropouts (silence.py)
        silent = silent_samples(audio, sample_rate)
        if silent.any():
            kept = keep_silence(audio, np.array(result.tracks[0], copy=True), silent)
            result = replace(result, tracks=(kept,))
    if result.unchanged is None and all(np.array_equal(t, audio) for t in result.tracks):
        why = _why_unchanged(damage, result)
        result = replace(result, details={**result.details, UNCHANGED: why})
    return result


def _why_unchanged(damage: Damage, result: Restoration) -> str:
    """Why the diffusion backend gave the input back, never silently (a limit above the
    model's band had come back bit-identical without a word: the model never ran)."""
    details = result.details
    if isinstance(damage, SuperResolution) and details.get("windows") == 0:
        return (
            f"the band limit at {details['cutoff']:.0f} Hz lies above the model's band, and the "
            "dsp extension, which rebuilds the band above it, changed nothing: nothing changed "
            "(the dsp backend says why: --backend dsp)"
        )
    return "the restoration equals the input: nothing changed"


def settings_from_options(options: Mapping[str, Any]) -> Any:
    """The :class:`~diffmusic_engine.longform.pipeline.SolverSettings` of checked ``options``."""
    from diffmusic_engine.longform.pipeline import SolverSettings

    names = {f.name for f in fields(SolverSettings)}
    settings = {k: v for k, v in options.items() if k in names}
    return SolverSettings(**{**settings, "prompt": options.get("prompt") or None})


def get_model(model: str | Path, device: str | None = None) -> Any:
    """The loaded adapter for ``model`` on ``device``, loaded once per process (thread-safe)."""
    from diffmusic_engine.models import load_model
    from diffmusic_engine.models.base import default_device

    device = device or default_device()
    key = (model_key(str(model)), device)
    with _models_lock:
        if key not in _models:
            _models[key] = load_model(key[0], device=device)
        return _models[key]


def forget_model(model: str | Path, device: str | None) -> None:
    """Drop ``model`` on ``device`` (as :func:`get_model` named them) from this process's
    models; a job still using it keeps its own reference until it ends."""
    from diffmusic_engine.models.base import default_device

    device = device or default_device()
    with _models_lock:
        _models.pop((model_key(str(model)), device), None)


def clear_models() -> None:
    """Forget every loaded model (frees their memory once no job holds them)."""
    with _models_lock:
        _models.clear()
