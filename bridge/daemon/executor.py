"""The seam between the daemon's gateway (protocol + journal) and what runs the jobs.

An :class:`Executor` takes job ids (whose requests and inputs are already durable in the journal),
runs them, and reports back through a :class:`JobHost`: start, progress, result, failure,
cancellation. The local worker (``bridge.daemon.worker.LocalExecutor``) is the first
implementation; a Ray Serve executor is the second (issue 8). The host keeps the journal, so an
executor never writes job state itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from diffmusic_engine.api import Restoration
from diffmusic_engine.errors import one_line
from diffmusic_engine.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capacity:
    """How much work an executor holds: worker slots, jobs running, jobs waiting."""

    workers: int
    running: int
    queued: int

    def to_dict(self) -> dict[str, int]:
        return {"workers": self.workers, "running": self.running, "queued": self.queued}


class JobHost(Protocol):
    """What an executor calls back into (the daemon's server, which owns the journal)."""

    def request(self, job_id: str) -> dict[str, Any]:
        """The job's request (damage, backend, options, buffer specs)."""

    def inputs(self, job_id: str) -> dict[str, np.ndarray]:
        """The job's input buffers by name."""

    def started(self, job_id: str) -> bool:
        """The job starts now; False if it must not run (cancelled or ended meanwhile)."""

    def progress(self, job_id: str, progress: Progress) -> None:
        """A progress report from the running job."""

    def finished(self, job_id: str, restoration: Restoration) -> None:
        """The job's result (the host stores it durably before announcing it)."""

    def failed(self, job_id: str, message: str) -> None:
        """The job failed with a one-line message."""

    def cancelled(self, job_id: str) -> None:
        """The job stopped because it was cancelled."""

    def model_event(self, event: str, **content: Any) -> None:
        """``model-loaded``, ``model-failed`` or ``model-unloaded``, for the event stream."""


class Executor(Protocol):
    """Runs jobs: submit, cancel, report capacity; owns the loaded models."""

    name: str

    def start(self, host: JobHost) -> None:
        """Begin taking jobs; results go to ``host``."""

    def submit(self, job_id: str, priority: int) -> None:
        """Queue a job (already durable in the journal); higher ``priority`` runs first."""

    def cancel(self, job_id: str) -> str:
        """Cancel a job: ``"cancelled"`` if it was waiting, ``"running"`` if it is stopping,
        ``"unknown"`` if this executor does not hold it."""

    def capacity(self) -> Capacity:
        """Workers, running and queued jobs."""

    def retry_after(self) -> float:
        """Seconds a new job should wait before it is submitted again (back-pressure from
        what runs the jobs); 0 when it may come now. The gateway answers ``busy`` while > 0."""

    def models(self) -> dict[str, Any]:
        """Loaded models (``{"models": [...], "budget_bytes": N, "devices": [...]}``)."""

    def load_model(self, model: str, device: str | None = None) -> None:
        """Load a model in the background (the host is told through ``model_event``); never
        blocks (the daemon's request thread calls it)."""

    def unload_model(self, model: str) -> bool:
        """Drop a model in the background; whether it was loaded (or loading), in which case
        ``model-unloaded`` follows through ``model_event``. Never blocks, like ``load_model``."""

    def stop(self) -> None:
        """Stop: running jobs are interrupted and stay resumable (not cancelled)."""


class ModelReports:
    """What an executor says of its model loads, in one place for every executor: the
    ``model-loaded``, ``model-failed`` and ``model-unloaded`` events, and why each model's last
    load failed (``list-models``' ``failed``, until it loads or is asked for again)."""

    def __init__(self) -> None:
        self._errors: dict[str, str] = {}  # model -> why its last load failed
        self._lock = threading.Lock()  # load threads write while the request thread lists

    def failed(self, host: JobHost | None, model: str, error: Exception) -> None:
        log.warning("loading %s failed: %s", model, error)
        with self._lock:
            self._errors[model] = one_line(error)
        if host:
            host.model_event("model-failed", model=model, message=one_line(error))

    def loaded(self, host: JobHost | None, model: str, device: str, size: int) -> None:
        self.asked(model)
        if host:
            host.model_event("model-loaded", model=model, device=device, bytes=size)

    def unloaded(self, host: JobHost | None, model: str) -> None:
        if host:
            host.model_event("model-unloaded", model=model)

    def asked(self, model: str) -> None:
        """A load of ``model`` is asked for (or done): its last failure is no longer news."""
        with self._lock:
            self._errors.pop(model, None)

    def failures(self) -> list[dict[str, str]]:
        """``[{"id", "message"}]``, one per model whose last load failed."""
        with self._lock:
            return [{"id": m, "message": e} for m, e in self._errors.items()]
