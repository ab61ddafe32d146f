"""The engine's entry points: ``restore`` damaged audio and ``degrade`` clean audio.

One call shape for every backend, after pedalboard's ``(audio, sample_rate) -> audio``:
``restore(audio, sample_rate, damage, backend=..., options=..., callback=...)``. Backends are
looked up by name and imported on first use, so the dsp backend never imports diffusers; the
damage's forward models (torch) load only when ``degrade`` runs.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from diffmusic_engine.audio_arrays import check_audio, given_audio
from diffmusic_engine.backends import (
    BACKENDS,
    CLIPPED_LOWER,
    CUT_ENDS,
    EXTENDED_GAPS,
    FOUND_GAPS,
    GAPS_WITH_AUDIO,
    GATES,
    KEPT_CHANNELS,
    LOSSY_GAPS,
    PAUSES,
    UNCHANGED,
    Restoration,
    get_backend,
)
from diffmusic_engine.clipping import (
    MIN_RUN,
    Levels,
    auto_levels,
    clip_level_for_sdr,
    clipped_lower,
    clipped_mask,
    levels_found,
    one_side_under,
    side_levels,
)
from diffmusic_engine.damage import (
    DAMAGE_TYPES,
    Damage,
    Declick,
    Declip,
    Gap,
    Inpaint,
    Separate,
    SuperResolution,
    gap_samples,
)
from diffmusic_engine.damage_check import check_damage
from diffmusic_engine.diagnose import cut_ends, dropouts, selections
from diffmusic_engine.diagnose.bandwidth import band_limit
from diffmusic_engine.errors import DamageError, InputError
from diffmusic_engine.options import check_options, resolve_options
from diffmusic_engine.progress import ProgressCallback

__all__ = ["BACKENDS", "Restoration", "degrade", "get_backend", "restore"]


# Why resolve_damage found nothing to restore (Restoration.unchanged), per task.
NOTHING_FOUND = {
    "super-resolution": (
        "no band limit found (no wall in the spectrum, where a codec or a resampler cuts it: "
        "the recording uses its whole band, fades out by nature as a dark instrument does, or "
        "was low-passed by a gentle filter, which is not told from that): nothing extended; "
        "give --cutoff HZ to extend it from there"
    ),
    "declip": (
        f"no clipping found (no channel holds a run of {MIN_RUN} samples at its positive or "
        "negative peak; clipping that a codec or a low-pass has rippled does not show so): nothing "
        "changed; give --level AMPLITUDE to declip at a level (the samples at or beyond it are "
        "rebuilt)"
    ),
    "inpaint": (
        f"no dropout found (no run of {dropouts.MIN_SECONDS * 1000:g} ms or more of digital "
        "silence, or of dither or a held value with abrupt edges, inside the audio, other than "
        "pauses between songs or a stutter gate's offs, named in a note if any; digital silence "
        "at the file's start or end is left alone, named by diagnose's cut_ends where the music "
        "beside it does not fade): nothing filled; give --gap START:END to fill a region"
    ),
}


def resolve_damage(
    damage: Damage, audio: np.ndarray, sample_rate: int, lossy: bool = False
) -> tuple[Damage | None, dict[str, Any]]:
    """Replace what the audio itself decides (``cutoff``, ``level``, ``gaps`` ``"auto"``) by its
    value; ``None`` where the audio shows no such damage (see :data:`NOTHING_FOUND`). With it,
    details for the restoration: the pauses ``gaps`` ``"auto"`` left alone (:data:`PAUSES`), the
    gates whose offs it left alone (:data:`GATES`), the silence at the file's ends it left alone
    (:data:`CUT_ENDS`), and the gaps found as a lossy codec's dips (``lossy``:
    :data:`LOSSY_GAPS`)."""
    if isinstance(damage, Inpaint) and damage.gaps == "auto":
        found, pauses, dips, gates = dropouts.find_all(audio, sample_rate, lossy)
        spans = dropouts.in_seconds([(a, b) for a, b, _ in found], sample_rate)
        gaps = tuple(Gap(start, end) for start, end in spans)
        resolved = Inpaint(gaps=gaps, crossfade=damage.crossfade) if gaps else None
        told = {PAUSES: [list(pause) for pause in dropouts.in_seconds(pauses, sample_rate)]}
        told[LOSSY_GAPS] = [list(dip) for dip in dropouts.in_seconds(dips, sample_rate)]
        told[GATES] = [
            [list(dip) for dip in dropouts.in_seconds(gate, sample_rate)] for gate in gates
        ]
        if ends := cut_ends.detect(audio, sample_rate):  # the file's ends: no gap found there
            told[CUT_ENDS] = [cut_ends.line(ends, audio.shape[0])]
        return resolved, {key: spans for key, spans in told.items() if spans}
    if isinstance(damage, Declick) and lossy and not damage.lossy:  # its gates through the codec
        return dataclasses.replace(damage, lossy=True), {}
    return _resolve_level(damage, audio, sample_rate), {}


def _resolve_level(damage: Damage, audio: np.ndarray, sample_rate: int) -> Damage | None:
    """:func:`resolve_damage` for a super-resolution cutoff and a declip level."""
    if isinstance(damage, SuperResolution) and damage.cutoff == "auto":
        cutoff = band_limit(audio, sample_rate)
        return None if cutoff is None else SuperResolution(cutoff=cutoff)
    if isinstance(damage, Declip) and damage.level == "auto":
        if (found := auto_levels(audio)) is None:
            return None
        highest, channel_levels, negative_levels = found
        return Declip(level=highest, channel_levels=channel_levels, negative_levels=negative_levels)
    return damage


# Why all-zero audio comes back as it went in (it had been "restored" to silence without a word;
# asked before any automatic setting, whose advice, "give --cutoff HZ", would lead nowhere)
SILENT = "the audio is digital silence (every sample 0): nothing to restore"


def _unchanged(
    audio: np.ndarray, sample_rate: int, damage: Damage, details: dict[str, Any]
) -> Restoration:
    """The input as its restoration, ``details`` saying why; declick's second track, what was
    removed, is silence (its two outputs are its contract: a single one had broken the
    spectrogram and left no ``_removed`` file)."""
    tracks = (
        (audio.copy(), np.zeros_like(audio)) if isinstance(damage, Declick) else (audio.copy(),)
    )
    return Restoration(
        tracks=tracks, sample_rate=sample_rate, details={"task": damage.task, **details}
    )


def _nothing_to_restore(damage: Damage, audio: np.ndarray) -> str | None:
    """Why a given damage touches none of ``audio`` (a declip level above its peak), or None."""
    if isinstance(damage, Declip) and not clipped_mask(audio, damage.levels).any():
        return (
            f"no sample reaches the clipping level {damage.level:g} (the peak is "
            f"{np.max(np.abs(audio)):.4g}): nothing changed; give the level the audio was "
            "clipped at, or --level auto"
        )
    return None


def restore(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    backend: str = "dsp",
    options: Mapping[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    lossy: bool = False,
) -> Restoration:
    """Restore float32 ``(channels, samples)`` ``audio`` whose damage ``damage`` describes;
    ``lossy``: it was decoded from a lossy codec (``AudioInfo.lossy``: ``gaps="auto"`` reads
    dropouts as its dips too, :mod:`diffmusic_engine.diagnose.coded`).

    ``options`` may hold per-backend tables (``{"steps": 100, "diffusion": {"steps": 50}}``);
    they are resolved and checked (:mod:`diffmusic_engine.options`) before any work. Raises
    :class:`~diffmusic_engine.errors.DiffMusicError` subclasses for bad input, and
    :class:`~diffmusic_engine.errors.Cancelled` if ``callback`` raised it.
    """
    audio = given_audio(audio)
    check_audio(audio)
    _check_call(sample_rate, damage, options)
    check_damage(damage, audio.shape[1] / sample_rate, sample_rate, audio.shape[0])
    function = get_backend(backend)
    options = check_options(backend, damage, resolve_options(backend, options))
    if not isinstance(damage, Separate) and not audio.any():  # separate: its N silent sources
        return _unchanged(audio, sample_rate, damage, {"backend": backend, UNCHANGED: SILENT})
    resolved, resolving_details = resolve_damage(damage, audio, sample_rate, lossy)
    given_details: dict[str, list[str]] = {}
    if isinstance(resolved, Inpaint) and resolved is damage:
        resolved, given_details = _given_gaps(damage, audio, sample_rate, lossy)
    why = NOTHING_FOUND[damage.task] if resolved is None else _nothing_to_restore(resolved, audio)
    if why is not None:  # the input, and why, from every backend
        details = {"backend": backend, UNCHANGED: why, **resolving_details}
        return _unchanged(audio, sample_rate, damage, details)
    restoration = function(audio, sample_rate, resolved, options=options, callback=callback)
    # what clients place results by (a separation's sources, declick's removed clicks), from
    # every backend (the diffusion backend's details had no task)
    restoration.details.setdefault("task", damage.task)
    restoration.details.setdefault("backend", backend)
    restoration.details.update(resolving_details)
    if isinstance(damage, Inpaint) and damage.gaps == "auto":
        restoration.details[FOUND_GAPS] = [[gap.start, gap.end] for gap in resolved.gaps]
    restoration.details.update(given_details)
    if kept := _keep_live_channels(audio, restoration, resolved, lossy):
        restoration.details[KEPT_CHANNELS] = kept
    if isinstance(resolved, Declip):  # the levels auto found per channel (side), any backend
        restoration.details.update(levels_found(resolved.channel_levels, resolved.negative_levels))
    # a given level only: auto declips each channel's side at its own, so none lies under it
    # (asked anyway, it read every side's clipping twice more over the whole file)
    given = isinstance(damage, Declip) and damage.level != "auto"
    if given and (lower := _clipped_lower_lines(audio, resolved.levels)):
        restoration.details[CLIPPED_LOWER] = lower
    return restoration


def _clipped_lower_lines(audio: np.ndarray, level: Levels) -> list[str]:
    """A line for each channel a declip at a given ``level`` left clipped (at a level of its
    own under it), and what takes it in: ``--level auto``, each channel at its own. Its own
    level for all had been advised, but rebuilds the reliable samples over it in the channels
    clipped higher: SI-SDR of those 31.4 dB clipped -> 24.7 (auto: 37.1), 14 recordings,
    docs/results.md "Declip: a level per channel"."""
    lower = clipped_lower(audio, level)
    lines = [
        f"channel {channel + 1} is clipped at {own:.6g}, under the level {given:.6g} "
        "declipped: left as it was; give --level auto to declip each channel at its own level "
        f"(--level {own:.6g} would rebuild every sample over it in the channels clipped higher)"
        for channel, own, given in lower
    ]
    told = {channel for channel, _, _ in lower}  # a channel left whole is said once
    positive, negative = side_levels(level, audio.shape[0])
    return lines + [
        f"channel {channel + 1}'s {side} peaks are clipped at {own:.6g}, under the level "
        f"{(positive if side == 'positive' else negative)[channel]:.6g} declipped: left as "
        "they were; give --level auto to declip each side at its own level"
        for channel, side, own in one_side_under(audio, level)
        if channel not in told
    ]


def _keep_live_channels(
    audio: np.ndarray, restoration: Restoration, damage: Damage, lossy: bool
) -> list:
    """In each inpaint gap where only some channels dropped out
    (:func:`selections.kept_channels`; ``lossy``: or dipped through the codec), the others put
    back as they were, crossfades included (whichever backend filled them); a line for each."""
    if not isinstance(damage, Inpaint):
        return []
    out, rate, lines = restoration.tracks[0], restoration.sample_rate, []
    fade = int(round(damage.crossfade * rate))
    spans = [gap_samples(gap, rate) for gap in damage.gaps]
    coded_frame = selections.coded_frame(rate, lossy)
    for (first, stop), live in selections.kept_channels(audio, spans, coded_frame):
        span = slice(max(0, first - fade), min(audio.shape[1], stop + fade))
        out[live, span] = audio[live, span]
        lines.append(selections.kept_line((first, stop), live, rate))
    return lines


def _given_gaps(
    damage: Inpaint, audio: np.ndarray, sample_rate: int, lossy: bool
) -> tuple[Inpaint, dict]:
    """``damage``'s given gaps taken over the dropouts at their edges (:func:`selections.extend`),
    and the details that say so and name gaps that replaced music (``lossy``: not one where a
    channel dipped through the codec, whose others are kept)."""
    runs = selections.find(audio, sample_rate)
    given = [gap_samples(gap, sample_rate) for gap in damage.gaps]
    spans = selections.extend(given, runs, sample_rate)
    gaps = tuple(gap if span == old else Gap(span[0] / sample_rate, span[1] / sample_rate)
                 for gap, old, span in zip(damage.gaps, given, spans, strict=True))  # fmt: skip
    details: dict[str, list[str]] = {}
    if extended := [selections.extension_line(old, span, sample_rate)
                    for old, span in zip(given, spans, strict=True)
                    if selections.told(old, span, sample_rate)]:  # fmt: skip
        details[EXTENDED_GAPS] = extended
    coded_frame = selections.coded_frame(sample_rate, lossy)
    if loud := selections.audio_lines(audio, sample_rate, gaps, runs, coded_frame=coded_frame):
        details[GAPS_WITH_AUDIO] = loud
    return Inpaint(gaps=gaps, crossfade=damage.crossfade), details


def degrade(
    clean: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    impulse_response: np.ndarray | None = None,
) -> np.ndarray:
    """Synthesise damaged audio from ``clean`` ``(channels, samples)``.

    For ``separate``, ``clean`` holds the sources: ``(sources, channels, samples)``.
    """
    clean = np.asarray(clean)  # its own dtype: integer samples are refused, not read as floats
    if isinstance(damage, Separate):
        if clean.ndim != 3 or clean.shape[0] != damage.sources:
            raise DamageError(
                f"separate: expected {damage.sources} sources shaped (sources, channels, samples), "
                f"got {clean.shape}"
            )
        clean = np.stack([given_audio(source, "source") for source in clean])
        for source in clean:
            check_audio(source, "source")
    else:
        clean = given_audio(clean, "clean audio")
        check_audio(clean, "clean audio")
    _check_call(sample_rate, damage, None)
    check_damage(damage, clean.shape[-1] / sample_rate, sample_rate, np.atleast_2d(clean).shape[-2])
    if isinstance(damage, SuperResolution) and damage.cutoff == "auto":
        raise DamageError("super-resolution: degrading needs a cutoff in Hz, not auto")
    if isinstance(damage, Inpaint) and damage.gaps == "auto":
        raise DamageError("inpaint: degrading needs --gap START:END, not auto")
    if isinstance(damage, Declip) and damage.sdr is not None and damage.level != "auto":
        raise DamageError("declip: degrading takes --level AMPLITUDE or --sdr DB, not both")
    if isinstance(damage, Declip) and damage.sdr is not None and not np.any(clean):
        raise DamageError("declip: the clean audio is silent, so no clipping level gives an SDR")
    if isinstance(damage, Declip) and damage.sdr is not None:
        damage = Declip(level=clip_level_for_sdr(clean, damage.sdr))
    elif isinstance(damage, Declip) and damage.level == "auto":
        raise DamageError("declip: degrading needs --level AMPLITUDE or --sdr DB, not auto")
    elif isinstance(damage, Declip) and damage.channel_levels:
        raise DamageError("declip: degrading clips every channel at one level, not channel_levels")
    from diffmusic_engine.operators import make_operator

    operator = make_operator(damage, sample_rate, impulse_response=impulse_response)
    return np.ascontiguousarray(operator.degrade(clean), dtype=np.float32)


def _check_call(sample_rate: Any, damage: Any, options: Any) -> None:
    """The other arguments of :func:`restore` and :func:`degrade`, each refused in one line
    naming it (a rate given as text, 0 Hz, a task name for the damage, a list of pairs for the
    options had ended in Python's own TypeError, ZeroDivisionError or AttributeError)."""
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Real)
        or not (math.isfinite(sample_rate) and sample_rate >= 1)
    ):
        raise InputError(f"sample_rate {sample_rate!r}: expected a number of Hz")
    if not isinstance(damage, tuple(DAMAGE_TYPES.values())):
        kinds = ", ".join(kind.__name__ for kind in DAMAGE_TYPES.values())
        raise DamageError(
            f"damage {damage!r}: expected one of {kinds} (diffmusic_engine.damage), e.g. "
            "Inpaint(gaps=(Gap(1.2, 1.25),))"
        )
    if options is not None and not isinstance(options, Mapping):
        raise DamageError(f"options {options!r}: expected a mapping of names to values")
