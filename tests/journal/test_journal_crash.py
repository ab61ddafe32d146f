"""kill -9 of a process writing to the journal loses no acknowledged job and leaves no torn blob."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from crash_child import crash_input, crash_output

from bridge.journal import JobState, Journal
from bridge.journal.blobs import TEMP_SUFFIX

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def run_until_killed(directory: Path, first: int, acks: int, seed: int) -> tuple[set, set]:
    """Start the child, wait for ``acks`` acknowledged submits, then SIGKILL it at a random
    moment. Returns the indices it acknowledged as submitted and as finished."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), str(directory), str(first)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    submitted, finished = set(), set()
    deadline = time.monotonic() + 20.0
    try:
        while len(submitted) < acks and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            kind, index = line.split()
            (submitted if kind == "submitted" else finished).add(int(index))
        time.sleep(random.Random(seed).uniform(0.0, 0.02))  # land anywhere in the next write
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        # Acknowledgements printed before the kill are still in the pipe.
        for line in child.stdout.read().splitlines():
            kind, index = line.split()
            (submitted if kind == "submitted" else finished).add(int(index))
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert len(submitted) >= acks, "the child did not acknowledge enough jobs in time"
    return submitted, finished


def check_journal(directory: Path, submitted: set, finished: set) -> None:
    with Journal(directory) as journal:
        # No temp file survives opening; every file left is one a committed row names.
        assert not list((directory / "blobs").rglob(f"*{TEMP_SUFFIX}"))
        records = {r.job_id: r for r in journal.list()}
        for index in submitted:
            record = records[f"job-{index}"]  # every acknowledged job is there
            assert record.request == {"index": index}
            stored = journal.inputs(record.job_id)["audio"]
            assert stored.tobytes() == crash_input(index).tobytes()
        for index in finished:
            record = records[f"job-{index}"]
            assert record.state is JobState.FINISHED and record.details == {"index": index}
            assert journal.outputs(record.job_id)[0].tobytes() == crash_output(index).tobytes()
        for record in records.values():  # including jobs committed but not yet acknowledged
            index = record.request["index"]
            assert journal.inputs(record.job_id)["audio"].tobytes() == crash_input(index).tobytes()
            for output in journal.outputs(record.job_id):
                assert output.tobytes() == crash_output(index).tobytes()
        referenced = sum(1 + r.n_outputs for r in records.values())
        assert len([p for p in (directory / "blobs").rglob("*") if p.is_file()]) == referenced
        # At most the job being finished at the kill was running; recover requeues it.
        resumed = journal.recover().queued
        assert not journal.list([JobState.RUNNING])
        assert {r.job_id for r in resumed} == {
            job for job, r in records.items() if r.state in (JobState.QUEUED, JobState.RUNNING)
        }


def test_kill_minus_9_loses_no_acknowledged_job(tmp_path):
    directory = tmp_path / "journal"
    submitted, finished = run_until_killed(directory, 0, acks=12, seed=0)
    check_journal(directory, submitted, finished)


# -- deterministic crash points ------------------------------------------------------------------
#
# The random kill above lands mostly inside the slow fsyncs. To show the write ORDER is right, a
# forked child (everything already imported, so each run costs milliseconds) SIGKILLs itself at
# the k-th step for every k: before each np.save / os.fsync / os.replace and after each SQLite
# statement. Committing a row before its blobs, or acknowledging before the commit, fails here.
# The second job's audio is staged (written by the journal's thread before submit checks it).
# A killed process loses nothing the kernel already holds, so the child skips the real fsyncs
# (each still a crash point) and SQLite's: what this test checks is the order, and it stays fast.

TTL = 100.0


def _crash_point_child(directory: Path, point: int, ack_fd: int) -> None:
    """Run a fixed workload, killing this process at step ``point``; report acks on ``ack_fd``."""
    import numpy as np

    import bridge.journal.records as journal_module

    calls = 0
    lock = threading.Lock()  # staged audio is written by the journal's own thread

    def step() -> None:
        nonlocal calls
        with lock:
            calls += 1
            if calls == point:
                os.kill(os.getpid(), signal.SIGKILL)

    def before(function):
        def wrapped(*args, **kwargs):
            step()
            return function(*args, **kwargs)

        return wrapped

    class Statements:  # the journal's connection, with a step after every statement
        def __init__(self, db) -> None:
            self.db = db

        def execute(self, *args):
            result = self.db.execute(*args)
            step()
            return result

    np.save = before(np.save)
    os.fsync = before(lambda fd: None)
    os.replace = before(os.replace)
    journal_module.JobTable._connection = lambda self: Statements(self._db)

    def ack(text: str) -> None:
        os.write(ack_fd, f"{text}\n".encode())

    now = [1000.0]
    journal = Journal(directory, result_ttl=TTL, clock=lambda: now[0])
    journal._records._db.execute("PRAGMA synchronous=OFF")
    for index in range(2):
        audio = crash_input(index)
        staged = journal.stage([audio.tobytes()]) if index == 1 else None  # as the daemon does
        journal.submit(f"job-{index}", {"index": index}, {"audio": audio}, staged=staged)
        ack(f"submitted {index}")
        journal.mark_running(f"job-{index}")
        journal.finish(f"job-{index}", [crash_output(index)], {"index": index})
        ack(f"finished {index}")
    now[0] += TTL + 1.0
    journal.expire()
    ack("expired 0")
    journal.close()
    ack(f"steps {calls}")


def _run_crash_point(directory: Path, point: int) -> tuple[list[str], int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        code = 1
        try:
            _crash_point_child(directory, point, write_fd)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as acks:
        lines = acks.read().splitlines()
    _, status = os.waitpid(pid, 0)
    return lines, status


def test_every_crash_point_leaves_a_consistent_journal(tmp_path):
    empty = tmp_path / "empty"  # created once (creating a database costs several fsyncs)
    Journal(empty).close()
    shutil.copytree(empty, tmp_path / "full")
    lines, status = _run_crash_point(tmp_path / "full", point=0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    steps = int(lines[-1].split()[1])
    assert steps > 20  # every blob write, fsync, rename and statement is a crash point

    for point in range(1, steps + 1):
        directory = tmp_path / f"point-{point}"
        shutil.copytree(empty, directory)
        lines, status = _run_crash_point(directory, point)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        acked = {tuple(line.split()) for line in lines}
        with Journal(directory, result_ttl=TTL, clock=lambda: 1000.0) as journal:
            records = {r.job_id: r for r in journal.list()}
            if ("finished", "1") in acked:  # expire ran or was running: all jobs or none
                assert len(records) in (0, 2), f"crash point {point}: expire is not atomic"
                assert ("expired", "0") not in acked or not records, f"crash point {point}"
            else:
                for kind, index in acked:  # every acknowledged step is there
                    record = records.get(f"job-{index}")
                    assert record is not None, f"crash point {point}: acknowledged job lost"
                    if kind == "finished":
                        assert record.state is JobState.FINISHED, f"crash point {point}"
            for job, record in records.items():  # whatever was committed is whole
                index = record.request["index"]
                stored = journal.inputs(job)["audio"]
                assert stored.tobytes() == crash_input(index).tobytes(), f"crash point {point}"
                for output in journal.outputs(job):
                    assert output.tobytes() == crash_output(index).tobytes()
            files = [p for p in (directory / "blobs").rglob("*") if p.is_file()]
            assert len(files) == sum(1 + r.n_outputs for r in records.values()), point
