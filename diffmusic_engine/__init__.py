"""DiffMusic engine: zero-shot music restoration (no networking).

>>> from diffmusic_engine import restore, Inpaint, Gap
>>> result = restore(audio, 44100, Inpaint(gaps=(Gap(1.20, 1.23),)))
>>> result.audio  # (channels, samples) float32, same rate and length as the input
>>> result.tracks  # every output: declick's second is what it removed, separate's N sources

Names are imported on first use (PEP 562), so that ``import diffmusic_engine.damage`` (what a
CLI client needs to parse flags) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "audio": ("AudioInfo", "read_audio", "resample", "write_audio"),
    "damage": (
        "TASKS", "Damage", "Declick", "Declip", "Dereverb", "Gap", "Inpaint", "PhaseRetrieval",
        "Separate", "SuperResolution", "damage_from_dict", "damage_to_dict",
    ),
    "preset_files": ("load_preset",),
    "errors": ("Cancelled", "DamageError", "DiffMusicError", "InputError", "ModelError"),
    "progress": ("Progress", "ProgressCallback"),
    "api": ("BACKENDS", "Restoration", "degrade", "restore"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'diffmusic_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"diffmusic_engine.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
