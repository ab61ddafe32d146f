"""The diffusion backend (``backend="diffusion"``): DiffMusic on a pretrained latent music model.

``restore_diffusion`` checks the options, loads the model once per process and device (the
daemon restores many jobs with one loaded model), and hands the track to
:mod:`diffmusic_engine.longform`, which runs :func:`diffmusic_engine.diffusion.solver.solve` over
16 kHz windows and brings the result back to the track's rate, length and channels.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.api import BACKENDS, Restoration
from diffmusic_engine.damage import Damage
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback, report

SAMPLERS = ("irs", "dps", "dsg")
OPTIONS = (
    "model", "sampler", "vmc", "steps", "gamma", "seed", "prompt", "device", "eta", "stereo",
    "batch_size", "guidance_dtype",
)  # fmt: skip
DEFAULT_BATCH_SIZE = 8

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

    Options: ``model`` (hub id or local folder, required), ``sampler`` (irs|dps|dsg, default
    irs), ``vmc`` (default True), ``steps``, ``gamma``, ``eta`` (default: the solver's),
    ``seed`` (0), ``prompt`` (none), ``device`` (cuda if available, else cpu), ``stereo``
    (mid-side|per-channel), ``batch_size`` (windows per solver call, default 8),
    ``guidance_dtype`` (float32|bfloat16: D and V's precision while they carry the guidance
    gradient, see ``guidance.resolve_guidance_dtype``). Options of
    other backends (a preset's ``[options.dsp]`` table) are ignored; ``[options.diffusion]``
    is read under the top-level ones.
    """
    from diffmusic_engine.longform import restore_long
    from diffmusic_engine.longform.pipeline import check_supported

    options = backend_options(options)
    settings = settings_from_options(options)
    check_supported(damage)  # before the model is loaded
    report(callback, 0, 1, "loading model")
    adapter = get_model(options["model"], options.get("device"))
    from diffmusic_engine.diffusion.solver import solve

    return restore_long(
        audio, sample_rate, damage, adapter, solve=solve, settings=settings, callback=callback
    )


def backend_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """This backend's options: ``options["diffusion"]`` overlaid by the top-level ones.

    Raises :class:`DamageError` for an option no backend knows, and when ``model`` is missing.
    """
    merged = dict(options.get("diffusion") or {})
    merged.update({k: v for k, v in options.items() if k not in BACKENDS})
    unknown = sorted(set(merged) - set(OPTIONS))
    if unknown:
        raise DamageError(
            f"diffusion: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}"
        )
    if not merged.get("model"):
        raise DamageError(
            "diffusion: no model given; pass --model ID_OR_PATH (e.g. cvssp/audioldm2-music, "
            "ucsd-reach/musicldm, or a local diffusers folder)"
        )
    if not isinstance(merged["model"], str | Path):
        raise DamageError(f"diffusion: model {merged['model']!r} must be a hub id or a folder")
    device = merged.get("device")
    if device is not None and not (
        isinstance(device, str) and re.fullmatch(r"cpu|cuda(:\d+)?|mps", device)
    ):
        raise DamageError(f"diffusion: device {device!r}: expected cpu, cuda, cuda:N or mps")
    return merged


def settings_from_options(options: Mapping[str, Any]) -> Any:
    """The checked :class:`~diffmusic_engine.longform.SolverSettings` of ``options``."""
    from diffmusic_engine.diffusion.guidance import check_guidance_dtype
    from diffmusic_engine.longform import SolverSettings
    from diffmusic_engine.longform.stereo import check_stereo_mode

    sampler = options.get("sampler", "irs")
    if sampler not in SAMPLERS:
        raise DamageError(f"diffusion: sampler {sampler!r}: expected one of {', '.join(SAMPLERS)}")
    stereo = check_stereo_mode(options.get("stereo", "mid-side"))
    vmc = options.get("vmc", True)
    if not isinstance(vmc, bool):
        raise DamageError(f"diffusion: vmc {vmc!r}: expected true or false")
    prompt = options.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise DamageError(f"diffusion: prompt {prompt!r}: expected text")
    precision = options.get("guidance_dtype", "float32")
    check_guidance_dtype(precision)
    return SolverSettings(
        sampler=sampler,
        vmc=vmc,
        steps=_number(options, "steps", integer=True, low=1),
        gamma=_number(options, "gamma", low=0.0, strict=True),
        eta=_number(options, "eta", low=0.0),
        seed=_number(options, "seed", integer=True, low=0) or 0,
        prompt=prompt or None,
        stereo=stereo,
        batch_size=_number(options, "batch_size", integer=True, low=1) or DEFAULT_BATCH_SIZE,
        guidance_dtype=precision,
    )


def _number(
    options: Mapping[str, Any],
    name: str,
    *,
    integer: bool = False,
    low: float,
    strict: bool = False,
) -> Any:
    """``options[name]`` checked to be a finite number >= ``low`` (> if ``strict``), or None."""
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DamageError(f"diffusion: {name} {value!r}: expected a number")
    if integer and float(value) != int(value):
        raise DamageError(f"diffusion: {name} {value!r}: expected a whole number")
    if value < low or (strict and value == low):
        relation = ">" if strict else ">="
        raise DamageError(f"diffusion: {name} {value!r}: must be {relation} {low:g}")
    return int(value) if integer else float(value)


def get_model(model: str | Path, device: str | None = None) -> Any:
    """The loaded adapter for ``model`` on ``device``, loaded once per process (thread-safe)."""
    import torch

    from diffmusic_engine.models import load_model

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = Path(model).expanduser()
    key = (str(path.resolve()) if path.exists() else str(model), device)
    with _models_lock:
        if key not in _models:
            _models[key] = load_model(key[0], device=device)
        return _models[key]


def clear_models() -> None:
    """Forget every loaded model (frees their memory once no job holds them)."""
    with _models_lock:
        _models.clear()
