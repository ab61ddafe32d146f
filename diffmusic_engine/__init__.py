"""DiffMusic engine: zero-shot music restoration (no networking).

>>> from diffmusic_engine import restore, Inpaint, Gap
>>> result = restore(audio, 44100, Inpaint(gaps=(Gap(1.20, 1.23),)))
>>> result.audio  # (channels, samples) float32, same rate and length as the input
"""

from diffmusic_engine.audio import AudioInfo, read_audio, resample, write_audio
from diffmusic_engine.damage import (
    TASKS,
    Damage,
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
    damage_from_dict,
    damage_to_dict,
    load_preset,
)
from diffmusic_engine.errors import Cancelled, DamageError, DiffMusicError, InputError, ModelError
from diffmusic_engine.progress import Progress, ProgressCallback
from diffmusic_engine.restore import BACKENDS, Restoration, degrade, restore

__all__ = [
    "BACKENDS",
    "TASKS",
    "AudioInfo",
    "Cancelled",
    "Damage",
    "DamageError",
    "Dereverb",
    "DiffMusicError",
    "Gap",
    "Inpaint",
    "InputError",
    "ModelError",
    "PhaseRetrieval",
    "Progress",
    "ProgressCallback",
    "Restoration",
    "Separate",
    "SuperResolution",
    "damage_from_dict",
    "damage_to_dict",
    "degrade",
    "load_preset",
    "read_audio",
    "resample",
    "restore",
    "write_audio",
]
