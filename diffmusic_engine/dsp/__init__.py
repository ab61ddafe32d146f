"""The classical backend (``backend="dsp"``): CPU only, no weights. One module per task."""

from __future__ import annotations

from typing import Any

import numpy as np

from diffmusic_engine.damage import Damage
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback
from diffmusic_engine.restore import Restoration


def restore_dsp(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> Restoration:
    """Restore with classical signal processing (see each task's module)."""
    raise DamageError(f"dsp backend: {damage.task} is not written yet")
