"""A diagnosis as a preset ``diffmusic restore --preset FILE`` accepts.

A preset holds one task, so the first damage found in repair order is written: clipping (undo it
before anything reads the waveform's peaks), clicks, dropouts, band limit, reverb; the others are
listed under ``_also_found`` (documentation, ignored when loading).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.backends import CHANNEL_LEVELS
from diffmusic_engine.damage import damage_from_dict, damage_to_dict
from diffmusic_engine.dsp.dereverb import reason_to_skip
from diffmusic_engine.room import RoomEstimate


def preset_from_findings(findings: dict[str, Any]) -> dict[str, Any] | None:
    """The preset (``task`` and its fields) for the first damage found, or None for none."""
    found = []
    if findings.get("clipping"):
        clipping = findings["clipping"]  # a level per channel where they were clipped apart
        apart = {CHANNEL_LEVELS: clipping[CHANNEL_LEVELS]} if CHANNEL_LEVELS in clipping else {}
        found.append({"task": "declip", "level": clipping["level"], **apart})
    if findings.get("clicks"):
        # no spans: the diagnosis says whether there are clicks (a strict threshold, see
        # clicks.DIAGNOSE_SENSITIVITY); the repair finds them again at declick's own sensitivity
        found.append({"task": "declick", "mode": "click"})
    if findings.get("dropouts"):
        found.append(
            {"task": "inpaint", "gaps": [[d["start"], d["end"]] for d in findings["dropouts"]]}
        )
    if (findings.get("bandwidth") or {}).get("cutoff_hz"):
        found.append({"task": "super-resolution", "cutoff": findings["bandwidth"]["cutoff_hz"]})
    room = findings.get("reverb")
    # a room read as dry or uncertain is no damage: blind dereverb would leave the audio as it is
    if room and reason_to_skip(RoomEstimate.from_dict(room), amount=1.0) is None:
        found.append({"task": "dereverb", "rir": "blind"})
    if not found:
        return None
    preset = damage_to_dict(damage_from_dict(found[0]))  # checked, completed with defaults
    if len(found) > 1:
        preset["_also_found"] = [f["task"] for f in found[1:]]
    return preset


def write_preset(preset: dict[str, Any], path: Path) -> None:
    """Write ``preset`` as JSON (``.json``) or TOML (anything else), atomically."""
    if path.suffix == ".json":
        text = json.dumps(preset, indent=1) + "\n"
    else:
        text = "".join(f"{key} = {_toml(value)}\n" for key, value in preset.items())
    write_text_atomic(path, text)


def _toml(value: Any) -> str:
    """A TOML value for the strings, numbers and (nested) lists a damage holds (json's string
    and number forms are valid TOML; no package for writing TOML is a dependency)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)
