"""The daemon's job journal: SQLite (WAL) for job records plus a folder of ``.npy`` blobs for audio.

A job is acknowledged only once it is durable, and a restarted daemon resumes what a crash
interrupted. The invariants that make this true:

* Every blob is written to ``<name>.tmp``, flushed and fsynced, renamed into place with
  ``os.replace``, and its folder fsynced, all BEFORE the row that names it is committed. A committed
  row therefore never names a missing or torn blob; a crash in between leaves only files no row
  names, and those are deleted the next time the journal is opened.
* Each submission gets a fresh blob folder (``blobs/<hash of job id>-<random>``), so blob files
  are never overwritten and expiry can delete a whole folder without racing a new submission.
* ``synchronous=FULL``: in WAL mode, NORMAL skips the fsync of the WAL at commit, which is safe
  against a killed process but may lose the last commits on power loss or an OS crash. An
  acknowledged job must survive both, and one WAL fsync per commit is small next to the fsync of
  the audio itself. Progress updates, the only frequent writes, are throttled instead.
* One exclusive lock file per journal folder, so two daemons never resume the same jobs.
* Big audio may be staged (:class:`StagedBlobs`): written and fsynced into a fresh folder while
  the daemon still checks the message that carries it, so the write overlaps the check. Staged
  bytes are never parsed; they become a job only through :meth:`Journal.submit`, after the
  checks, and the same invariants hold (header, rename and folder fsync before the commit).
* A cancel of a running job is committed (``cancel_requested``) before the daemon acknowledges
  it (:meth:`Journal.request_cancel`), and :meth:`Journal.recover` cancels such a job instead of
  resuming it: a cancel is never lost to a ``kill -9`` that lands before the job sees it.

SQLite gives the atomic, crash-safe records; the blob store is written by hand because what it
needs (numpy's own ``.npy`` format plus fsync + rename + folder fsync) is a dozen lines that no
library packages with these durability guarantees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bridge.defaults import RESULT_TTL
from bridge.protocol import check_job_id, check_priority
from diffmusic_engine.errors import DiffMusicError, InputError
from diffmusic_engine.progress import Progress

try:  # POSIX; on other systems the journal works without the single-daemon guard
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DATABASE_NAME = "journal.sqlite3"
LOCK_NAME = "journal.lock"
BLOBS_NAME = "blobs"
TEMP_SUFFIX = ".tmp"
STAGED_PREFIX = "incoming"  # blob folders written before their job was checked
NPY_HEADER_BYTES = 128  # room left before staged audio for its .npy header (any <= 3-D float32)
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
    attempts INTEGER NOT NULL DEFAULT 0,    -- runs interrupted by a daemon stop
    cancel_requested INTEGER NOT NULL DEFAULT 0  -- 1: cancel asked while it ran (see recover)
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, priority DESC, seq);
"""


class JobConflict(DiffMusicError):
    """A job id that is already in the journal was submitted again with a different request."""


class UnknownJob(DiffMusicError):
    """A job id that the journal does not hold (never submitted, or expired)."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
TERMINAL_STATES = (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)


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


class Journal:
    """Durable job store for the daemon; safe to use from several threads of one process.

    Args:
        directory: the journal folder (created if missing): ``journal.sqlite3`` and ``blobs/``.
        result_ttl: seconds after which finished, failed and cancelled jobs are dropped by
            :meth:`expire`, blobs included.
        max_attempts: a job interrupted by more daemon stops than this is failed by
            :meth:`recover` instead of being run again (a job that crashes the daemon every time).
        progress_interval: at most one database write of progress per job per this many seconds;
            readers of this process always see the latest progress.
        clock: wall clock for ``created``/``updated`` and expiry (a fake one in tests).
    """

    def __init__(
        self,
        directory: Path,
        *,
        result_ttl: float = RESULT_TTL,
        max_attempts: int = 3,
        progress_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.result_ttl = float(result_ttl)
        self.max_attempts = int(max_attempts)
        self.progress_interval = float(progress_interval)
        self._clock = clock
        self._lock = threading.RLock()
        self._live: dict[str, _LiveProgress] = {}
        self._blobs = self.directory / BLOBS_NAME
        self._stager = ThreadPoolExecutor(1, thread_name_prefix="journal-stage")
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DiffMusicError(f"cannot create journal folder {self.directory}: {exc}") from exc
        self._lock_file = _acquire_lock(self.directory / LOCK_NAME)
        try:
            self._db = _open_database(self.directory / DATABASE_NAME)
            removed = self._remove_orphans()
        except BaseException:
            self._lock_file.close()
            raise
        if removed:
            log.info("journal %s: removed %d unreferenced blob file(s)", self.directory, removed)

    # -- context manager -------------------------------------------------------------------------

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the journal folder; further calls are errors."""
        self._stager.shutdown()
        with self._lock:
            if self._db is None:
                return
            self._db.close()
            self._db = None
            self._lock_file.close()  # releases the flock

    # -- submission ------------------------------------------------------------------------------

    def submit(
        self,
        job_id: str,
        request: dict,
        inputs: dict[str, np.ndarray],
        priority: int = 0,
        staged: StagedBlobs | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a new QUEUED job; return ``(record, created)`` once it is durable.

        Resubmitting a known id with the same request and inputs returns ``(existing, False)``
        (a client retry). The same id with a different request or different inputs raises
        :class:`JobConflict`. Inputs are stored as float32 arrays. ``staged``: the inputs' bytes,
        already being written by :meth:`stage` (used if they match ``inputs``, else discarded);
        the journal owns it from here.
        """
        try:
            return self._submit(job_id, request, inputs, priority, staged)
        finally:
            if staged is not None:
                staged.discard()  # no-op once claimed

    def _submit(
        self,
        job_id: str,
        request: dict,
        inputs: dict[str, np.ndarray],
        priority: int,
        staged: StagedBlobs | None,
    ) -> tuple[JobRecord, bool]:
        check_job_id(job_id)
        check_priority(priority)
        request_json = _request_json(request)
        arrays = {
            _check_name(name): _as_float32(f"input {name!r}", a) for name, a in inputs.items()
        }

        existing = self.get(job_id)
        if existing is not None:
            return self._resubmitted(existing, request_json, arrays), False

        # Blobs first (fsynced, renamed, folder fsynced), then the row that names them.
        claimed = staged.claim(list(arrays.values())) if staged is not None else None
        if claimed is not None:
            blob_dir, files = claimed
        else:
            blob_dir = self._new_blob_dir(job_id)
            try:
                files = self._write_blobs(blob_dir, "in", list(arrays.values()))
            except BaseException:
                shutil.rmtree(blob_dir, ignore_errors=True)
                raise
        now = self._clock()
        with self._lock:
            db = self._connection()
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, state, request, priority, created, updated,"
                    " blob_dir, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        JobState.QUEUED.value,
                        request_json,
                        priority,
                        now,
                        now,
                        blob_dir.name,
                        json.dumps(dict(zip(arrays, files, strict=True))),
                    ),
                )
                inserted = True
            except sqlite3.IntegrityError:  # another thread submitted the same id meanwhile
                inserted = False
            except sqlite3.Error as exc:  # e.g. disk full: nothing was acknowledged
                shutil.rmtree(blob_dir, ignore_errors=True)
                raise DiffMusicError(f"cannot record job {job_id!r} in the journal: {exc}") from exc
            record = self._get(job_id)
        if not inserted:
            shutil.rmtree(blob_dir, ignore_errors=True)
            return self._resubmitted(record, request_json, arrays), False
        return record, True

    def stage(self, frames: list[Any]) -> StagedBlobs:
        """Start writing ``frames`` (raw float32 audio bytes, not yet checked) durably in the
        background; pass the result to :meth:`submit`, or :meth:`StagedBlobs.discard` it."""
        return StagedBlobs(self._new_blob_dir(None, create=False), frames, self._stager)

    def _resubmitted(
        self, existing: JobRecord, request_json: str, arrays: dict[str, np.ndarray]
    ) -> JobRecord:
        """The existing record if the resubmission is identical, else JobConflict."""
        job = existing.job_id
        if existing.request != json.loads(request_json):
            raise JobConflict(
                f"job id {job!r} is already used by a different request; choose a new job id"
            )
        stored = self.inputs(job)
        same = stored.keys() == arrays.keys() and all(
            stored[name].shape == arrays[name].shape
            and stored[name].tobytes() == arrays[name].tobytes()
            for name in arrays
        )
        if not same:
            raise JobConflict(
                f"job id {job!r} is already used with different input audio; choose a new job id"
            )
        return existing

    # -- queries ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if the journal does not hold it."""
        with self._lock:
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
        with self._lock:
            rows = self._connection().execute(query + " ORDER BY seq", params).fetchall()
            return [self._record(row) for row in rows]

    def next_queued(self) -> JobRecord | None:
        """The queued job to run next: highest priority first, then the oldest."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT * FROM jobs WHERE state = ? ORDER BY priority DESC, seq LIMIT 1",
                    (JobState.QUEUED.value,),
                )
                .fetchone()
            )
            return None if row is None else self._record(row)

    def claim_next(self) -> JobRecord | None:
        """Atomically take :meth:`next_queued` and mark it running; None if the queue is empty."""
        with self._lock:
            record = self.next_queued()
            if record is None or not self.mark_running(record.job_id):
                return None
            return self._get(record.job_id)

    def inputs(self, job_id: str) -> dict[str, np.ndarray]:
        """The job's input arrays, by name, exactly as submitted (as float32)."""
        blob_dir, files = self._blob_files(job_id, "inputs")
        return {name: self._load(job_id, blob_dir / file) for name, file in files.items()}

    def outputs(self, job_id: str) -> list[np.ndarray]:
        """The job's output arrays (empty until it is finished)."""
        blob_dir, files = self._blob_files(job_id, "outputs")
        return [self._load(job_id, blob_dir / file) for file in files]

    # -- state changes ---------------------------------------------------------------------------

    def mark_running(self, job_id: str) -> bool:
        """QUEUED -> RUNNING. Returns False (and changes nothing) if the job is not queued."""
        changed = self._update(
            job_id,
            (JobState.QUEUED,),
            state=JobState.RUNNING.value,
            fraction=0.0,
            step=0,
            total=0,
        )
        if changed:
            with self._lock:
                self._live[job_id] = _LiveProgress(0, 0, 0.0, time.monotonic())
        return changed

    def progress(self, job_id: str, step: int, total: int) -> None:
        """Record progress of a running job; cheap (a database write at most every interval)."""
        fraction = Progress(step, total).fraction
        now = time.monotonic()
        with self._lock:
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

    def finish(self, job_id: str, outputs: list[np.ndarray], details: dict) -> None:
        """Store the results and mark the job FINISHED (blobs durable before the commit).

        A job that was cancelled (or already ended) meanwhile keeps its state; the outputs are
        discarded.
        """
        arrays = [_as_float32(f"output {i}", a) for i, a in enumerate(outputs)]
        details_json = json.dumps(details, default=_loose_json)
        with self._lock:
            row = self._row(job_id)
            if JobState(row["state"]) in TERMINAL_STATES:
                log.info("job %s is %s; its outputs are discarded", job_id, row["state"])
                return
            blob_dir = self._blobs / row["blob_dir"]
            total = row["total"]
        files = self._write_blobs(blob_dir, "out", arrays)
        with self._lock:
            live = self._live.pop(job_id, None)
            changed = self._update(
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
        if not changed:
            log.info("job %s ended before its outputs were stored; they are discarded", job_id)
            for file in files:
                (blob_dir / file).unlink(missing_ok=True)

    def fail(self, job_id: str, message: str) -> bool:
        """Mark a queued or running job FAILED with a one-line error message.

        Returns False (and changes nothing) if the job had already ended.
        """
        error = " ".join(str(message).split())[:MAX_ERROR_LENGTH] or "failed"
        with self._lock:
            self._live.pop(job_id, None)
            if not self._update(job_id, ACTIVE_STATES, state=JobState.FAILED.value, error=error):
                log.info("job %s had already ended; failure not recorded: %s", job_id, error)
                return False
            return True

    def cancel(self, job_id: str) -> bool:
        """Mark a queued or running job CANCELLED; False if it is unknown or already ended."""
        with self._lock:
            self._live.pop(job_id, None)
            try:
                return self._update(job_id, ACTIVE_STATES, state=JobState.CANCELLED.value)
            except UnknownJob:
                return False

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
        with self._lock:
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

    def expire(self, now: float | None = None) -> int:
        """Drop finished, failed and cancelled jobs last updated more than ``result_ttl`` ago.

        Returns how many jobs were dropped; their blob folders are deleted after the commit.
        """
        cutoff = (self._clock() if now is None else now) - self.result_ttl
        terminal = tuple(s.value for s in TERMINAL_STATES)
        where = f"state IN ({','.join('?' * len(terminal))}) AND updated < ?"
        with self._lock:
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
        for row in rows:
            shutil.rmtree(self._blobs / row["blob_dir"], ignore_errors=True)
        return len(rows)

    # -- internals -------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise DiffMusicError(f"journal {self.directory} is closed")
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
        with self._lock:
            cursor = self._connection().execute(
                f"UPDATE jobs SET {assignments} WHERE job_id = ?"
                f" AND state IN ({','.join('?' * len(allowed))})",
                (*columns.values(), job_id, *allowed),
            )
            if cursor.rowcount == 0:
                self._row(job_id)  # raises UnknownJob if the job is not there at all
            return cursor.rowcount == 1

    def _blob_files(self, job_id: str, column: str) -> tuple[Path, Any]:
        with self._lock:
            row = self._row(job_id)
            return self._blobs / row["blob_dir"], json.loads(row[column])

    def _load(self, job_id: str, path: Path) -> np.ndarray:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DiffMusicError(f"stored audio of job {job_id!r} is unreadable: {exc}") from exc

    def _new_blob_dir(self, job_id: str | None, *, create: bool = True) -> Path:
        label = hashlib.sha256(job_id.encode()).hexdigest()[:24] if job_id else STAGED_PREFIX
        path = self._blobs / f"{label}-{secrets.token_hex(4)}"
        if create:
            _make_blob_dir(path)
        return path

    def _write_blobs(self, folder: Path, prefix: str, arrays: list[np.ndarray]) -> list[str]:
        """Write each array durably as ``<prefix><i>-<random>.npy``; returns the file names."""
        names: list[str] = []
        try:
            for i, array in enumerate(arrays):
                name = f"{prefix}{i}-{secrets.token_hex(4)}.npy"
                temp = folder / (name + TEMP_SUFFIX)
                with open(temp, "wb") as file:
                    np.save(file, array, allow_pickle=False)
                    file.flush()
                    os.fsync(file.fileno())
                    _drop_cached_pages(file.fileno())
                os.replace(temp, folder / name)
                names.append(name)
            _fsync_dir(folder)
        except OSError as exc:
            for name in names:
                (folder / name).unlink(missing_ok=True)
            for temp in folder.glob(f"*{TEMP_SUFFIX}"):
                temp.unlink(missing_ok=True)
            raise DiffMusicError(f"cannot store job data in {folder}: {exc}") from exc
        return names

    def _remove_orphans(self) -> int:
        """Delete blob files and folders that no committed row names (a crash left them)."""
        wanted: dict[str, set[str]] = {}
        for row in self._connection().execute("SELECT blob_dir, inputs, outputs FROM jobs"):
            files = set(json.loads(row["inputs"]).values()) | set(json.loads(row["outputs"]))
            wanted[row["blob_dir"]] = files
        removed = 0
        for folder in self._blobs.iterdir():
            if folder.name not in wanted or not folder.is_dir():
                removed += sum(1 for _ in folder.rglob("*")) if folder.is_dir() else 1
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink(missing_ok=True)
                continue
            for file in folder.iterdir():
                if file.name not in wanted[folder.name]:
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed


# -- helpers ---------------------------------------------------------------------------------------


def _acquire_lock(path: Path) -> Any:
    """Hold an exclusive lock on ``path`` while the journal is open (released on close or death)."""
    file = open(path, "a+")  # noqa: SIM115 - kept open on purpose: closing releases the lock
    if fcntl is not None:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            file.close()
            raise DiffMusicError(
                f"journal {path.parent} is in use by another daemon; stop it or use another "
                "--journal folder"
            ) from exc
    return file


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


def _drop_cached_pages(fd: int) -> None:
    """Let the kernel drop a durable blob's pages from the page cache.

    The daemon keeps the audio it needs in its own memory (ArrayCache); a blob is read back only
    after a restart or an eviction. Left cached, every job would also hold its audio in the page
    cache, crowding out what the rest of the machine (the DAW's samples) needs; and, measured on
    a VM here, writing into fresh page-cache pages cost 45 ms per 23 MB against 5 ms for pages
    just released.
    """
    if hasattr(os, "posix_fadvise"):  # not on macOS
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _make_blob_dir(path: Path) -> None:
    """Create a fresh blob folder durably (its parent fsynced)."""
    try:
        path.mkdir()
        _fsync_dir(path.parent)
    except OSError as exc:
        raise DiffMusicError(f"cannot store job data in {path.parent}: {exc}") from exc


class StagedBlobs:
    """Audio frames written durably in the background while their message is still checked.

    Each frame goes to ``<folder>/in<i>-<random>.npy.tmp`` at offset ``NPY_HEADER_BYTES``,
    fsynced. :meth:`claim`, called once the request is checked and its shapes known, writes each
    ``.npy`` header into the room left for it, fsyncs and renames: the files are then exactly what
    ``np.save`` writes (numpy pads every header to a multiple of 64 bytes, and a float32 header
    of at most three dimensions fits in 128), and the write and fsync of the audio overlapped the
    signature check. Never parsed; a crash leaves a folder no row names, deleted at next start.
    """

    def __init__(self, folder: Path, frames: list[Any], executor: ThreadPoolExecutor) -> None:
        self.folder = folder
        views = [memoryview(frame).cast("B") for frame in frames]
        self._future: Future[list[str]] = executor.submit(self._write, views)
        self._owned = True

    def _write(self, views: list[memoryview]) -> list[str]:
        _make_blob_dir(self.folder)
        names = []
        for i, view in enumerate(views):
            name = f"in{i}-{secrets.token_hex(4)}.npy"
            with open(self.folder / (name + TEMP_SUFFIX), "wb") as file:
                file.seek(NPY_HEADER_BYTES)
                file.write(view)
                file.flush()
                os.fsync(file.fileno())
                _drop_cached_pages(file.fileno())
            names.append(name)
        return names

    def claim(self, arrays: list[np.ndarray]) -> tuple[Path, list[str]] | None:
        """``(folder, file names)`` holding ``arrays`` durably, or None (write failed, or the
        staged bytes are not these arrays: the caller writes them itself)."""
        try:
            names = self._future.result()
        except (OSError, DiffMusicError) as exc:
            log.warning("staged audio not written (%s); writing it again", exc)
            return None
        sizes = [os.path.getsize(self.folder / (n + TEMP_SUFFIX)) for n in names]
        headers = [_npy_header(a) for a in arrays]
        if [NPY_HEADER_BYTES + a.nbytes for a in arrays] != sizes or any(
            len(h) != NPY_HEADER_BYTES for h in headers
        ):
            return None
        try:
            for name, header in zip(names, headers, strict=True):
                temp = self.folder / (name + TEMP_SUFFIX)
                with open(temp, "r+b") as file:
                    file.write(header)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, self.folder / name)
            _fsync_dir(self.folder)
        except OSError as exc:
            raise DiffMusicError(f"cannot store job data in {self.folder}: {exc}") from exc
        self._owned = False
        return self.folder, names

    def discard(self) -> None:
        """Delete the staged folder (after its write ends) unless :meth:`claim` took it."""
        if self._owned:
            self._owned = False
            self._future.add_done_callback(lambda _: shutil.rmtree(self.folder, ignore_errors=True))


def _npy_header(array: np.ndarray) -> bytes:
    """The bytes ``np.save`` writes before ``array``'s data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue()


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InputError(f"input names must be non-empty strings, got {name!r}")
    return name


def _as_float32(what: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what} must be a float32 array, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _request_json(request: dict) -> str:
    if not isinstance(request, dict):
        raise InputError(f"a job request must be a JSON object, got {type(request).__name__}")
    try:
        return json.dumps(request, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"a job request must be plain JSON: {exc}") from exc


def _loose_json(value: Any) -> Any:
    """JSON for details: numpy scalars and arrays as numbers and lists, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
