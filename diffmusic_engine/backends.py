"""The registry of restoration backends, importable without torch.

Each entry is ``"module:function"``; the function follows :class:`Backend` and its module is
imported on first use, so the dsp path never imports diffusers and a CLI that only parses flags
never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from diffmusic_engine.errors import DamageError

if TYPE_CHECKING:
    import numpy as np

    from diffmusic_engine.damage import Damage
    from diffmusic_engine.progress import ProgressCallback
    from diffmusic_engine.restore import Restoration

BACKENDS = {
    "dsp": "diffmusic_engine.dsp:restore_dsp",
    "diffusion": "diffmusic_engine.diffusion:restore_diffusion",
}


class Backend(Protocol):
    def __call__(
        self,
        audio: np.ndarray,
        sample_rate: int,
        damage: Damage,
        *,
        options: dict[str, Any],
        callback: ProgressCallback | None,
    ) -> Restoration: ...


def get_backend(name: str) -> Backend:
    """The backend function registered as ``name``."""
    if name not in BACKENDS:
        raise DamageError(f"backend {name!r}: expected one of {', '.join(BACKENDS)}")
    module, function = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), function)
