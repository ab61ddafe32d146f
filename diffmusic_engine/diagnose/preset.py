"""A diagnosis as a preset ``diffmusic restore --preset FILE`` accepts.

A preset holds one task, so the first damage found in repair order is written: clipping (undo it
before anything reads the waveform's peaks), dropouts, clicks, band limit, reverb; the others are
listed under ``_also_found`` (documentation, ignored when loading). Dropouts come before clicks:
the dropout rule is strict, while clicks listed beside a dropout may be its codec-smeared edges
(a user trial: a declick preset left 1 s dropouts unfilled and re-estimated a trumpet's
attacks). Clipping as slight as a few clicks' tops (under ``SLIGHT_CLIPPING`` of the time), or
lying on the clicks found alone (``CLICK_TOP_S``), comes after clicks, a band limit only where
super-resolution rebuilds it (under ``HIGHEST_CUTOFF_HZ``), and a room is proposed for dereverb
only where it reads longer than a production's own reverberation (``PRODUCED_RT60_S``), with a
:func:`caution`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.backends import CHANNEL_LEVELS, NEGATIVE_LEVELS
from diffmusic_engine.damage import damage_from_dict, damage_to_dict
from diffmusic_engine.dsp.dereverb import PRODUCED_RT60_S, reason_to_skip
from diffmusic_engine.dsp.super_resolution import HIGHEST_CUTOFF_HZ
from diffmusic_engine.room import RoomEstimate

# Clipping this slight, with clicks found, is no master's clipping but their tops: 20 clicks of
# 0.6 added to a mix peaking at 0.9 clipped 2 of them (2e-5 of the time), and the declip preset
# left every click and lowered the file 0.4 dB (it makes room for the peaks it restores). A
# master clipped by a few overs a second is clipped 1e-4 of the time.
SLIGHT_CLIPPING = 1e-4
# Clipping whose every region begins and ends on a click found (within this, s) is the clicks'
# tops however much of the time it takes: 20 clicks of +10 dB clipped at full scale in a mix
# peaking at 0.9 (7.4e-4 of the time) made a declip preset, which rebuilt their tops and wrote
# the file 10.7 dB lower (a user trial). Measured on 7 real mixes (rock and six other kinds;
# docs/results.md "Clipped clicks in the preset"): such clicks' clipping held so in 6 of 6, and
# masters clipped 1e-4 to 1e-3 of the time (0-10 clicks found on their tops) in none of 21.
CLICK_TOP_S = 0.002


def preset_from_findings(findings: dict[str, Any]) -> dict[str, Any] | None:
    """The preset (``task`` and its fields) for the first damage found, or None for none."""
    declip = declick = inpaint = None
    if clipping := findings.get("clipping"):  # a level per channel (side) where clipped apart
        apart = {key: clipping[key] for key in (CHANNEL_LEVELS, NEGATIVE_LEVELS) if key in clipping}
        declip = {"task": "declip", "level": clipping["level"], **apart}
    if findings.get("clicks"):
        # no spans: the diagnosis says whether there are clicks (a strict threshold, see
        # clicks.DIAGNOSE_SENSITIVITY); the repair finds them again at declick's own sensitivity
        declick = {"task": "declick", "mode": "click"}
    if dropouts := findings.get("dropouts"):
        inpaint = {"task": "inpaint", "gaps": [[d["start"], d["end"]] for d in dropouts]}
    slight = (
        declick
        and clipping
        and (clipping["fraction"] < SLIGHT_CLIPPING or _click_tops(clipping, findings["clicks"]))
    )
    found = [f for f in ((inpaint, declick, declip) if slight else (declip, inpaint, declick)) if f]
    bandwidth = findings.get("bandwidth") or {}
    cutoff, dark = bandwidth.get("cutoff_hz"), bandwidth.get("too_dark")
    if cutoff and cutoff < HIGHEST_CUTOFF_HZ and not dark:  # else the dsp changes nothing
        found.append({"task": "super-resolution", "cutoff": cutoff})
    if _room(findings) == "damage":
        found.append({"task": "dereverb", "rir": "blind"})
    if not found:
        return None
    damage = damage_from_dict(found[0])  # checked, completed with defaults
    preset = damage_to_dict(damage)
    for name in getattr(damage, "degrade_only", ()):  # what shapes only degrade's damage
        del preset[name]
    if len(found) > 1:
        preset["_also_found"] = [f["task"] for f in found[1:]]
    return preset


def _click_tops(clipping: dict[str, Any], clicks: list[dict[str, float]]) -> bool:
    """Whether every clipped region of ``clipping`` begins and ends on one of ``clicks`` (within
    ``CLICK_TOP_S``): the clicks' clipped tops, not a clipped master (a region joins clipped
    samples across 20 ms, so it may run from one click to the next)."""

    def on_a_click(time: float) -> bool:
        return any(c["start"] - CLICK_TOP_S <= time <= c["end"] + CLICK_TOP_S for c in clicks)

    regions = clipping["regions"]
    if not regions:
        return False
    # a click's clipped top lies within its span: clipping that lasts longer than the clicks
    # found (at least its fraction of the time up to the last region's end) is a clipped master
    # whose regions begin and end on clicks found at its corners (a two-tone chord clipped 77 %
    # of the time, its one region from a click at the file's start to one at its end)
    if clipping["fraction"] * regions[-1]["end"] > sum(c["end"] - c["start"] for c in clicks):
        return False
    return all(on_a_click(r["start"]) and on_a_click(r["end"]) for r in regions)


def caution(preset: dict[str, Any], findings: dict[str, Any]) -> str | None:
    """What to know before applying ``preset``: a long room may be the recording's own hall
    (a user trial: an orchestra's 2.4 s hall, read as damage, came back at 8.6 dB SI-SDR to
    the recording), which no blind reading tells from a room that spoils a take."""
    if preset["task"] != "dereverb":
        return None
    return (
        f"the preset removes a room read as {_told(findings).rt60:.2f} s: if it is the "
        "recording's own hall (an orchestra, a choir, an organ), it is part of the music"
    )


def leaves(preset: dict[str, Any]) -> str | None:
    """What ``preset`` leaves unrepaired: the damage listed under ``_also_found``, which restore
    ignores (a user trial: a file with dropouts, clicks and clipping got a declip preset, and
    nothing said that its dropouts and clicks were left). The next diagnosis, of the restored
    file, writes the next preset."""
    if not (others := preset.get("_also_found")):
        return None
    return (
        f"the preset repairs {preset['task']} alone (a preset holds one task); also found: "
        f"{', '.join(others)}: run diagnose --preset-out on the restored file for the next"
    )


def no_preset_reason(findings: dict[str, Any]) -> str:
    """Why ``findings`` make no preset (:func:`preset_from_findings` gave None)."""
    if dead := findings.get("dead_channels"):  # first: damage no preset can repair
        return (
            f"no damage found that a preset repairs (channel(s) {', '.join(map(str, dead))} "
            "digital silence throughout: no restoration rebuilds a lost channel; the "
            "dead_channels line says what to do)"
        )
    if cuts := findings.get("cut_ends"):  # what the table names that may be damage
        return (
            f"no damage found that a preset repairs ({len(cuts)} run(s) of digital silence at "
            "the file's start or end, the music beside not fading: if it was cut off there, "
            "give them as --gap; the cut_ends line lists them)"
        )
    if _room(findings) == "produced":
        return (
            f"no damage found (a room of {_told(findings).rt60:.2f} s is no longer than "
            f"a production's own reverberation, under {PRODUCED_RT60_S:g} s, which blind "
            "dereverb leaves too; set min_rt60 = 0 in a dereverb preset's [options] to remove it)"
        )
    if (bandwidth := findings.get("bandwidth") or {}).get("too_dark"):
        return (
            f"no damage the dsp backend repairs found (the band limit at "
            f"{bandwidth['cutoff_hz']} Hz has too little below it to extend)"
        )
    if gates := findings.get("gates"):  # dips left alone that may yet be dropouts: say so
        return (
            f"no damage found that a preset repairs ({len(gates)} train(s) of dips or silent "
            "runs left alone as a stutter gate's offs: if they are dropouts, give them as "
            "--gap; the gates line lists them)"
        )
    return "no damage found"


def _room(findings: dict[str, Any]) -> str | None:
    """What the room found is: ``"damage"`` (blind dereverb proposed), ``"produced"`` (no
    longer than a production's own reverberation: blind dereverb leaves it, and acts on it only
    with option ``min_rt60`` 0), or None (none read, or read as dry or uncertain: blind dereverb
    leaves the audio as it is whatever ``min_rt60``). Both read the room blind dereverb is told
    (:func:`_told`), by its own rule (:func:`reason_to_skip`)."""
    if (told := _told(findings)) is None or reason_to_skip(told, 1.0, shortest=0) is not None:
        return None
    return "damage" if reason_to_skip(told, amount=1.0) is None else "produced"


def _told(findings: dict[str, Any]) -> RoomEstimate | None:
    """The room blind dereverb would be told (:meth:`RoomEstimate.lengthened_only`: where the
    free decays read it shorter, the regression's reading); ``None`` where none was read."""
    found = findings.get("reverb")
    return RoomEstimate.from_dict(found).lengthened_only() if found else None


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
