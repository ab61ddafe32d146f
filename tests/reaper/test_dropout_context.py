"""The dropout action sends enough context for the engine's pattern search (issue 13).

A 1 s dropout in a 40 s item whose music repeats every 2 s: with the default context (30 s on
each side) the script sends [0, gap end + 30 s) of the item, read over defer cycles, and the
engine fills the gap with a repeat of the same material; the new take covers the whole item and
is identical to the original away from the gap. With context "item" the whole item is sent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import read_wav, run_scripts, script, take_item, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100
EDGE = 0.005  # the engine's splice crossfade is at most 5 ms: samples this close may change
PERIOD, REPEATS = 2.0, 20  # a 2 s riff, 20 times: 40 s
GAP = (5.3, 6.3)  # seconds in the item
POSITION = 2.0


def riff_item(
    tmp: Path, seed: int, repeats: int = REPEATS
) -> tuple[np.ndarray, np.ndarray, Path, tuple[int, int]]:
    clean = np.tile(music_excerpt(PERIOD, SR, 1, seed=seed), (1, repeats))  # mono: half the time
    first, stop = round(GAP[0] * SR), round(GAP[1] * SR)
    damaged = clean.copy()
    damaged[:, first:stop] = 0
    return clean, damaged, write_wav(tmp / "riff.wav", damaged, SR), (first, stop)


@pytest.mark.slow
def test_a_1s_dropout_in_a_40s_item_is_filled_from_the_context(
    tmp_path: Path, daemon: dict
) -> None:
    clean, damaged, source, (first, stop) = riff_item(tmp_path, seed=11)
    length = PERIOD * REPEATS
    report = run_scripts(
        tmp_path,
        [{"name": "Riff", "items": [take_item(source, POSITION, length)]}],
        [{"script": script("Restore dropout in time selection")}],
        extstate=daemon,  # no "context": the default, 30 s on each side
        time_selection=(POSITION + GAP[0], POSITION + GAP[1]),
        max_seconds=240,
        sleep=0.01,
    )
    assert report["errors"] == [] and report["messages"] == [], report
    assert report["undo_points"] == ["DiffMusic: restore dropout"]

    # What was sent: the item from its start (5.3 s < 30 s) to 30 s after the gap.
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]
    job = Path(takes[1]["file"]).parent
    sent, rate = read_wav(job / "input.wav")
    c1 = stop + 30 * SR
    assert rate == SR and np.array_equal(sent, damaged[:, :c1])
    assert "'--gap' '5.300000:6.300000'" in (job / "submit.sh").read_text()
    # read over defer cycles (32768 frames a cycle: REAPER's UI never waits on the whole read)
    assert report["cycles"] > c1 // 32768

    # The new take: the whole item, identical away from the gap, the gap filled by the repeat.
    restored, rate = read_wav(takes[1]["file"])
    assert rate == SR and restored.shape == (1, math.ceil(length * SR))
    margin = int(EDGE * SR) + 1
    keep = np.ones(restored.shape[1], dtype=bool)
    keep[first - margin : stop + margin] = False
    assert np.array_equal(restored[:, keep], damaged[:, keep])
    # the hole (relative error 1) becomes the repeated riff (an AR fill of 1 s fades to ~1)
    gap = slice(first, stop)
    error = np.sum((restored[:, gap] - clean[:, gap]) ** 2) / np.sum(clean[:, gap] ** 2)
    assert error < 0.1, error


def test_context_item_sends_the_whole_item(tmp_path: Path) -> None:
    _, damaged, source, (first, stop) = riff_item(tmp_path, seed=12, repeats=4)
    report = run_scripts(
        tmp_path,
        [{"name": "Riff", "items": [take_item(source, POSITION, PERIOD * 4)]}],
        [{"script": script("Restore dropout in time selection")}],
        # no daemon needed: the missing command ends the job after the audio is written
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "context": "item"},
        sleep=0.01,
        time_selection=(POSITION + GAP[0], POSITION + GAP[1]),
    )
    (message,) = report["messages"]
    assert "no-such-diffmusic" in message["message"]
    (job,) = (tmp_path / "project" / "DiffMusic").iterdir()
    sent, _ = read_wav(job / "input.wav")
    assert np.array_equal(sent, damaged)  # the whole item
    assert not (job / "item.wav").exists()  # nothing to splice into: the render is the item
    assert "'--gap' '5.300000:6.300000'" in (job / "submit.sh").read_text()


@pytest.mark.parametrize(("context", "accepted"), [("item", True), ("600", True), ("0.1", True),
                                                    ("601", False), ("-1", False), ("all", False),
                                                    ("0", False)])  # fmt: skip
def test_context_setting_is_checked(tmp_path: Path, context: str, accepted: bool) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=5), SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Restore dropout in time selection")}],
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "context": context},
        time_selection=(0.4, 0.5),
    )
    (message,) = report["messages"]
    if accepted:
        assert "no-such-diffmusic" in message["message"]
    else:
        assert (
            f"context '{context}': expected seconds from 0.1 to 600, or item"
            in (message["message"])
        )


def test_default_context_is_the_engines_search_context() -> None:
    """One default: the REAPER setting, the batch Restorer and the engine's pattern search."""
    from lupa import lua54

    from bridge.batch.restorer import DEFAULTS
    from diffmusic_engine.dsp.pattern import SEARCH_CONTEXT_S

    settings_lua = Path(__file__).parents[2] / "reaper_scripts/lib/diffmusic/settings.lua"
    settings = lua54.LuaRuntime().execute(settings_lua.read_text())
    assert float(settings.DEFAULTS.context) == SEARCH_CONTEXT_S == DEFAULTS["context_seconds"]


@pytest.mark.slow
def test_too_little_context_is_said_in_the_projects_time_and_words(
    tmp_path: Path, daemon: dict
) -> None:
    """With 0.1 s of context the engine finds no passage to fill a 1 s gap from. Its line had
    given the gap's time in the file sent (0.100 s) and the remedy on the command line ("send
    more of the song"): now the gap in the project's time and the setting that sends more."""
    _, _, source, _ = riff_item(tmp_path, seed=13, repeats=4)
    report = run_scripts(
        tmp_path,
        [{"name": "Riff", "items": [take_item(source, POSITION, PERIOD * 4)]}],
        [{"script": script("Restore dropout in time selection")}],
        extstate={**daemon, "context": "0.1"},
        time_selection=(POSITION + GAP[0], POSITION + GAP[1]),
        max_seconds=120,
        sleep=0.01,
    )
    assert report["undo_points"] == []
    (message,) = report["messages"]
    at = f"the gap {POSITION + GAP[0]:.4f}-{POSITION + GAP[1]:.4f} s has no other passage"
    assert at in message["message"], message
    assert "(in REAPER: raise the dropout context in 'DiffMusic - Settings'" in message["message"]
