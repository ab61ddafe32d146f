"""An action launched again while it runs. The daemon launches 'Import finished renders' after
every job, also while an earlier Import still watches the jobs whose client it started again:
REAPER would stop the session with its "already running" dialog. From REAPER 7.03 the script
says what a launch does (reaper.set_action_options): Import ends the running one and starts
anew, taking over its jobs; an older REAPER lacks the call, and Import works as before. The
stand-in accepts only the documented flags and acts a launch out by them (harness.lua)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script
from test_edits_and_orphans import orphan

pytestmark = pytest.mark.lua

IMPORT = script("Import finished renders")
PLACED = "Import finished renders: 1 render(s) placed."


def orphan_fetched_slowly(tmp_path: Path) -> tuple[dict, list, Path]:
    """A job whose client died with its shell after saying "running" (its action stopped, REAPER
    closed); started again, the client takes 3 s to fetch the render."""
    state, tracks = orphan(tmp_path, then="sleep 3\n")
    (job,) = (tmp_path / "jobs").iterdir()
    return state, tracks, job


def import_twice(tmp_path: Path, **extra) -> tuple[dict, Path]:
    """Import, and Import again (the daemon's trigger) while the first watches the client it
    started again."""
    state, tracks, job = orphan_fetched_slowly(tmp_path)
    runs = [{"script": IMPORT}, {"script": IMPORT, "cycle": 10}]
    report = run_scripts(tmp_path, tracks, runs, extstate=state, name="imports", max_seconds=30,
                         **extra)  # fmt: skip
    assert report["errors"] == [] and report["messages"] == []
    return report, job


def test_import_launched_again_takes_over_without_a_dialog(tmp_path: Path) -> None:
    report, job = import_twice(tmp_path)
    assert report["running_dialogs"] == []
    assert report["action_options"] == [{"script": str(IMPORT), "flags": 3}] * 2
    # the first Import was ended before the render came; the second placed it, once
    assert report["console"].count(PLACED) == 1
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]
    # the client was started again once, by the first Import: the second watched it
    assert report["exec"].count(f"/bin/sh '{job}/submit.sh'") == 1
    assert report["extstate"]["DiffMusic"]["pending"] == ""
    assert not [k for k in report["extstate"]["DiffMusic"] if k.startswith("beat.")]


def test_an_older_reaper_asks_and_import_works_as_before(tmp_path: Path) -> None:
    """No set_action_options: REAPER's dialog (answered "new instance"), and the first Import
    places the render the second leaves to it."""
    report, _ = import_twice(tmp_path, absent_api=["set_action_options"])
    assert report["running_dialogs"] == [str(IMPORT)]
    assert report["action_options"] == []
    watched = "'take' (phase): a running DiffMusic action watches it and will place it"
    assert watched in report["console"]
    assert report["console"].count(PLACED) == 1
    assert len(report["tracks"][0]["items"][0]["takes"]) == 2


# A script that watches for 10 defer cycles, says when it starts, when it is done (its last
# cycle) and when it ends (atexit).
WATCHER = """FLAGS
reaper.ShowConsoleMsg("start\\n")
reaper.atexit(function() reaper.ShowConsoleMsg("exit\\n") end)
local left = 10
local function step()
  left = left - 1
  if left > 0 then reaper.defer(step) else reaper.ShowConsoleMsg("done\\n") end
end
step()
"""


@pytest.mark.parametrize(
    ("flags", "console", "dialogs"),
    [
        # asked: both run (the stand-in calls a path's atexit functions when its last instance
        # ends; REAPER, each instance's at its own end: start start done exit done exit)
        ("", "start\nstart\ndone\ndone\nexit\nexit\n", 1),
        ("reaper.set_action_options(1)", "start\nexit\n", 0),  # the launch ends it: a toggle
        ("reaper.set_action_options(1 | 2)", "start\nexit\nstart\ndone\nexit\n", 0),
        ("reaper.set_action_options(1 | 4)", "start\nexit\n", 0),
        ("reaper.set_action_options(2)", "start\ndone\nexit\n", 0),  # ignored: it goes on
    ],
)
def test_the_stand_in_acts_a_launch_out_by_the_documented_flags(
    tmp_path: Path, flags: str, console: str, dialogs: int
) -> None:
    watcher = tmp_path / "watcher.lua"
    watcher.write_text(WATCHER.replace("FLAGS", flags))
    report = run_scripts(tmp_path, [], [{"script": watcher}, {"script": watcher, "cycle": 3}])
    assert report["errors"] == []
    assert report["console"] == console
    assert len(report["running_dialogs"]) == dialogs


@pytest.mark.parametrize("flags", ["0", "16", "1.5", "4 | 8", "'1'"])
def test_the_stand_in_refuses_undocumented_flags(tmp_path: Path, flags: str) -> None:
    bad = tmp_path / "bad.lua"
    bad.write_text(f"reaper.set_action_options({flags})\n")
    (error,) = run_scripts(tmp_path, [], [{"script": bad}])["errors"]
    assert "reaper.set_action_options: " in error["error"]
