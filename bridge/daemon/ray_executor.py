"""The Ray executor: the daemon's gateway hands the solving to a Ray Serve deployment.

The daemon (``bridge.daemon.server`` and its gateway) keeps speaking the protocol and keeps the
journal; this executor keeps the gateway's priority queue and feeds the deployment
(:mod:`ray_replica`) as many jobs as its replicas can run, each as one streaming request whose
items are the job's start, progress and result. What moves where:

- inputs: read from the journal, put once into Ray's object store; the request carries the
  reference (replicas on other nodes pull it from there), never the samples;
- progress: streamed items of the response, turned into journal progress and PUB events;
- results: the last streamed item (stored by Ray in its object store), written to the journal.

Failure handling: a replica (or node) that dies mid-job loses nothing, the job is still durable
in the journal and is dispatched again under the same id (at most ``max_attempts`` times); the
journal keeps one result per id. When the deployment pushes back (Serve's ``BackPressureError``),
the job goes back into the gateway's queue and the gateway answers new submissions "busy, retry
after N s" for a short while (:meth:`RayExecutor.retry_after`), never a hang.

Ray is an optional dependency: without it :func:`import_ray` raises an error naming the extra.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from bridge.daemon.executor import Capacity, JobHost, ModelReports
from bridge.daemon.worker import JobQueue
from bridge.defaults import MAX_QUEUED
from diffmusic_engine.api import Restoration
from diffmusic_engine.errors import DiffMusicError, one_line
from diffmusic_engine.progress import Progress

log = logging.getLogger(__name__)

RAY_EXTRA = "pip install 'diffmusic-bridge[ray]'"
APP_NAME = "diffmusic"
BUSY_BACKOFF = (0.5, 8.0)  # seconds: first and longest wait after Ray pushed back


def import_ray() -> Any:
    """The ``ray`` module, or a clear error saying what to install."""
    try:
        import ray
        from ray import serve  # noqa: F401 - the serve extra must be there too
    except ImportError as exc:
        raise DiffMusicError(
            f"--executor ray needs Ray Serve, which is not installed ({exc.name} is missing): "
            f"{RAY_EXTRA}"
        ) from None
    return ray


@dataclass(frozen=True)
class RayConfig:
    """How the gateway reaches Ray and how the deployment is sized."""

    address: str | None = None  # None: $RAY_ADDRESS or a running `ray start`, else a local one
    replicas: int | None = None  # None: one per GPU in the cluster, else 1
    max_ongoing: int = 1  # jobs one replica runs at once (one solve saturates a GPU)
    max_queued: int = MAX_QUEUED  # Serve's max_queued_requests (the daemon's Limits.max_queued)
    cpus_per_replica: float = 1.0  # when the cluster has no GPU
    gpus_per_replica: float | None = None  # None: 1 if the cluster has GPUs, else 0
    app_name: str = APP_NAME
    max_attempts: int = 3  # dispatches of one job before a lost replica fails it
    inflight: int | None = None  # requests the gateway keeps at Ray; None: replicas*max_ongoing


def deployment_options(config: RayConfig, resources: dict[str, float]) -> dict[str, Any]:
    """Serve deployment options for a cluster with ``resources`` (``ray.cluster_resources()``)."""
    gpus = resources.get("GPU", 0.0)
    per_gpu = config.gpus_per_replica if config.gpus_per_replica is not None else float(gpus > 0)
    replicas = config.replicas or (max(1, int(gpus // per_gpu)) if per_gpu else 1)
    actor: dict[str, Any] = {"num_gpus": per_gpu} if per_gpu else {}
    actor["num_cpus"] = config.cpus_per_replica
    return {
        "num_replicas": replicas,
        "max_ongoing_requests": config.max_ongoing,
        "max_queued_requests": config.max_queued,
        "ray_actor_options": actor,
        "health_check_period_s": 2.0,
        "health_check_timeout_s": 30.0,
    }


class RayExecutor:
    """Runs the daemon's jobs on a Ray Serve deployment (see the module docstring)."""

    name = "ray"

    def __init__(self, config: RayConfig | None = None) -> None:
        self.config = config or RayConfig()
        self._ray = import_ray()
        self._queue = JobQueue()
        self._lock = threading.Lock()
        self._responses: dict[str, Any] = {}  # job id -> in-flight streaming response
        self._cancelling: set[str] = set()
        self._attempts: dict[str, int] = {}  # job id -> dispatches so far (this gateway run)
        self._priorities: dict[str, int] = {}  # job id -> priority, to requeue a job
        self._marked: set[str] = set()  # jobs marked running in the journal (by this gateway)
        self._loaded: dict[str, dict[str, Any]] = {}  # model -> entry of models()
        self._reports = ModelReports()
        self._busy_until = 0.0
        self._backoff = BUSY_BACKOFF[0]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._host: JobHost | None = None
        self._handle: Any = None
        self.options: dict[str, Any] = {}
        self._started_ray = False
        self.connect()

    # -- Executor interface ----------------------------------------------------------------------

    def connect(self) -> None:
        """Join (or start) Ray and deploy the replicas; a clear error if Ray cannot be reached.

        Called by the constructor, so that ``diffmusic serve`` fails before it binds anything.
        """
        from ray import serve

        from bridge.daemon.ray_replica import Restorer

        ray = self._ray
        where = self.config.address or "$RAY_ADDRESS / a local instance"
        try:
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {"namespace": "diffmusic", "log_to_driver": False}
                if self.config.address == "local":
                    kwargs["include_dashboard"] = False
                ray.init(address=self.config.address, **kwargs)
                self._started_ray = True
            self.options = deployment_options(self.config, ray.cluster_resources())
            serve.start(proxy_location="Disabled")  # no HTTP: the gateway is the only way in
            app = Restorer.options(**self.options).bind()
            self._handle = serve.run(app, name=self.config.app_name, route_prefix=None)
        except Exception as exc:  # ConnectionError, RayServeException, ...: one clear line
            raise DiffMusicError(f"Ray executor: cannot deploy on Ray at {where}: "
                                 f"{one_line(exc)}") from exc  # fmt: skip

    def start(self, host: JobHost) -> None:
        """Start the dispatchers (the deployment is already up)."""
        self._host = host
        slots = self.config.inflight or self.options["num_replicas"] * self.config.max_ongoing
        for i in range(slots):
            thread = threading.Thread(target=self._dispatch_loop, name=f"ray-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "Ray executor: app %r, %d replica(s) with %s, %d dispatcher(s)",
            self.config.app_name, self.options["num_replicas"],
            self.options["ray_actor_options"], slots,
        )  # fmt: skip

    def submit(self, job_id: str, priority: int) -> None:
        self._priorities[job_id] = priority
        self._queue.put(job_id, priority)

    def cancel(self, job_id: str) -> str:
        if self._queue.remove(job_id):
            return "cancelled"
        with self._lock:
            response = self._responses.get(job_id)
            if response is None:
                return "unknown"
            self._cancelling.add(job_id)
        response.cancel()  # reaches the replica's coroutine, which stops the solve
        return "running"

    def capacity(self) -> Capacity:
        with self._lock:
            running = len(self._responses)
        slots = self.options.get("num_replicas", 0) * self.config.max_ongoing
        return Capacity(workers=slots, running=running, queued=len(self._queue))

    def retry_after(self) -> float:
        """Seconds until the deployment is worth asking again; 0 when it is not pushing back."""
        return max(0.0, self._busy_until - time.monotonic())

    def models(self) -> dict[str, Any]:
        """Models this gateway had loaded on a replica (Serve's per-replica LRU may evict them)."""
        with self._lock:
            loaded = list(self._loaded.values())
        return {
            "models": loaded,
            "budget_bytes": 0,
            "devices": [f"ray:{self.config.app_name}"],
            "failed": self._reports.failures(),
            "replicas": self.options.get("num_replicas", 0),
        }

    def load_model(self, model: str, device: str | None = None) -> None:
        """Load ``model`` on a replica in the background (others load it on first use)."""

        def load() -> None:
            try:
                handle = self._handle.options(multiplexed_model_id=model)
                reply = handle.warm.remote().result(timeout_s=600)
            except Exception as exc:  # any failure becomes an event, never a crash
                self._reports.failed(self._host, model, exc)
                return
            entry = {"id": model, "device": f"{reply['replica']} ({reply['device']})",
                     "bytes": reply["bytes"], "last_used": time.time()}  # fmt: skip
            with self._lock:
                self._loaded[model] = entry
            self._reports.loaded(self._host, model, entry["device"], entry["bytes"])

        threading.Thread(target=load, name=f"load-{model}", daemon=True).start()

    def unload_model(self, model: str) -> bool:
        """Forget ``model`` here; replicas evict their least recently used models themselves."""
        with self._lock:
            forgotten = self._loaded.pop(model, None) is not None
        if forgotten:
            self._reports.unloaded(self._host, model)
        return forgotten

    def stop(self) -> None:
        """Stop dispatching; jobs at Ray are cancelled there and stay resumable in the journal."""
        self._stopping.set()
        self._queue.close()
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            response.cancel()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._started_ray:
            self._ray.shutdown()

    # -- dispatching -----------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            wait = self.retry_after()
            if wait:
                time.sleep(wait)
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._dispatch(job_id)
            except Exception:  # a bug in the host must not kill the dispatcher
                log.exception("job %s: unexpected error in the Ray dispatcher", job_id)

    def _dispatch(self, job_id: str) -> None:
        """Send one job to the deployment and follow it to its end (or requeue it)."""
        from ray import exceptions
        from ray.serve.exceptions import (
            BackPressureError,
            DeploymentUnavailableError,
            RequestCancelledError,
        )

        host = self._host
        assert host is not None
        request = host.request(job_id)
        attempt = self._attempts.get(job_id, 0) + 1
        self._attempts[job_id] = attempt
        inputs = self._ray.put(host.inputs(job_id))  # by reference from here on
        handle = self._handle.options(stream=True, multiplexed_model_id=_model_of(request))
        outcome = "lost"
        try:
            with self._lock:
                job = {"job": job_id, "request": request, "inputs": [inputs]}
                response = self._responses[job_id] = handle.run.remote(job)
            outcome = self._follow(job_id, response, attempt)
        except BackPressureError:
            outcome = "busy"
        except (RequestCancelledError, exceptions.TaskCancelledError):
            outcome = "cancelled"
        except (
            exceptions.RayActorError,  # the replica (or its node) died
            exceptions.ActorUnavailableError,  # unreachable for now (node restarting)
            DeploymentUnavailableError,  # Serve is redeploying or recovering the app
        ) as exc:
            log.warning("job %s: replica lost (%s)", job_id, one_line(exc))
            time.sleep(0.2)  # give Serve's router a moment to learn of the dead replica
        except Exception as exc:  # anything else from Ray fails the job with one line
            log.exception("job %s failed at Ray", job_id)
            outcome = "failed"
            host.failed(job_id, one_line(exc))
        finally:
            with self._lock:
                self._responses.pop(job_id, None)
                cancelling = job_id in self._cancelling
                self._cancelling.discard(job_id)
        self._settle(job_id, outcome, attempt, cancelling)

    def _follow(self, job_id: str, response: Any, attempt: int) -> str:
        """Read the job's stream until its last item; returns how it ended."""
        host = self._host
        assert host is not None
        for item in response:
            event = item["event"]
            if event == "started":
                self._backoff = BUSY_BACKOFF[0]
                log.info(
                    "job %s running on replica %s (%s), attempt %d",
                    job_id, item["replica"], item["device"], attempt,
                )  # fmt: skip
                # The first start marks the job running; a re-dispatch finds it running already.
                if job_id not in self._marked:
                    if not host.started(job_id):
                        response.cancel()  # cancelled or ended meanwhile: free the replica
                        return "dropped"
                    self._marked.add(job_id)
            elif event == "progress":
                host.progress(job_id, Progress(item["step"], item["total"], item["stage"]))
            elif event == "finished":
                tracks = tuple(item["tracks"])
                host.finished(job_id, Restoration(tracks, item["sample_rate"], item["details"]))
                return "finished"
            elif event == "failed":
                host.failed(job_id, item["message"])
                return "failed"
            elif event == "cancelled":
                return "cancelled"
        return "lost"  # the stream ended without a result

    def _settle(self, job_id: str, outcome: str, attempt: int, cancelling: bool) -> None:
        """Journal the end of a dispatch that did not report its own result."""
        host = self._host
        assert host is not None
        priority = self._priorities.get(job_id, 0)
        if outcome in ("finished", "failed", "dropped"):
            self._forget(job_id)
        elif self._stopping.is_set():
            host.interrupted(job_id)
        elif outcome == "cancelled" or cancelling:
            self._forget(job_id)
            host.cancelled(job_id)
        elif outcome == "busy":
            self._attempts[job_id] = attempt - 1  # never ran: not an attempt
            self._busy_until = time.monotonic() + self._backoff
            log.warning("Ray is busy: job %s waits %.1f s", job_id, self._backoff)
            self._backoff = min(self._backoff * 2, BUSY_BACKOFF[1])
            self._queue.put(job_id, priority)
        elif attempt >= self.config.max_attempts:
            self._forget(job_id)
            host.failed(job_id, f"lost its Ray replica {attempt} times; not retried")
        else:  # lost with its replica: the journal still has it, run it again under its id
            log.info("job %s resubmitted after losing its replica", job_id)
            self._queue.put(job_id, priority + 1)  # ahead of its peers: it was running

    def _forget(self, job_id: str) -> None:
        self._attempts.pop(job_id, None)
        self._priorities.pop(job_id, None)
        self._marked.discard(job_id)


def _model_of(request: dict[str, Any]) -> str:
    """The diffusion model id a request names (Serve routes it to a replica holding it)."""
    if request.get("backend") != "diffusion":
        return ""
    model = request["options"].get("model")  # resolved at submit (check_submit)
    return model if isinstance(model, str) else ""
