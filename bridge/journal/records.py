"""The journal's job records: one SQLite (WAL) table of jobs, their states and live progress.

A row is committed only after the blobs it names are durable (:mod:`bridge.journal.blobs`), so a
committed row never names a missing or torn blob. ``synchronous=FULL``: in WAL mode, NORMAL skips
the fsync of the WAL at commit, which is safe against a killed process but may lose the last
commits on power loss or an OS crash. An acknowledged job must survive both, and one WAL fsync per
commit is small next to the fsync of the audio itself. Progress updates, the only frequent
writes, are throttled instead. A cancel of a running job is committed (``cancel_requested``)
before the daemon acknowledges it, and :meth:`JobTable.recover` cancels such a job instead of
resuming it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.protocol import ACTIVE_STATES, TERMINAL_STATES, JobState
from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.progress import Progress

log = logging.getLogger(__name__)

DATABASE_NAME = "journal.sqlite3"
MAX_ERROR_LENGTH = 2000
SCHEMA_VERSION = 2  # 2: jobs.cancel_requested

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: "oldest first" among equals
    job_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    request TEXT NOT NULL,                  -- JSON object
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    fraction REAL NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    details TEXT NOT NULL DEFAULT '{}',     -- JSON object
    blob_dir TEXT NOT NULL,                 -- folder under blobs/
    inputs TEXT NOT NULL,                   -- JSON {input name: file name}
    outputs TEXT NOT NULL DEFAULT '[]',     -- JSON [file name]
    attempts INTEGER NOT NULL DEFAULT 0,    -- runs interrupted by a daemon crash
    cancel_requested INTEGER NOT NULL DEFAULT 0  -- 1: cancel asked while it ran (see recover)
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, seq);
"""


class JobConflict(DiffMusicError):
    """A job id that is already in the journal was submitted again with a different request."""


class UnknownJob(DiffMusicError):
    """A job id that the journal does not hold (never submitted, or expired)."""


@dataclass(frozen=True)
class JobRecord:
    """One job as the journal holds it; ``fraction``/``step``/``total`` are live while running."""

    job_id: str
    state: JobState
    request: dict
    priority: int
    created: float
    updated: float
    fraction: float
    step: int
    total: int
    error: str | None
    details: dict
    n_outputs: int
    attempts: int


@dataclass(frozen=True)
class Recovery:
    """What :meth:`Journal.recover` did: the jobs to run, in order, and the jobs it cancelled
    (a cancel was requested while they ran, and the daemon stopped before they did)."""

    queued: list[JobRecord]
    cancelled: list[JobRecord]


@dataclass
class _LiveProgress:
    step: int
    total: int
    fraction: float
    written_at: float  # time.monotonic() of the last write to the database


class JobTable:
    """The ``jobs`` table; safe to use from several threads of one process (one lock).

    Args:
        path: the database file (created if missing).
        max_attempts: a job interrupted by more daemon crashes than this is failed by
            :meth:`recover` instead of being run again (a job that crashes the daemon every time).
        progress_interval: at most one database write of progress per job per this many seconds;
            readers of this process always see the latest progress.
        clock: wall clock for ``created``/``updated`` and expiry.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int,
        progress_interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.max_attempts = int(max_attempts)
        self.progress_interval = float(progress_interval)
        self._clock = clock
        self.lock = threading.RLock()
        self._live: dict[str, _LiveProgress] = {}
        self._db: sqlite3.Connection | None = _open_database(path)
        self.closed_message = f"journal {path.parent} is closed"

    def close(self) -> bool:
        """Close the database; False if it was closed already."""
        with self.lock:
            if self._db is None:
                return False
            self._db.close()
            self._db = None
            return True

    # -- rows ------------------------------------------------------------------------------------

    def insert(
        self, job_id: str, request_json: str, priority: int, blob_dir: str, inputs: dict[str, str]
    ) -> bool:
        """A new QUEUED row; False if the id exists (another thread submitted it meanwhile)."""
        now = self._clock()
        with self.lock:
            try:
                self._connection().execute(
                    "INSERT INTO jobs (job_id, state, request, priority, created, updated,"
                    " blob_dir, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, JobState.QUEUED.value, request_json, priority, now, now, blob_dir,
                     json.dumps(inputs)),
                )  # fmt: skip
                return True
            except sqlite3.IntegrityError:
                return False
            except sqlite3.Error as exc:  # e.g. disk full: nothing was acknowledged
                raise DiffMusicError(f"cannot record job {job_id!r} in the journal: {exc}") from exc

    def files(self) -> list[sqlite3.Row]:
        """``blob_dir``, ``inputs`` and ``outputs`` of every row (to find orphaned blobs)."""
        with self.lock:
            return (
                self._connection().execute("SELECT blob_dir, inputs, outputs FROM jobs").fetchall()
            )

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if the journal does not hold it."""
        with self.lock:
            return self._get(job_id)

    def list(self, states: Iterable[JobState] | None = None) -> list[JobRecord]:
        """Jobs in submission order, optionally only those in ``states``."""
        query = "SELECT * FROM jobs"
        params: tuple[str, ...] = ()
        if states is not None:
            params = tuple(JobState(s).value for s in states)
            if not params:
                return []
            query += f" WHERE state IN ({','.join('?' * len(params))})"
        with self.lock:
            rows = self._connection().execute(query + " ORDER BY seq", params).fetchall()
            return [self._record(row) for row in rows]

    def blob_files(self, job_id: str, column: str) -> tuple[str, Any]:
        """The job's blob folder name and the JSON of ``column`` (``inputs`` or ``outputs``)."""
        with self.lock:
            row = self._row(job_id)
            return row["blob_dir"], json.loads(row[column])

    # -- state changes ---------------------------------------------------------------------------

    def mark_running(self, job_id: str) -> bool:
        """QUEUED -> RUNNING. Returns False (and changes nothing) if the job is not queued."""
        changed = self._move_to_start(job_id, JobState.QUEUED, JobState.RUNNING)
        if changed:
            with self.lock:
                self._live[job_id] = _LiveProgress(0, 0, 0.0, time.monotonic())
        return changed

    def progress(self, job_id: str, step: int, total: int) -> None:
        """Record progress of a running job; cheap (a database write at most every interval)."""
        fraction = Progress(step, total).fraction
        now = time.monotonic()
        with self.lock:
            live = self._live.get(job_id)
            if live is None:
                live = self._live[job_id] = _LiveProgress(step, total, fraction, -math.inf)
            live.step, live.total, live.fraction = step, total, fraction
            if now - live.written_at < self.progress_interval:
                return
            live.written_at = now
            self._connection().execute(
                "UPDATE jobs SET fraction = ?, step = ?, total = ? WHERE job_id = ? AND state = ?",
                (fraction, step, total, job_id, JobState.RUNNING.value),
            )

    def finish_target(self, job_id: str) -> tuple[str, int] | None:
        """``(blob folder, total steps)`` of a job that may still finish; None if it ended."""
        with self.lock:
            row = self._row(job_id)
            if JobState(row["state"]) in TERMINAL_STATES:
                log.info("job %s is %s; its outputs are discarded", job_id, row["state"])
                return None
            return row["blob_dir"], row["total"]

    def finish(self, job_id: str, files: list[str], details: dict, total: int) -> bool:
        """Mark the job FINISHED with its durable output ``files``; False if it ended meanwhile."""
        details_json = json.dumps(details, default=_loose_json)
        with self.lock:
            live = self._live.pop(job_id, None)
            return self._update(
                job_id,
                ACTIVE_STATES,
                state=JobState.FINISHED.value,
                outputs=json.dumps(files),
                details=details_json,
                fraction=1.0,
                step=live.total if live else total,
                total=live.total if live else total,
                error=None,
            )

    def fail(self, job_id: str, message: str) -> bool:
        """Mark a queued or running job FAILED with a one-line error message.

        Returns False (and changes nothing) if the job had already ended.
        """
        error = " ".join(str(message).split())[:MAX_ERROR_LENGTH] or "failed"
        with self.lock:
            ended = {"state": JobState.FAILED.value, "error": error, **self._last_progress(job_id)}
            if not self._update(job_id, ACTIVE_STATES, **ended):
                log.info("job %s had already ended; failure not recorded: %s", job_id, error)
                return False
            return True

    def cancel(self, job_id: str) -> bool:
        """Mark a queued or running job CANCELLED; False if it is unknown or already ended."""
        with self.lock:
            ended = {"state": JobState.CANCELLED.value, **self._last_progress(job_id)}
            try:
                return self._update(job_id, ACTIVE_STATES, **ended)
            except UnknownJob:
                return False

    def _last_progress(self, job_id: str) -> dict[str, Any]:
        """The progress columns of a job that ends now (its live progress dropped): its last
        report, not the one last written (up to an interval older: a job cancelled at 15 % had
        said 2.1 %); none when it was not running."""
        live = self._live.pop(job_id, None)
        return {} if live is None else {"fraction": live.fraction, "step": live.step,
                                        "total": live.total}  # fmt: skip

    def requeue(self, job_id: str) -> bool:
        """RUNNING -> QUEUED without counting an attempt: the daemon stopped cleanly (a stop
        the job did not cause, unlike the crashes :meth:`recover` counts). False if the job
        was not running."""
        with self.lock:
            self._live.pop(job_id, None)
            return self._move_to_start(job_id, JobState.RUNNING, JobState.QUEUED)

    def _move_to_start(self, job_id: str, before: JobState, after: JobState) -> bool:
        """``before`` -> ``after`` with the progress back at its start; False if not ``before``."""
        return self._update(job_id, (before,), state=after.value, fraction=0.0, step=0, total=0)

    def request_cancel(self, job_id: str) -> bool:
        """Record, durably, that a queued or running job is to be cancelled.

        The worker stops the job at its next step and :meth:`cancel` ends it; should the daemon
        stop first, :meth:`recover` cancels it instead of resuming it. False if the job is
        unknown or already ended.
        """
        try:
            return self._update(job_id, ACTIVE_STATES, cancel_requested=1)
        except UnknownJob:
            return False

    def recover(self) -> Recovery:
        """At start-up: RUNNING jobs (interrupted by a stop) go back to QUEUED with attempts+1.

        A job whose cancel was requested (:meth:`request_cancel`) is cancelled instead, and a job
        interrupted more than ``max_attempts`` times is failed. Returns the queued jobs, in the
        order they should run, and the jobs cancelled here.
        """
        now = self._clock()
        active = tuple(s.value for s in ACTIVE_STATES)
        with self.lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                cancelled = self._cancel_requested_jobs(db, now, active)
                self._requeue_interrupted(db, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._live.clear()
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = ? ORDER BY priority DESC, seq",
                (JobState.QUEUED.value,),
            ).fetchall()
            queued = [self._record(row) for row in rows]
            return Recovery(queued, [self._get(job_id) for job_id in cancelled])

    def _cancel_requested_jobs(
        self, db: sqlite3.Connection, now: float, active: tuple[str, ...]
    ) -> list[str]:
        """Cancel the active jobs whose cancel was requested; returns their ids."""
        where = f"cancel_requested = 1 AND state IN ({','.join('?' * len(active))})"
        rows = db.execute(f"SELECT job_id FROM jobs WHERE {where} ORDER BY seq", active)
        job_ids = [row["job_id"] for row in rows.fetchall()]
        db.execute(
            f"UPDATE jobs SET state = ?, updated = ? WHERE {where}",
            (JobState.CANCELLED.value, now, *active),
        )
        return job_ids

    def _requeue_interrupted(self, db: sqlite3.Connection, now: float) -> None:
        """RUNNING -> QUEUED with attempts+1; FAILED beyond ``max_attempts``."""
        running, queued = JobState.RUNNING.value, JobState.QUEUED.value
        db.execute(
            "UPDATE jobs SET state = ?, attempts = attempts + 1, updated = ?,"
            " fraction = 0, step = 0, total = 0 WHERE state = ?",
            (queued, now, running),
        )
        db.execute(
            "UPDATE jobs SET state = ?, updated = ?,"
            " error = 'interrupted ' || attempts || ' times by a daemon stop; not retried'"
            " WHERE state = ? AND attempts > ?",
            (JobState.FAILED.value, now, queued, self.max_attempts),
        )

    def expire(self, cutoff: float) -> list[str]:
        """Delete finished, failed and cancelled rows last updated before ``cutoff``; returns
        their blob folder names (for the caller to delete after the commit)."""
        terminal = tuple(s.value for s in TERMINAL_STATES)
        where = f"state IN ({','.join('?' * len(terminal))}) AND updated < ?"
        with self.lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    f"SELECT job_id, blob_dir FROM jobs WHERE {where}", (*terminal, cutoff)
                ).fetchall()
                db.execute(f"DELETE FROM jobs WHERE {where}", (*terminal, cutoff))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for row in rows:
                self._live.pop(row["job_id"], None)
        return [row["blob_dir"] for row in rows]

    # -- internals -------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise DiffMusicError(self.closed_message)
        return self._db

    def _get(self, job_id: str) -> JobRecord | None:
        row = (
            self._connection().execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        )
        return None if row is None else self._record(row)

    def _row(self, job_id: str) -> sqlite3.Row:
        row = (
            self._connection().execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        )
        if row is None:
            raise UnknownJob(f"no job {job_id!r} in the journal (never submitted, or expired)")
        return row

    def _record(self, row: sqlite3.Row) -> JobRecord:
        record = JobRecord(
            job_id=row["job_id"],
            state=JobState(row["state"]),
            request=json.loads(row["request"]),
            priority=row["priority"],
            created=row["created"],
            updated=row["updated"],
            fraction=row["fraction"],
            step=row["step"],
            total=row["total"],
            error=row["error"],
            details=json.loads(row["details"]),
            n_outputs=len(json.loads(row["outputs"])),
            attempts=row["attempts"],
        )
        live = self._live.get(record.job_id)
        if live is not None and record.state is JobState.RUNNING:
            record = dataclasses.replace(
                record, fraction=live.fraction, step=live.step, total=live.total
            )
        return record

    def _update(self, job_id: str, from_states: Iterable[JobState], **columns: Any) -> bool:
        """Set ``columns`` (and ``updated``) if the job is in one of ``from_states``."""
        allowed = tuple(JobState(s).value for s in from_states)
        columns["updated"] = self._clock()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self.lock:
            cursor = self._connection().execute(
                f"UPDATE jobs SET {assignments} WHERE job_id = ?"
                f" AND state IN ({','.join('?' * len(allowed))})",
                (*columns.values(), job_id, *allowed),
            )
            if cursor.rowcount == 0:
                self._row(job_id)  # raises UnknownJob if the job is not there at all
            return cursor.rowcount == 1


def _open_database(path: Path) -> sqlite3.Connection:
    try:
        # One connection shared by the server and worker threads, serialised by Journal._lock.
        # isolation_level=None: each statement commits on its own; multi-statement changes use
        # explicit BEGIN IMMEDIATE ... COMMIT.
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        db.row_factory = sqlite3.Row
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            db.close()
            raise DiffMusicError(f"journal database {path} cannot use WAL mode (got {mode!r})")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):  # 0: just created, 1: upgraded below
            db.close()
            raise DiffMusicError(
                f"journal database {path} has schema version {version}; this daemon reads "
                f"versions 1 to {SCHEMA_VERSION}"
            )
        if version != SCHEMA_VERSION:
            _upgrade(db)
        return db
    except sqlite3.Error as exc:
        raise DiffMusicError(f"journal database {path} is unreadable: {exc}") from exc


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a new or version 1 database to ``SCHEMA_VERSION`` in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
        if "cancel_requested" not in columns:  # version 1
            db.execute("ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _loose_json(value: Any) -> Any:
    """JSON for details: numpy scalars and arrays as numbers and lists, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
