"""The classical backend (``backend="dsp"``): CPU only, no pretrained prior (one small learned
mask for blind dereverb, its weights in the package). One module per task.

========================  ==================================================================
task                      method (module)
========================  ==================================================================
``inpaint``               AR interpolation (Janssen) under 25 ms, else a pattern fill that
                          copies the best-matching passage of the song (:mod:`.pattern`)
``super-resolution``      spectral band replication with envelope (:mod:`.super_resolution`)
``phase-retrieval``       fast Griffin-Lim from a phase-advance start (:mod:`.griffin_lim`)
``dereverb``              blind: WPE bounded by the estimated room, then a learned late
                          mask told the room (:mod:`.late_mask`); else Wiener
``separate``              declines; HPSS or NMF soft masks when named (:mod:`.separate`)
``declick``               AR-residual detection, Janssen inpainting (:mod:`.declick`)
``declip``                A-SPADE, consistent with the clipping (:mod:`.declip`)
========================  ==================================================================

Every channel is restored: WPE predicts all channels jointly and separation shares one set of
masks (from the mid) across channels; the other methods estimate each channel on its own, since
the channels' samples differ. Options are checked per task (an unknown one raises
:class:`~diffmusic_engine.errors.DamageError` naming it); progress goes to ``callback``, which may
raise :class:`~diffmusic_engine.errors.Cancelled` to stop the work.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from diffmusic_engine.backends import Restoration
from diffmusic_engine.damage import (
    Damage,
    Declick,
    Declip,
    Dereverb,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.errors import DamageError
from diffmusic_engine.progress import ProgressCallback


def restore_dsp(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    options: dict[str, Any],
    callback: ProgressCallback | None,
) -> Restoration:
    """Restore float32 ``(channels, samples)`` ``audio`` with classical signal processing.

    ``damage`` must be resolved (a numeric super-resolution cutoff): :func:`restore` does that.
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    started = time.perf_counter()
    if isinstance(damage, Inpaint):
        from diffmusic_engine.dsp.inpaint import restore_inpaint

        out, details = restore_inpaint(audio, sample_rate, damage, options, callback)
    elif isinstance(damage, SuperResolution):
        from diffmusic_engine.dsp.super_resolution import restore_super_resolution

        if damage.cutoff == "auto":
            raise DamageError("dsp super-resolution: resolve cutoff 'auto' first (restore does)")
        out, details = restore_super_resolution(audio, sample_rate, damage, options, callback)
    elif isinstance(damage, PhaseRetrieval):
        from diffmusic_engine.dsp.phase_retrieval import restore_phase_retrieval

        out, details = restore_phase_retrieval(audio, sample_rate, damage, options, callback)
    elif isinstance(damage, Dereverb):
        from diffmusic_engine.dsp.dereverb import restore_dereverb

        out, details = restore_dereverb(audio, sample_rate, damage, options, callback)
    elif isinstance(damage, Separate):
        from diffmusic_engine.dsp.separate import restore_separate

        tracks, details = restore_separate(audio, sample_rate, damage, options, callback)
        return _result(tracks, sample_rate, damage, details, started)
    elif isinstance(damage, Declick):
        from diffmusic_engine.dsp.declick import restore_declick

        tracks, details = restore_declick(audio, sample_rate, damage, options, callback)
        return _result(tracks, sample_rate, damage, details, started)
    elif isinstance(damage, Declip):
        from diffmusic_engine.dsp.declip import restore_declip

        out, details = restore_declip(audio, sample_rate, damage, options, callback)
    else:
        raise DamageError(f"dsp backend: no method for {damage!r}")
    return _result((out,), sample_rate, damage, details, started)


def _result(
    tracks: tuple[np.ndarray, ...],
    sample_rate: int,
    damage: Damage,
    details: dict[str, Any],
    started: float,
) -> Restoration:
    details = {"backend": "dsp", "task": damage.task, **details}
    details["seconds"] = round(time.perf_counter() - started, 4)
    return Restoration(tracks=tuple(tracks), sample_rate=sample_rate, details=details)
