"""The local executor: one worker thread per device, a priority queue, resident models.

Each worker thread runs its jobs: diffusion jobs in the thread itself (torch releases the GIL
while it computes, and the models stay resident), dsp jobs in a child process that a cancel kills
(:mod:`bridge.daemon.dsp_process`: why, measured). Each worker owns a :class:`ModelCache` for
its device. Cancelling a diffusion job is cooperative: its progress callback raises ``Cancelled``
at its next step.
Loading and unloading models (``load-model``, ``unload-model``) run on one more thread, in the
order asked: the request thread only queues them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from bridge.daemon.dsp_process import run_in_child
from bridge.daemon.executor import Capacity, JobHost, ModelReports
from bridge.daemon.jobs import execute
from bridge.daemon.models import Loader, ModelCache, Unloader, default_loader, default_unloader
from diffmusic_engine.errors import Cancelled, DiffMusicError, one_line
from diffmusic_engine.progress import Progress

log = logging.getLogger(__name__)


class JobQueue:
    """Job ids by priority (higher first), then first come first served; removable.

    A job may be for one worker (its ``device``): only that worker's :meth:`get` hands it out,
    and the others pass over it to the next job any worker may take.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._queued: set[str] = set()
        self._for: dict[str, str] = {}  # job id -> the one worker that takes it
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job_id: str, priority: int, worker: str | None = None) -> None:
        """Queue ``job_id``; with ``worker``, only that worker's :meth:`get` takes it."""
        with self._cond:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
            if worker is not None:
                self._for[job_id] = worker
            heapq.heappush(self._heap, (-priority, next(self._order), job_id))
            self._cond.notify_all()  # the one worker it is for may not be the one notify wakes

    def get(self, worker: str | None = None) -> str | None:
        """The next job id ``worker`` may take (any job: None); blocks; None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                while self._heap and self._heap[0][2] not in self._queued:
                    heapq.heappop(self._heap)  # removed ids stay in the heap: drop them here
                job_id = self._first_for(worker)
                if job_id is not None:
                    self._queued.discard(job_id)
                    self._for.pop(job_id, None)
                    return job_id
                self._cond.wait()

    def _first_for(self, worker: str | None) -> str | None:
        """The first queued job ``worker`` may take, left in the heap (removed from the queue
        by the caller): the heap's top (stale ids dropped by :meth:`get`) unless a job waits
        for one worker, then a scan in order."""
        if not self._for:
            return self._heap[0][2] if self._heap else None
        for _, _, job_id in sorted(self._heap):
            if job_id in self._queued and self._for.get(job_id, worker) == worker:
                return job_id
        return None

    def remove(self, job_id: str) -> bool:
        with self._cond:
            if job_id not in self._queued:
                return False
            self._queued.discard(job_id)
            self._for.pop(job_id, None)
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queued)


class SerialThread:
    """Runs queued tasks one at a time, in order, on one daemon thread (never blocks a caller).

    Used for model loads and unloads: a load holds the diffusion backend's model lock for as long
    as it reads the weights (minutes for AudioLDM2), and an unload waits for that lock; run in
    order, an unload asked after a load unloads what that load loaded.
    """

    def __init__(self, name: str) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    def close(self) -> None:
        """Stop after the task running now; queued ones are dropped with the process."""
        self._tasks.put(None)

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except Exception:  # a failing task must not stop the ones after it
                log.exception("%s: task failed", self._thread.name)


def device_name(device: str) -> str:
    """``device`` with its index, as torch runs it: ``cuda`` is ``cuda:0`` (a daemon serving
    ``cuda`` had refused a job, and a load, for ``cuda:0``, the same GPU)."""
    return f"{device}:0" if device in ("cuda", "mps") else device


class LocalExecutor:
    """Runs jobs in this process: ``len(devices)`` workers sharing one priority queue."""

    name = "local"

    def __init__(
        self,
        devices: tuple[str, ...] = ("cpu",),
        *,
        model_budget_bytes: int = 0,
        loader: Loader = default_loader,
        unloader: Unloader = default_unloader,
    ) -> None:
        self.devices = tuple(devices) or ("cpu",)
        self.caches = {d: ModelCache(model_budget_bytes, loader, unloader) for d in self.devices}
        self.model_budget_bytes = model_budget_bytes
        self._queue = JobQueue()
        self._running: dict[str, str] = {}  # job id -> device
        self._cancelling: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._host: JobHost | None = None
        self._reports = ModelReports()
        self._loading: dict[str, int] = {}  # model -> loads queued or running
        self._model_thread = SerialThread("models")

    # -- Executor interface ----------------------------------------------------------------------

    def start(self, host: JobHost) -> None:
        self._host = host
        for device in self.devices:
            thread = threading.Thread(
                target=self._work, args=(device,), name=f"worker-{device}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, job_id: str, priority: int) -> None:
        """Queue the job for any worker, or for the one its ``device`` option names (a
        ``cuda:1`` job had run on whichever worker was free first)."""
        self._queue.put(job_id, priority, self._worker_for(job_id))

    def _worker_for(self, job_id: str) -> str | None:
        assert self._host is not None, "start() before submit()"
        device = self._host.request(job_id).get("options", {}).get("device")
        if not isinstance(device, str) or not device or len(self.devices) == 1:
            return None
        worker = self.worker_device(device)
        if worker is None:  # a journalled job a restart with other devices resumes: any worker
            log.warning("job %s: device %s is not served now; it runs on any", job_id, device)
        return worker

    def cancel(self, job_id: str) -> str:
        if self._queue.remove(job_id):
            return "cancelled"
        with self._lock:
            if job_id in self._running:
                self._cancelling.add(job_id)
                return "running"
        return "unknown"

    def capacity(self) -> Capacity:
        with self._lock:
            running = len(self._running)
        return Capacity(workers=len(self.devices), running=running, queued=len(self._queue))

    def retry_after(self) -> float:
        return 0.0  # the queue limit is the only back-pressure here (checked by the server)

    def models(self) -> dict[str, Any]:
        return {
            "models": [m for cache in self.caches.values() for m in cache.list()],
            "budget_bytes": self.model_budget_bytes,
            "devices": list(self.devices),
            "failed": self._reports.failures(),
        }

    def load_model(self, model: str, device: str | None = None) -> None:
        """Queue a load on the model thread; ``model-loaded`` or ``model-failed`` follows."""
        worker = self.worker_device(device or self.devices[0])
        if worker is None:
            raise DiffMusicError(f"device {device!r}: this daemon has {list(self.devices)}")
        self._reports.asked(model)
        with self._lock:
            self._loading[model] = self._loading.get(model, 0) + 1
        self._model_thread.put(lambda: self._load(model, worker))

    def worker_device(self, device: str) -> str | None:
        """The worker device that is ``device`` (:func:`device_name`), or None."""
        return next((d for d in self.devices if device_name(d) == device_name(device)), None)

    def unload_model(self, model: str) -> bool:
        """Queue an unload on the model thread (after any load asked before); whether the model
        was loaded or loading, in which case ``model-unloaded`` follows."""
        with self._lock:
            known = model in self._loading or any(c.holds(model) for c in self.caches.values())
        if known:
            self._model_thread.put(lambda: self._unload(model))
        return known

    def _load(self, model: str, device: str) -> None:
        """Load ``model`` into ``device``'s cache and say how it went (on the model thread)."""
        try:
            self.caches[device].get(model, device)
        except Exception as exc:  # any loader failure becomes an event, never a crash
            self._reports.failed(self._host, model, exc)
            return
        finally:
            with self._lock:
                self._loading[model] -= 1
                if not self._loading[model]:
                    del self._loading[model]
        loaded = {m["id"]: m for m in self.caches[device].list()}
        self._reports.loaded(self._host, model, device, loaded.get(model, {}).get("bytes", 0))

    def _unload(self, model: str) -> None:
        """Drop ``model`` from every device's cache (on the model thread)."""
        if any([cache.unload(model) for cache in self.caches.values()]):
            self._reports.unloaded(self._host, model)

    def stop(self) -> None:
        self._stopping.set()
        self._queue.close()
        self._model_thread.close()
        for thread in self._threads:
            thread.join(timeout=10)

    # -- the worker loop -------------------------------------------------------------------------

    def _work(self, device: str) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get(device)
            if job_id is None:
                return
            try:
                self._run(job_id, device)
            except Exception:  # a bug in the host must not kill the worker
                log.exception("job %s: unexpected error in the worker", job_id)

    def _run(self, job_id: str, device: str) -> None:
        host = self._host
        assert host is not None
        with self._lock:
            self._running[job_id] = device  # before started(): a cancel from now on is seen
        if not host.started(job_id):
            with self._lock:
                self._running.pop(job_id, None)
                self._cancelling.discard(job_id)
            return

        def stop() -> bool:
            return job_id in self._cancelling or self._stopping.is_set()

        def callback(progress: Progress) -> None:
            if stop():
                raise Cancelled(f"job {job_id} cancelled")
            host.progress(job_id, progress)

        try:
            request = host.request(job_id)
            if request["backend"] == "dsp":  # in a child process: see dsp_process
                restoration = run_in_child(execute, (request, host.inputs(job_id)), callback, stop)
            else:
                overrides = self._overrides(request, device)
                restoration = execute(request, host.inputs(job_id), callback, overrides)
        except Cancelled:
            if self._stopping.is_set() and job_id not in self._cancelling:
                host.interrupted(job_id)
            else:
                host.cancelled(job_id)
        except Exception as exc:  # every failure is reported as one line, the worker goes on
            if not isinstance(exc, DiffMusicError):
                log.exception("job %s failed", job_id)
            host.failed(job_id, one_line(exc))
        else:
            try:
                host.finished(job_id, restoration)
            except Exception as exc:  # storing the result failed (disk full, ...): say so
                if isinstance(exc, DiffMusicError):  # the store's own words: no traceback
                    log.warning("job %s: result not stored: %s", job_id, one_line(exc))
                else:
                    log.exception("job %s: result not stored", job_id)
                host.failed(job_id, f"result not stored: {one_line(exc)}")
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._cancelling.discard(job_id)

    def _overrides(self, request: dict[str, Any], device: str) -> dict[str, Any]:
        """For diffusion jobs: run on this worker's device, with the model resident in its cache.

        The backend's ``get_model`` then finds the adapter the cache loaded (same id, device).
        """
        if request["backend"] != "diffusion":
            return {}
        model = request["options"].get("model")  # resolved at submit (check_submit)
        if isinstance(model, str) and model:
            self.caches[device].get(model, device)
        return {"device": device}
