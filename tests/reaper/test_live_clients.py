"""A job no action watches is judged by its client's life, not by a clock: a live client (still
waiting, fetching or writing a big render) is left to finish, one gone is started again in the
background, once, and its render placed by the same Import; Cancel asks the daemon in the
background and says for how many jobs it had no answer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item
from test_edits_and_orphans import RUNNING, orphan, source, stand_in

pytestmark = pytest.mark.lua

NOT_FOUND = """printf '{"event": "error", "message": "daemon: not-found: no job"}\\n'; exit 1"""
FINISHED = "status) printf"


def stopped_action(tmp_path: Path, status: str | None = None) -> tuple[dict, list, Path]:
    """A job whose client lives on for 6 s after its action was stopped (REAPER closed), the
    daemon answering `status` with STATUS (None: finished a minute ago)."""
    body = RUNNING + 'echo "$$" >> "' + str(tmp_path / "runs") + '"; '
    body += 'if [ ! -f "$status.once" ]; then touch "$status.once"; sleep 6; fi\n'
    settings = stand_in(tmp_path, body)
    if status:
        cli = Path(settings["cli"])
        answer = "status) " + status + " ;;\n  nothing)"
        cli.write_text(cli.read_text().replace(FINISHED, answer, 1))
    tracks = [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}]
    first = run_scripts(
        tmp_path, tracks, [{"script": script("Rebuild phase of selected items"), "kill_cycle": 20}],
        extstate=settings, name="first", max_seconds=30,
    )  # fmt: skip
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    (job,) = (tmp_path / "jobs").iterdir()
    return state, tracks, job


@pytest.mark.parametrize("status", [None, NOT_FOUND], ids=["finished", "not-found"])
def test_import_leaves_a_live_client_alone(tmp_path: Path, status) -> None:
    """Its status file is not final and it has no exit file, as a gone client's: it is not
    started a second time (two clients had written one render) nor, created long ago and unknown
    to the daemon (a daemon restarted without its journal, another connection), failed."""
    state, tracks, job = stopped_action(tmp_path, status)
    record = json.loads((job / "job.json").read_text())
    (job / "job.json").write_text(json.dumps({**record, "created": record["created"] - 600}))
    began = time.monotonic()
    report = run_scripts(tmp_path, tracks, [{"script": script("Import finished renders")}],
                         extstate=state, name="import", max_seconds=30)  # fmt: skip
    assert time.monotonic() - began < 5  # no wait for the client
    assert len((tmp_path / "runs").read_text().split()) == 1
    assert not [c for c in report["exec"] if "submit" in c or "status" in c]
    assert report["messages"] == []
    assert (
        "imported 0 render(s); 1 job(s) pending: 'take' (phase): its client is still at work."
        in report["console"]
    )
    assert report["extstate"]["DiffMusic"]["pending"] == state["pending"]


def test_import_fetches_an_orphan_at_once(tmp_path: Path) -> None:
    """The daemon triggers Import when a job finishes (OSC): the job of a client that died is
    fetched and placed by that Import, whenever the daemon finished it."""
    state, tracks = orphan(tmp_path)
    cli = Path(stand_in(tmp_path)["cli"])
    cli.write_text(cli.read_text().replace("- 60", "- 0"))  # finished just now
    report = run_scripts(tmp_path, tracks, [{"script": script("Import finished renders")}],
                         extstate=state, name="import", max_seconds=30)  # fmt: skip
    assert report["messages"] == []
    assert (
        "1 job(s) whose client had ended: started again to fetch their renders, placed when they "
        "are done." in report["console"]
    )
    assert "Import finished renders: 1 render(s) placed." in report["console"]
    assert len(report["tracks"][0]["items"][0]["takes"]) == 2


def test_cancel_says_for_how_many_jobs_the_daemon_did_not_answer(tmp_path: Path) -> None:
    state, tracks = orphan(tmp_path)
    cli = Path(stand_in(tmp_path)["cli"])
    down = """printf '{"event": "error", "message": "no daemon answers at :5555"}\\n'"""
    cli.write_text(cli.read_text().replace(FINISHED, "status) " + down + "; exit 1 ;;\n  x)", 1))
    report = run_scripts(tmp_path, tracks, [{"script": script("Cancel running jobs")}],
                         extstate=state, name="cancel", max_seconds=30)  # fmt: skip
    assert (
        "cancel sent for 0 job(s); 0 more cancelled by the action watching them. 1 job(s) not "
        "cancelled: the daemon did not answer for them: 'take' (no daemon answers at :5555); "
        "run 'DiffMusic - Cancel running jobs' again once it runs" in report["console"]
    )
    # asked in the background (its script), not waited for
    assert [c for c in report["exec"] if "status" in c] == [
        f"/bin/sh '{tmp_path / 'jobs' / state['pending']}/status.sh'"
    ]
