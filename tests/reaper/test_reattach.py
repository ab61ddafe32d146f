"""Jobs that outlive what watched them. A client that dies without a final state (REAPER quit,
the machine slept, a kill) leaves its job on the daemon: the job's submit is started again
once, which attaches to it by its id. A job whose item is gone is said once and forgotten; one
of another project is left for that project's Import."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import read_wav, run_scripts, script, take_item, write_script, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 8000
# Stand-ins for `diffmusic submit`: read the status file and output from the arguments, do
# BODY, then finish the job with the sent audio as the render.
ARGUMENTS = """#!/bin/sh
input="$2"; status=""; out=""
while [ $# -gt 0 ]; do
  case "$1" in --status-file) status="$2"; shift ;; -o) out="$2"; shift ;; esac
  shift
done
"""
FINISH = """cp "$input" "$out"
printf '{"state": "finished", "fraction": 1, "outputs": ["%s"]}' "$out" > "$status"
"""
RUNNING = """printf '{"state": "running", "fraction": 0.5}' > "$status"
"""
# dies (SIGKILL) after saying "running" on its first run for a job (on every run with ALWAYS)
DIES = """if [ ! -f "$status.once" ] || [ -n "ALWAYS" ]; then
  touch "$status.once"; RUNNING  kill -9 $$
fi
""".replace("RUNNING  ", RUNNING)


def stand_in(folder: Path, body: str) -> str:
    return write_script(folder / "diffmusic-stand-in", ARGUMENTS + body + FINISH)


def run_with_dying_client(tmp_path: Path, always: bool) -> tuple[dict, np.ndarray]:
    cli = stand_in(tmp_path, DIES.replace("ALWAYS", "yes" if always else ""))
    audio = music_excerpt(1.0, SR, 1, seed=4)
    source = write_wav(tmp_path / "a.wav", audio, SR)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items")}], extstate={"cli": cli},
        max_seconds=60,
    )  # fmt: skip
    return report, audio


def test_a_killed_client_is_started_again_and_its_render_placed(tmp_path: Path) -> None:
    report, audio = run_with_dying_client(tmp_path, always=False)
    assert report["errors"] == [] and report["messages"] == [], report["messages"]
    assert len(report["exec"]) == 2 and report["exec"][0] == report["exec"][1]  # the same script
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]
    np.testing.assert_array_equal(read_wav(takes[1]["file"])[0], audio)


def test_a_client_killed_twice_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    report, _ = run_with_dying_client(tmp_path, always=True)
    assert len(report["exec"]) == 2  # once again, not forever
    (message,) = report["messages"]
    assert message["message"].startswith("Rebuild phase: 0 of 1 done.\n\n'take': ")
    assert len(report["tracks"][0]["items"][0]["takes"]) == 1


def test_a_job_whose_item_is_gone_is_said_once_and_one_of_another_project_is_kept(
    tmp_path: Path,
) -> None:
    """Another project saved in the same folder (so the same media path) leaves the job alone;
    its own project, the item deleted, says so once and forgets it (every Import had said it
    again)."""
    cli = stand_in(tmp_path, RUNNING + 'while [ ! -f "$status.go" ]; do sleep 0.05; done\n')
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=4), SR)
    song, other_song = str(tmp_path / "song.rpp"), str(tmp_path / "other.rpp")
    # the action is stopped (REAPER closed) while its client waits: the job waits for Import
    first = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items"), "kill_cycle": 8}],
        extstate={"cli": cli}, name="first", project_file=song,
    )  # fmt: skip
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    (job_id,) = state["pending"].split()
    status = Path(state[f"job.{job_id}"]) / "status.json"
    Path(f"{status}.go").touch()  # the client finishes now
    deadline = time.monotonic() + 30
    while "finished" not in (status.read_text() if status.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    runs = {}
    for name, project in (("other", other_song), ("gone", song)):  # the item deleted
        runs[name] = run_scripts(
            tmp_path, [], [{"script": script("Import finished renders")}], extstate=state,
            name=name, max_seconds=30, project_file=project,
        )  # fmt: skip
    other, gone = runs["other"], runs["gone"]
    # said in the console, not a message box: the daemon may trigger Import after every job
    assert f"DiffMusic: 'take' is in another project ({song})" in other["console"]
    assert other["messages"] == []
    assert other["extstate"]["DiffMusic"]["pending"] == job_id  # kept for that project
    assert "the item of 'take' is gone; the render is in" in gone["messages"][0]["message"]
    assert gone["extstate"]["DiffMusic"]["pending"] == ""  # said once: no longer tracked
