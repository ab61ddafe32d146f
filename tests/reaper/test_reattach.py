"""A client that dies without a final state (REAPER quit, the machine slept, a kill) leaves its
job on the daemon: the job's submit is started again once, which attaches to it by its id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import read_wav, run_scripts, script, take_item, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 8000
# A `diffmusic` that dies (SIGKILL) after saying "running" on its first submit of a job, and on
# the next one (or every one, with DIE_ALWAYS) finishes it: the sent audio as the render.
STAND_IN = """#!/bin/sh
input="$2"; status=""; out=""
while [ $# -gt 0 ]; do
  case "$1" in --status-file) status="$2"; shift ;; -o) out="$2"; shift ;; esac
  shift
done
if [ ! -f "$status.once" ] || [ -n "{always}" ]; then
  touch "$status.once"
  printf '{{"state": "running", "fraction": 0.5}}' > "$status"
  kill -9 $$
fi
cp "$input" "$out"
printf '{{"state": "finished", "fraction": 1, "outputs": ["%s"]}}' "$out" > "$status"
"""


def run_with_dying_client(tmp_path: Path, always: bool) -> tuple[dict, np.ndarray]:
    cli = tmp_path / "diffmusic-dies"
    cli.write_text(STAND_IN.format(always="yes" if always else ""))
    cli.chmod(0o755)
    audio = music_excerpt(1.0, SR, 1, seed=4)
    source = write_wav(tmp_path / "a.wav", audio, SR)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items")}], extstate={"cli": str(cli)},
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
