"""A job no action watches is judged by its client's life, not by a clock: a live client (still
waiting, fetching or writing a big render) is left to finish, also where ps cannot tell; one
gone (its process gone or its id another process's; for a job of an earlier version, no
process holding its job id) is started again in the background, once, and its render placed by
the same Import; where ps cannot tell, the daemon says. Cancel asks the daemon in the
background and says for how many jobs it had no answer, and a cancel is not wiped by an action
started after it."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item, write_script
from test_edits_and_orphans import RUNNING, orphan, source, stand_in

pytestmark = pytest.mark.lua

FINISHED = "status) printf"


def stopped_action(tmp_path: Path) -> tuple[dict, list, Path]:
    """A job whose client lives on for 6 s after its action was stopped (REAPER closed)."""
    body = RUNNING + 'echo "$$" >> "' + str(tmp_path / "runs") + '"; '
    body += 'if [ ! -f "$status.once" ]; then touch "$status.once"; sleep 6; fi\n'
    settings = stand_in(tmp_path, body)
    tracks = [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}]
    first = run_scripts(
        tmp_path, tracks, [{"script": script("Rebuild phase of selected items"), "kill_cycle": 20}],
        extstate=settings, name="first", max_seconds=30,
    )  # fmt: skip
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    (job,) = (tmp_path / "jobs").iterdir()
    return state, tracks, job


def fake_ps(tmp_path: Path, monkeypatch, body: str) -> None:
    """A `ps` that does BODY, first on the PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    write_script(folder / "ps", "#!/bin/sh\n" + body + "\n")
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def imported(tmp_path: Path, tracks: list, state: dict, name: str) -> dict:
    """The report of one run of 'Import finished renders'."""
    runs = [{"script": script("Import finished renders")}]
    return run_scripts(tmp_path, tracks, runs, extstate=state, name=name, max_seconds=30)


def wait_for(path: Path, seconds: float = 10.0) -> None:
    """Until ``path`` exists (a background status query's exit file), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


# procps exits 1 on an option it lacks as on a pid it has not; busybox ps has no -p nor -ww
BUSYBOX = "echo 'ps: invalid option -- w' >&2; exit 1"


@pytest.mark.parametrize("ps", [None, BUSYBOX], ids=["ps", "busybox-ps"])
def test_import_leaves_a_live_client_alone(tmp_path: Path, monkeypatch, ps) -> None:
    """Its status file is not final and it has no exit file, as a gone client's: it is not
    started a second time (two clients had written one render), whether ps can tell it runs or
    not (kill -0 says its process is there)."""
    state, tracks, job = stopped_action(tmp_path)
    if ps:
        fake_ps(tmp_path, monkeypatch, ps)
    began = time.monotonic()
    report = imported(tmp_path, tracks, state, "import")
    assert time.monotonic() - began < 5  # no wait for the client
    assert len((tmp_path / "runs").read_text().split()) == 1
    assert not [c for c in report["exec"] if "submit" in c or "status" in c]
    assert report["messages"] == []
    assert (
        "imported 0 render(s); 1 job(s) pending: 'take' (phase): its client is still at work."
        in report["console"]
    )
    assert report["extstate"]["DiffMusic"]["pending"] == state["pending"]


def legacy(job: Path) -> None:
    """The job as an earlier version started it: its submit.sh recorded no process id."""
    text = (job / "submit.sh").read_text()
    (job / "submit.sh").write_text(re.sub(r" &\necho \$! > .*\nwait \$!\n", "\n", text))
    (job / "submit.pid").unlink()


def test_a_gone_client_of_an_earlier_version_is_started_again(tmp_path: Path) -> None:
    """No process's arguments hold its job id: its client is gone, and its render fetched."""
    state, tracks = orphan(tmp_path)
    (job,) = (tmp_path / "jobs").iterdir()
    legacy(job)
    report = imported(tmp_path, tracks, state, "import")
    assert "Import finished renders: 1 render(s) placed." in report["console"]
    assert len(report["tracks"][0]["items"][0]["takes"]) == 2


def test_without_ps_the_daemon_says_whether_a_job_ended(tmp_path: Path, monkeypatch) -> None:
    """Its client's life cannot be told: said so, the daemon asked in the background, and the
    next Import fetches a job the daemon has ended."""
    state, tracks = orphan(tmp_path)
    (job,) = (tmp_path / "jobs").iterdir()
    legacy(job)
    fake_ps(tmp_path, monkeypatch, "exit 127")
    first = imported(tmp_path, tracks, state, "import")
    assert (
        "1 job(s) pending: 'take' (phase): whether its client still runs cannot be told (ps did "
        "not answer) and the daemon has not said it ended: it is asked now; run 'DiffMusic - "
        "Import finished renders' again in a moment." in first["console"]
    )
    wait_for(job / "status.exit")
    report = imported(tmp_path, tracks, state, "import2")
    assert "Import finished renders: 1 render(s) placed." in report["console"]
    assert len(report["tracks"][0]["items"][0]["takes"]) == 2


def test_a_client_whose_life_cannot_be_told_is_not_doubled_when_its_job_just_ended(
    tmp_path: Path, monkeypatch
) -> None:
    """No process id and no ps: the daemon says the job has just finished, but its client may
    still be fetching and writing the render (a review: a second client had been started beside
    the live one). It is left alone, said so, until 120 s after the daemon ended the job."""
    state, tracks, job = stopped_action(tmp_path)
    (job / "submit.pid").unlink()
    fake_ps(tmp_path, monkeypatch, "exit 127")
    monkeypatch.setenv("STAND_IN_AGE", "1")
    imported(tmp_path, tracks, state, "import")
    wait_for(job / "status.exit")
    second = imported(tmp_path, tracks, state, "import2")
    assert len((tmp_path / "runs").read_text().split()) == 1
    assert "it may still be writing the render" in second["console"]


def test_a_pid_given_to_another_process_is_no_client(tmp_path: Path) -> None:
    state, tracks = orphan(tmp_path)
    (job,) = (tmp_path / "jobs").iterdir()
    other = subprocess.Popen(["sleep", "30"])
    try:
        (job / "submit.pid").write_text(f"{other.pid}\n")
        report = imported(tmp_path, tracks, state, "import")
    finally:
        other.kill()
        other.wait()
    assert "Import finished renders: 1 render(s) placed." in report["console"]


def test_import_fetches_an_orphan_at_once(tmp_path: Path) -> None:
    """The daemon triggers Import when a job finishes (OSC): the job of a client that died is
    fetched and placed by that Import, whenever the daemon finished it."""
    state, tracks = orphan(tmp_path)
    cli = Path(stand_in(tmp_path)["cli"])
    cli.write_text(cli.read_text().replace("- 60", "- 0"))  # finished just now
    report = imported(tmp_path, tracks, state, "import")
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
        "cancelled, the daemon's state of them not had: 'take' (no daemon answers at :5555); "
        "run 'DiffMusic - Cancel running jobs' again once the daemon answers" in report["console"]
    )
    # asked in the background (its script), not waited for
    assert [c for c in report["exec"] if "status" in c] == [
        f"/bin/sh '{tmp_path / 'jobs' / state['pending']}/status.sh'"
    ]


def test_an_action_started_after_a_cancel_leaves_it_to_the_others(tmp_path: Path) -> None:
    """Cancel runs, then another action starts before the running one has read the cancel: the
    new action's watch does not wipe it (the running one had placed its render) nor takes it."""
    settings = stand_in(tmp_path, RUNNING + "sleep 2\n")
    tracks = [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}]
    report = run_scripts(
        tmp_path, tracks,
        [{"script": script("Rebuild phase of selected items")},
         {"script": script("Cancel running jobs"), "cycle": 4},
         {"script": script("Rebuild phase of selected items"), "cycle": 4}],
        extstate=settings, name="cancel", max_seconds=30,
    )  # fmt: skip
    assert report["console"].count("cancelled; nothing was changed.") == 1
    assert "Rebuild phase: 1 render(s) placed." in report["console"]
    assert len(report["tracks"][0]["items"][0]["takes"]) == 2
