"""``restore --spectrogram PNG``: the input and what the restore made of it, one log-frequency
spectrogram each (:func:`~diffmusic_engine.evaluation.plots.save_spectrograms`), zoomed on the
stretches it restored (gaps, clicks) with their edges marked and a cyan strip over them, and on the
silences ``--gap auto`` left alone as the music's own pauses, hatched white (a lossy input's dips
left alone as a gate's offs, yellow), where one zoom holds both (a pause between songs far off is
hatched, the zoom kept on what was restored): where a user looks first, and sees why a silence was
not filled.
``diagnose --spectrogram PNG``: the whole file, the edges of what was found marked and each
kind shaded as the restore's picture shades it (a pause hatched the same in both)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.atomic import check_target
from diffmusic_engine.backends import (
    GATES,
    OUTPUT_GAIN_DB,
    PAUSES,
    REGIONS,
    REPAIRED_CLICKS,
    Restoration,
)
from diffmusic_engine.damage import Damage, Declick, Inpaint
from diffmusic_engine.errors import OutputError

# Around the restored stretches the picture shows this much (or half the longest stretch) of
# the music on each side, so that the fill can be read against what surrounds it.
PAD_S = 0.3
# Restored stretches spread over more than this (clicks all over a record) are marked on a
# picture of the whole file rather than zoomed on.
MAX_ZOOM_S = 20.0
MAX_MARKS = 50  # more stretches than this (crackle): no dashed lines, they would hide the music
SUFFIX = ".png"
# The shading of the stretches restored (the colour of their dashed edges) and of the pauses
# left alone (details PAUSES), hatched: silence filled or not, told apart at a glance
RESTORED_COLOR, PAUSE_COLOR, PAUSE_HATCH = "cyan", "white", "//"
PAUSE_LABEL = "left: the music's own pause"
# The dips of a lossy input left alone as a gate's offs (details GATES), hatched apart from the
# pauses: a burst of as many dropouts reads the same, worth a look
GATE_COLOR, GATE_HATCH = "yellow", "\\\\"
GATE_LABEL = "left: a gate's offs (or a burst of dropouts)"
# diagnose's findings that are stretches of time besides the pauses, with the colour of their
# strip: a dropout as the restore's picture shades a fill
FOUND_COLORS = {"dropouts": RESTORED_COLOR, "clicks": "magenta", "clipped regions": "orange"}


def check_picture_path(path: Path) -> None:
    """Refuse, before any work, a picture name that is not a ``.png`` file, or one that cannot
    be written (a folder, a missing folder above it: the check every output gets)."""
    if path.suffix.lower() != SUFFIX:
        raise OutputError(f"{path}: --spectrogram writes a PNG picture; give a name ending in .png")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give --spectrogram a file name ending in .png")
    check_target(path)


def restored_spans(damage: Damage, details: Mapping[str, Any], sample_rate: int) -> list:
    """The stretches ``(start, end)`` in seconds a restoration worked on: an inpaint's regions,
    a declick's repaired clicks, the gaps given; empty for a task over the whole file."""
    if regions := details.get(REGIONS):
        return [(first / sample_rate, stop / sample_rate) for first, stop in regions]
    if clicks := details.get(REPAIRED_CLICKS):
        return [(start, end) for start, end in clicks]
    if isinstance(damage, Inpaint) and damage.gaps != "auto":
        return [(gap.start, gap.end) for gap in damage.gaps]
    return []


def restored_label(damage: Damage) -> str:
    """What the legend calls the stretches ``damage``'s restoration worked on."""
    if isinstance(damage, Declick):
        return "repaired: a click"
    if isinstance(damage, Inpaint) and damage.gaps == "auto":
        return "filled: a dropout"
    return "filled: a gap given"


def view(spans: list, duration: float) -> tuple[tuple[float, float] | None, tuple[float, ...]]:
    """The stretch of time to show (``None``: the whole file) and the times to mark."""
    if not spans or len(spans) > MAX_MARKS:
        return None, ()
    marks = tuple(sorted({time for span in spans for time in span}))
    pad = max(PAD_S, 0.5 * max(end - start for start, end in spans))
    first, last = max(0.0, marks[0] - pad), min(duration, marks[-1] + pad)
    return (None if last - first > MAX_ZOOM_S else (first, last)), marks


def panels(audio: np.ndarray, restoration: Restoration, task: str) -> dict[str, np.ndarray]:
    """The input and every track written, named as a user knows them (a declipped track written
    lower, :data:`OUTPUT_GAIN_DB`, at the level written)."""
    tracks = restoration.tracks
    if task == "separate":
        return {"mix": audio, **{f"source {i + 1}": t for i, t in enumerate(tracks)}}
    gain_db = restoration.details.get(OUTPUT_GAIN_DB, 0.0)
    named = {"input": audio, "restored": tracks[0] * np.float32(10 ** (gain_db / 20))}
    if task == "declick":
        named["removed"] = tracks[1]  # what was taken out, as the _removed file holds it
    return named


def write_picture(
    path: Path, audio: np.ndarray, restoration: Restoration, damage: Damage, source: Path
) -> Path:
    """The picture of ``restoration`` of ``audio`` (read from ``source``) at ``path``."""
    from diffmusic_engine.evaluation.plots import Shading, save_spectrograms

    rate = restoration.sample_rate
    spans = restored_spans(damage, restoration.details, rate)
    pauses = [(start, end) for start, end in restoration.details.get(PAUSES, [])]
    offs = [(start, end) for gate in restoration.details.get(GATES, []) for start, end in gate]
    duration = audio.shape[-1] / rate
    span, marks = view(spans + pauses + offs, duration)  # pauses, offs in sight too, where they fit
    if span is None and spans:  # a pause far off (between songs): zoomed on what was restored
        span, marks = view(spans, duration)
    shadings = (
        Shading(restored_label(damage), spans, RESTORED_COLOR),
        Shading(PAUSE_LABEL, pauses, PAUSE_COLOR, PAUSE_HATCH),
    ) + ((Shading(GATE_LABEL, offs, GATE_COLOR, GATE_HATCH),) if offs else ())
    backend = restoration.details.get("backend", "")
    return save_spectrograms(
        path, panels(audio, restoration, damage.task), rate, span=span, marks=marks,
        shadings=shadings, title=f"{source.name}: {damage.task} ({backend} backend)",
    )  # fmt: skip


# diagnose's findings that are stretches of time: {"start", "end"} each (docs/protocol.md)
FOUND_SPANS = ("dropouts", "pauses", "clicks")


def found_kinds(findings: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """The stretches ``(start, end)`` in seconds diagnose found, by kind: dropouts, pauses,
    clicks, clipped regions and a gate's offs (each dip of the ``gates``)."""
    kinds = {name: findings.get(name) or [] for name in FOUND_SPANS}
    kinds["clipped regions"] = (findings.get("clipping") or {}).get("regions", [])
    kinds["gate offs"] = [dip for gate in findings.get("gates") or [] for dip in gate["dips"]]
    return {name: [(item["start"], item["end"]) for item in items] for name, items in kinds.items()}


def found_spans(findings: Mapping[str, Any]) -> list[tuple[float, float]]:
    """Every stretch diagnose found (:func:`found_kinds`), in time order."""
    return sorted(span for spans in found_kinds(findings).values() for span in spans)


def write_findings_picture(
    path: Path, audio: np.ndarray, sample_rate: int, findings: Mapping[str, Any], source: Path
) -> Path:
    """The whole of ``audio`` (read from ``source``) with the stretches diagnose found dashed
    and shaded, a kind each (the pauses hatched as the restore's picture hatches them); a dead
    channel, no stretch of time, is named in the title."""
    from diffmusic_engine.evaluation.plots import Shading, save_spectrograms

    kinds = found_kinds(findings)
    _, marks = view(found_spans(findings), audio.shape[-1] / sample_rate)
    shadings = [Shading(PAUSE_LABEL, kinds["pauses"], PAUSE_COLOR, PAUSE_HATCH),
                Shading(GATE_LABEL, kinds["gate offs"], GATE_COLOR, GATE_HATCH)]  # fmt: skip
    shadings += [
        Shading(f"found: {kind}", kinds[kind], color) for kind, color in FOUND_COLORS.items()
    ]
    found = [f"{kind} {len(spans)}" for kind, spans in kinds.items() if spans]
    if dead := findings.get("dead_channels"):  # no stretch of time: the whole file, on a channel
        found.append(f"channel(s) {', '.join(map(str, dead))} digital silence throughout")
    found = ", ".join(found) or "nothing"
    return save_spectrograms(
        path, {source.name: audio}, sample_rate, marks=marks, shadings=shadings,
        title=f"{source.name}: found {found}" + (" (edges dashed)" if marks else ""),
    )  # fmt: skip
