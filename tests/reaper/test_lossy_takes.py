"""An MP3's take is exported as a float WAV, which no longer says that it was lossy coded: the
actions read the take's source type (GetMediaSourceType; a section's parent) and pass
``--lossy`` to the commands that find or fill dropouts (``diagnose``, and a submit with ``--gap``:
``auto`` reads the codec's dips, and a gap over one channel's dip fills that channel alone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item, write_script, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100
NOTHING_FOUND = {"event": "diagnosis", "reverb": None, "bandwidth": {"cutoff_hz": None},
                 "dropouts": [], "pauses": [], "clicks": [], "clipping": None}  # fmt: skip


def lossy_item(source: Path, position: float, name: str, source_type: str, section: bool) -> dict:
    item = take_item(source, position, 1.0, name=name)
    item["takes"][0].update(source_type=source_type, section=section)
    return item


def test_find_damage_passes_lossy_for_an_mp3_take_only(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=1), SR)
    cli = write_script(
        tmp_path / "diffmusic-stand-in",
        f"#!/bin/sh\necho '{json.dumps(NOTHING_FOUND)}'\n",
    )
    kinds = {"mp3": ("MP3", False), "mp3 section": ("MP3", True), "wav": ("WAVE", False),
             "wav section": ("WAVE", True), "flac": ("FLAC", False)}  # fmt: skip
    tracks = [
        {"name": name, "items": [lossy_item(source, 2.0 * i, name, *kind)]}
        for i, (name, kind) in enumerate(kinds.items())
    ]
    report = run_scripts(tmp_path, tracks, [{"script": script("Find damage in selected items")}],
                         extstate={"cli": cli})  # fmt: skip
    assert report["errors"] == [] and report["messages"] == [], report
    passed = {}
    for job in (tmp_path / "project" / "DiffMusic").iterdir():
        label = json.loads((job / "job.json").read_text())["item_label"]
        passed[label] = "'--lossy'" in (job / "diagnose.sh").read_text()
    assert passed == {"mp3": True, "mp3 section": True, "wav": False, "wav section": False,
                      "flac": False}  # fmt: skip


@pytest.mark.parametrize(("name", "source_type"), [("mp3", "MP3"), ("wav", "WAVE")])
def test_find_damage_names_a_gates_offs_it_left_alone(
    tmp_path: Path, name: str, source_type: str
) -> None:
    """A report whose only finding is a train of dips left alone as a gate's offs marks no
    region, and the console names its dips (item time) and how to have them repaired: an MP3
    take's (a codec's dips) and a WAV take's (even runs of digital silence) alike."""
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=1), SR)
    dips = [{"start": 0.2 + 0.15 * i, "end": 0.215 + 0.15 * i} for i in range(4)]
    found = {**NOTHING_FOUND, "gates": [{"start": 0.2, "end": 0.665, "dips": dips}]}
    cli = write_script(tmp_path / "diffmusic-stand-in", f"#!/bin/sh\necho '{json.dumps(found)}'\n")
    tracks = [{"name": name, "items": [lossy_item(source, 0.0, name, source_type, False)]}]
    report = run_scripts(tmp_path, tracks, [{"script": script("Find damage in selected items")}],
                         extstate={"cli": cli})  # fmt: skip
    assert report["errors"] == [] and report["messages"] == [], report
    assert f"'{name}': 0 damage region(s) marked" in report["console"]
    assert (f"'{name}': 1 train(s) of dips left alone as a stutter gate's offs, not marked (dips "
            "0.200-0.215 s, 0.350-0.365 s, 0.500-0.515 s, 0.650-0.665 s into the item): listen; "
            'if they are dropouts, draw a region named "DiffMusic: dropout" over each dip'
            ) in report["console"]  # fmt: skip


LIB = Path(__file__).parents[2] / "reaper_scripts/lib/diffmusic"


@pytest.mark.parametrize(
    ("lossy", "flags", "passed"),
    [(True, ["--gap", "auto"], True), (True, ["--gap", "1.0:1.02"], True),
     (True, ["--click", "1.0:1.02"], False), (False, ["--gap", "auto"], False),
     (False, ["--gap", "1.0:1.02"], False)],
)  # fmt: skip
def test_a_submit_with_gaps_passes_lossy(lossy: bool, flags: list[str], passed: bool) -> None:
    """A region's gap on an MP3's take is sent ``--lossy`` as ``--gap auto`` is: the engine names
    the channel a one-channel dropout dipped on only where it is told the take was lossy coded
    (:func:`diffmusic_engine.diagnose.coded.dipped_channels`), and had filled every channel of
    the regions Find damage marked on one. Not for a click, nor a take that was not lossy coded."""
    from lupa import lua54

    lua = lua54.LuaRuntime()
    lua.execute("reaper = {GetOS = function() return 'Linux' end}")
    use = lua.eval(
        "function(folder) local loaded = {}; local use; use = function(name) if not loaded[name] "
        "then loaded[name] = assert(loadfile(folder .. name .. '.lua'))(use) end; "
        "return loaded[name] end; return use end"
    )(f"{LIB}/")
    runner = use("runner")
    settings = lua.table_from({"cli": "diffmusic", "connection_file": "", "preset": "",
                               "backend": "dsp", "model": "", "steps": ""})  # fmt: skip
    job = lua.table_from({"input": "in.wav", "task": "inpaint", "flags": lua.table_from(flags),
                          "lossy": lossy, "id": "j", "output": "o.wav",
                          "status": "s.json"})  # fmt: skip
    args = list(runner.submit_arguments(job, settings).values())
    assert args[:6] == ["diffmusic", "submit", "in.wav", "--task", "inpaint", *flags[:1]]
    assert ("--lossy" in args) == passed
