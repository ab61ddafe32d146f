"""A new take plays its render through the FX of the take it was read from.

An audio accessor reads a take "immediately pre-FX" (the ReaScript documentation of
GetAudioAccessorSamples), so a render holds none of the take's FX. A user trial: a take with
an EQ and a compressor in its FX chain got a restored take with an empty chain, and switching
to it (the action makes it active) played the item dry, everywhere, with no word said. The new
take gets a copy of the chain of the take that was read (not another take's, and the original
keeps its own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100
CHAIN = ["VST: ReaEQ (Cockos)", "VST: ReaComp (Cockos)"]
OTHER = ["JS: Volume Adjustment"]  # on a take that is not read: must not be copied


def chain(take: dict) -> list[str]:
    return list(take["fx"] or [])  # an empty Lua table reads as {} or []


def test_a_restored_take_keeps_the_read_take_s_fx_chain(tmp_path: Path, daemon: dict) -> None:
    damaged = music_excerpt(1.0, SR, 2, seed=3)
    damaged[:, int(0.5 * SR) : int(0.515 * SR)] = 0  # a 15 ms dropout
    source = write_wav(tmp_path / "a.wav", damaged, SR)
    with_fx = take_item(source, 1.0, 1.0, name="eq'd")
    # an earlier take (not active, not read) with its own chain before the one read
    with_fx["takes"].insert(0, {**with_fx["takes"][0], "name": "older", "fx": OTHER})
    with_fx["takes"][1]["fx"] = CHAIN
    with_fx["active_take"] = 2
    dry = take_item(source, 1.0, 1.0, name="dry")
    report = run_scripts(
        tmp_path,
        [{"name": "Eq", "items": [with_fx]}, {"name": "Dry", "items": [dry]}],
        [{"script": script("Restore dropout in time selection")}],
        extstate={**daemon, "context": "0.3"},
        time_selection=(1.5, 1.515),
    )
    assert report["errors"] == [] and report["messages"] == [], json.dumps(report)[:3000]
    assert report["undo_points"] == ["DiffMusic: restore dropout"]
    older, read, restored = report["tracks"][0]["items"][0]["takes"]
    assert restored["name"] == "eq'd (DiffMusic dropout restore)" and restored["active"]
    assert chain(restored) == CHAIN  # the read take's chain, in its order
    assert chain(read) == CHAIN and chain(older) == OTHER  # copied, not moved
    dry_takes = report["tracks"][1]["items"][0]["takes"]
    assert len(dry_takes) == 2 and chain(dry_takes[1]) == []
    copies = [c for c in report["changes"] if c["what"] == "TakeFX_CopyToTake"]
    assert len(copies) == len(CHAIN) and all(c["in_undo_block"] for c in copies)
