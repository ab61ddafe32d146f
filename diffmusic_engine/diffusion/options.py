"""The diffusion backend's options, one table for every task (read without importing torch).

``model`` is required; ``None`` defaults leave the choice to the solver (``steps``, ``gamma``,
``eta``), to the machine (``device``: cuda if available) or to nobody (``prompt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffmusic_engine.errors import DamageError, UnsupportedDamage
from diffmusic_engine.options import Option

if TYPE_CHECKING:
    from diffmusic_engine.damage import Damage

SAMPLERS = ("irs", "dps", "dsg")
STEREO_MODES = ("mid-side", "per-channel")  # see longform.stereo
GUIDANCE_DTYPES = ("float32", "bfloat16")  # see guidance.resolve_guidance_dtype
INITS = ("noise", "pattern")  # see longform.restore._pattern_inits and samplers.sdedit
DEFAULT_BATCH_SIZE = 8
DEFAULT_ROOM_STEPS = 3  # K of operators.blind_dereverb
DEFAULT_INIT_STRENGTH = 0.5  # with init=pattern and no init_strength given
# At most one DDIM step per training timestep: every supported model trains on 1000 (the
# schedule checks the loaded model's own count too, samplers.schedule)
MAX_STEPS = 1000
DSG_DEFAULT_ETA = 1.0  # DSG's sphere has radius sqrt(n) sigma_t: 0 without noise (samplers.dsg)
DSG_NEEDS_NOISE = (
    "the dsg sampler needs eta > 0 (its sphere has radius sqrt(n) sigma_t, 0 without noise): "
    f"leave eta out (it runs at {DSG_DEFAULT_ETA:g}) or give 0 < eta <= 1"
)

OPTIONS = {
    "model": Option(
        kind=str,
        required="no model given; pass --model ID_OR_PATH (e.g. cvssp/audioldm2-music, "
        "ucsd-reach/musicldm, or a local diffusers folder)",
    ),
    "sampler": Option("irs", choices=SAMPLERS),
    "vmc": Option(True, kind=bool),  # guide on the vocoder's mel (the paper's VMC)
    "steps": Option(None, low=1, high=MAX_STEPS, integer=True),  # DDIM steps
    "gamma": Option(None, low=0.0, above=True),  # guidance step size
    # DDIM stochasticity
    "eta": Option(None, low=0.0, high=1.0, refused_with=(0, "sampler", "dsg", DSG_NEEDS_NOISE)),
    "prompt": Option(None, kind=str),
    "device": Option(None, kind=str, pattern=r"cpu|cuda(:\d+)?|mps"),
    "stereo": Option("mid-side", choices=STEREO_MODES),
    "batch_size": Option(DEFAULT_BATCH_SIZE, low=1, high=256, integer=True),  # windows per call
    # D and V's precision while they carry the guidance gradient (float16 overflows the mel-dB
    # gradient, so it is not offered)
    "guidance_dtype": Option("float32", choices=GUIDANCE_DTYPES),
    # inpainting: start each chain from the dsp pattern fill (SDEdit: encoded, noised to the step
    # where init_strength of the schedule is left, fewer steps run) instead of z_T ~ N(0, I).
    # Off by default: not yet measured with real weights.
    "init": Option("noise", choices=INITS),
    # SDEdit's t0 in (0, 1]; DEFAULT_INIT_STRENGTH when not given (None: given or not is seen)
    "init_strength": Option(None, low=0.0, above=True, high=1.0, needs=("init", "pattern")),
    # blind dereverb: optimiser steps on the room per diffusion step (BUDDy; 0 keeps the warm
    # start); DEFAULT_ROOM_STEPS when not given (None: given or not is seen, check_supported)
    "room_steps": Option(None, low=0, high=100, integer=True),
}


def options_for(damage: Damage) -> dict[str, Option]:
    """The same options for every task."""
    return OPTIONS


def task_options(task: str) -> dict[str, Option]:
    """Every option ``task`` takes: the same for every task."""
    return OPTIONS


def check_supported(damage: Damage, options: Mapping[str, Any]) -> None:
    """Raise :class:`UnsupportedDamage` for what the model cannot restore: declicking without
    the clicks' times, a pattern start for anything but inpainting; and :class:`DamageError`
    for ``room_steps`` given to anything but blind dereverberation. ``check_options`` asks it,
    so it is said before any model loads (a daemon refuses such a submit)."""
    from diffmusic_engine.damage import Declick, Inpaint

    if options.get("room_steps") is not None and not takes_room_steps(damage):
        raise DamageError(
            f"diffusion {damage.task}: option room_steps applies only to blind dereverb (no "
            "impulse response given); leave room_steps out"
        )
    init = options.get("init", OPTIONS["init"].default)
    if init != "noise" and not isinstance(damage, Inpaint):
        raise UnsupportedDamage(
            f"diffusion {damage.task}: init={init} starts from the dsp fill of gaps, so it is "
            "for inpainting only; leave init out (init=noise)"
        )
    if isinstance(damage, Declick) and not damage.clicks:
        raise UnsupportedDamage(
            "diffusion declick needs the clicks' times (--click START:END, or a preset from "
            "diffmusic diagnose --preset-out); finding them is the dsp backend's (--backend dsp)"
        )


def takes_room_steps(damage: Damage) -> bool:
    """Whether option ``room_steps`` applies to ``damage``: blind dereverberation alone."""
    from diffmusic_engine.damage import Dereverb

    return isinstance(damage, Dereverb) and damage.blind


def local_folder(model: str) -> Path | None:
    """``model`` as the local folder it names (``~`` expanded), or ``None`` for a hub id."""
    try:
        path = Path(model).expanduser()
        return path if model and path.is_dir() else None
    except (OSError, ValueError, RuntimeError):  # a name no folder can have (too long, a NUL)
        return None


def model_key(model: str) -> str:
    """The one name of ``model``: a local folder as its absolute path (relative to the current
    folder, no trailing slash), anything else (a hub id) as given. Every cache and every
    request names a model by it: ``./tiny/`` and ``/abs/tiny`` are one model."""
    folder = local_folder(model)
    return model if folder is None else str(folder.resolve())


def with_model_keys(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``model`` (plain and in the diffusion table) by :func:`model_key`:
    a client names a local folder from its own folder, the daemon resolves paths in its own."""
    keyed = dict(options)
    if isinstance(keyed.get("model"), str):
        keyed["model"] = model_key(keyed["model"])
    table = keyed.get("diffusion")
    if isinstance(table, Mapping) and isinstance(table.get("model"), str):
        keyed["diffusion"] = {**table, "model": model_key(table["model"])}
    return keyed
