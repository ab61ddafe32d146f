"""The daemon's job journal: SQLite (WAL) for job records plus a folder of ``.npy`` blobs for audio.

This module is the facade the daemon uses; the records are :mod:`bridge.journal.records`, the
blobs and staging :mod:`bridge.journal.blobs`.

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

"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bridge.defaults import RESULT_TTL
from bridge.journal.blobs import BlobStore, StagedBlobs
from bridge.journal.records import (
    ACTIVE_STATES,
    DATABASE_NAME,
    TERMINAL_STATES,
    JobConflict,
    JobRecord,
    JobState,
    JobTable,
    Recovery,
    UnknownJob,
    log,
)
from bridge.protocol import check_job_id, check_priority
from diffmusic_engine.errors import DiffMusicError, InputError

try:  # POSIX; on other systems the journal works without the single-daemon guard
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "JobConflict",
    "JobRecord",
    "JobState",
    "Journal",
    "Recovery",
    "StagedBlobs",
    "UnknownJob",
]

LOCK_NAME = "journal.lock"


class Journal:
    """Durable job store for the daemon; safe to use from several threads of one process.

    Args:
        directory: the journal folder (created if missing): ``journal.sqlite3`` and ``blobs/``.
        result_ttl: seconds after which finished, failed and cancelled jobs are dropped by
            :meth:`expire`, blobs included.
        max_attempts: a job interrupted by more daemon crashes than this is failed by
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
        self._clock = clock
        self._blobs = BlobStore(self.directory)
        self._lock_file = _acquire_lock(self.directory / LOCK_NAME)
        try:
            self._records = JobTable(
                self.directory / DATABASE_NAME,
                max_attempts=max_attempts,
                progress_interval=progress_interval,
                clock=clock,
            )
            removed = self._blobs.remove_orphans(self._records.files())
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
        self._blobs.close()
        if self._records.close():
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
            blob_dir = self._blobs.new_folder(job_id)
            try:
                files = self._blobs.write(blob_dir, "in", list(arrays.values()))
            except BaseException:
                self._blobs.remove(blob_dir.name)
                raise
        inputs = dict(zip(arrays, files, strict=True))
        with self._records.lock:
            try:
                inserted = self._records.insert(
                    job_id, request_json, priority, blob_dir.name, inputs
                )
            except BaseException:
                self._blobs.remove(blob_dir.name)
                raise
            record = self._records.get(job_id)
        if not inserted:  # another thread submitted the same id meanwhile
            self._blobs.remove(blob_dir.name)
            return self._resubmitted(record, request_json, arrays), False
        return record, True

    def stage(self, frames: list[Any]) -> StagedBlobs:
        """Start writing ``frames`` (raw float32 audio bytes, not yet checked) durably in the
        background; pass the result to :meth:`submit`, or :meth:`StagedBlobs.discard` it."""
        return self._blobs.stage(frames)

    def _resubmitted(
        self, existing: JobRecord, request_json: str, arrays: dict[str, np.ndarray]
    ) -> JobRecord:
        """The existing record if the resubmission is identical, else JobConflict."""
        job = existing.job_id
        if _what_runs(existing.request) != _what_runs(json.loads(request_json)):
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
        return self._records.get(job_id)

    def list(self, states: Iterable[JobState] | None = None) -> list[JobRecord]:
        """Jobs in submission order, optionally only those in ``states``."""
        return self._records.list(states)

    def inputs(self, job_id: str) -> dict[str, np.ndarray]:
        """The job's input arrays, by name, exactly as submitted (as float32)."""
        folder, files = self._records.blob_files(job_id, "inputs")
        return {name: self._blobs.load(job_id, self._blobs.folder(folder) / file)
                for name, file in files.items()}  # fmt: skip

    def outputs(self, job_id: str) -> list[np.ndarray]:
        """The job's output arrays (empty until it is finished)."""
        folder, files = self._records.blob_files(job_id, "outputs")
        return [self._blobs.load(job_id, self._blobs.folder(folder) / file) for file in files]

    # -- state changes ---------------------------------------------------------------------------

    def mark_running(self, job_id: str) -> bool:
        """QUEUED -> RUNNING. Returns False (and changes nothing) if the job is not queued."""
        return self._records.mark_running(job_id)

    def progress(self, job_id: str, step: int, total: int) -> None:
        """Record progress of a running job; cheap (a database write at most every interval)."""
        self._records.progress(job_id, step, total)

    def finish(self, job_id: str, outputs: list[np.ndarray], details: dict) -> None:
        """Store the results and mark the job FINISHED (blobs durable before the commit).

        A job that was cancelled (or already ended) meanwhile keeps its state; the outputs are
        discarded.
        """
        arrays = [_as_float32(f"output {i}", a) for i, a in enumerate(outputs)]
        target = self._records.finish_target(job_id)
        if target is None:
            return
        folder, total = self._blobs.folder(target[0]), target[1]
        files = self._blobs.write(folder, "out", arrays)
        if not self._records.finish(job_id, files, details, total):
            log.info("job %s ended before its outputs were stored; they are discarded", job_id)
            for file in files:
                (folder / file).unlink(missing_ok=True)

    def fail(self, job_id: str, message: str) -> bool:
        """Mark a queued or running job FAILED with a one-line error message.

        Returns False (and changes nothing) if the job had already ended.
        """
        return self._records.fail(job_id, message)

    def cancel(self, job_id: str) -> bool:
        """Mark a queued or running job CANCELLED; False if it is unknown or already ended."""
        return self._records.cancel(job_id)

    def requeue(self, job_id: str) -> bool:
        """A running job interrupted by a clean daemon stop: queued again, no attempt counted
        (see :meth:`JobTable.requeue`)."""
        return self._records.requeue(job_id)

    def request_cancel(self, job_id: str) -> bool:
        """Record, durably, that a queued or running job is to be cancelled (see
        :meth:`JobTable.request_cancel`)."""
        return self._records.request_cancel(job_id)

    def recover(self) -> Recovery:
        """At start-up: interrupted jobs queued again, cancel-requested ones cancelled (see
        :meth:`JobTable.recover`)."""
        return self._records.recover()

    def expire(self, now: float | None = None) -> int:
        """Drop finished, failed and cancelled jobs last updated more than ``result_ttl`` ago.

        Returns how many jobs were dropped; their blob folders are deleted after the commit.
        """
        cutoff = (self._clock() if now is None else now) - self.result_ttl
        folders = self._records.expire(cutoff)
        for folder in folders:
            self._blobs.remove(folder)
        return len(folders)


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


def _what_runs(request: dict) -> dict:
    """What makes a job the same job (docs/protocol.md, "Idempotency"): the request but its
    ``source``, which only describes the file sent (a REAPER retry sends the same audio from a
    fresh file; a job journalled before the source held a path is still itself)."""
    return {key: value for key, value in request.items() if key != "source"}
