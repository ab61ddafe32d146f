"""The Ray Serve side of the Ray executor: one replica per GPU (or per CPU slot) that runs jobs.

A replica keeps its models resident (Serve's model multiplexing: one LRU of adapters per replica,
keyed by the request's ``multiplexed_model_id``) and runs each job with the same
:func:`bridge.daemon.jobs.execute` the local worker uses. Its ``run`` method is an async generator:
it yields ``started``, then ``progress`` items, then one ``finished`` (tracks), ``failed`` or
``cancelled`` item, which the gateway (:mod:`bridge.daemon.ray_executor`) turns into journal
updates and events. Inputs arrive as a reference into Ray's object store, never inline in the
request.

Cancellation: the gateway calls ``response.cancel()``; Ray raises ``CancelledError`` in this
coroutine at its next ``await``; the replica sets a flag that the job's progress callback checks,
so the solve raises ``Cancelled`` at its next step, exactly as in the local worker. The replica
waits for the solve to stop before it takes the next request.

This module imports Ray at the top: only the Ray executor imports it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import ray
from ray import serve

from bridge.daemon.jobs import execute
from bridge.daemon.models import model_bytes
from diffmusic_engine.diffusion import clear_models, get_model
from diffmusic_engine.errors import Cancelled, one_line
from diffmusic_engine.progress import Progress

DEPLOYMENT_NAME = "Restorer"
MAX_MODELS_PER_REPLICA = 2  # resident diffusion models per replica (Serve evicts the LRU one)


class ResidentModel:
    """A model Serve's multiplexing keeps on this replica; evicting it frees the engine's cache.

    The engine caches loaded models per process (``diffmusic_engine.diffusion.get_model``) and
    has no per-model eviction, so an eviction clears that whole cache: models still resident in
    Serve's LRU are loaded again by their next job. Evictions only happen when a replica serves
    more than ``MAX_MODELS_PER_REPLICA`` models.
    """

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self._evicted = False

    def __del__(self) -> None:  # Serve calls this when it evicts the model
        if not self._evicted:
            self._evicted = True
            clear_models()


@serve.deployment(name=DEPLOYMENT_NAME)
class Restorer:
    """Runs restoration jobs; one instance per replica (a Ray actor)."""

    def __init__(self) -> None:
        # Ray sets CUDA_VISIBLE_DEVICES for a replica that holds num_gpus=1: its GPU is cuda:0.
        self.device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.name = ray.get_runtime_context().get_actor_name() or "replica"
        self.loop: asyncio.AbstractEventLoop | None = None

    @serve.multiplexed(max_num_models_per_replica=MAX_MODELS_PER_REPLICA)
    async def model(self, model_id: str) -> ResidentModel:
        """Load a diffusion model once per replica (in a thread: loading takes seconds)."""
        return ResidentModel(await asyncio.to_thread(get_model, model_id, self.device))

    async def warm(self) -> dict[str, Any]:
        """Load the request's multiplexed model now (``load-model`` of the protocol)."""
        model_id = serve.get_multiplexed_model_id()
        size = model_bytes((await self.model(model_id)).adapter) if model_id else 0
        return {"replica": self.name, "model": model_id, "device": self.device, "bytes": size}

    async def run(self, job: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Run one job; ``job`` = {"job": id, "request": dict, "inputs": [ObjectRef]}."""
        job_id = job["job"]
        inputs = await job["inputs"][0]  # the audio, from the object store
        overrides: dict[str, Any] = {}
        model_id = serve.get_multiplexed_model_id()
        if model_id:
            try:  # resident from now on: restore() finds it in the engine's model cache
                await self.model(model_id)
                overrides = {"device": self.device}
            except Exception as exc:  # a model that does not load fails the job, not the replica
                yield {"event": "failed", "message": one_line(exc)}
                return
        yield {"event": "started", "replica": self.name, "device": self.device}

        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[Progress] = asyncio.Queue()
        cancel = threading.Event()

        def callback(progress: Progress) -> None:  # runs in the solve's thread
            if cancel.is_set():
                raise Cancelled(f"job {job_id} cancelled")
            loop.call_soon_threadsafe(updates.put_nowait, progress)

        solve = asyncio.ensure_future(
            asyncio.to_thread(execute, job["request"], inputs, callback, overrides)
        )
        try:
            async for event in _relay_progress(solve, updates):
                yield event
        except asyncio.CancelledError:
            cancel.set()  # the solve raises Cancelled at its next step
            await asyncio.gather(solve, return_exceptions=True)
            raise
        try:
            restoration = solve.result()
        except Cancelled:
            yield {"event": "cancelled"}
            return
        except Exception as exc:  # every failure is one line for the journal
            yield {"event": "failed", "message": one_line(exc)}
            return
        yield {
            "event": "finished",
            "tracks": list(restoration.tracks),
            "sample_rate": restoration.sample_rate,
            "details": restoration.details,
        }


async def _relay_progress(
    solve: asyncio.Future, updates: asyncio.Queue[Progress]
) -> AsyncIterator[dict[str, Any]]:
    """Progress events while ``solve`` runs: only the newest of those queued since the last
    travels; ends once the solve is done and the queue is empty."""
    while True:
        waiter = asyncio.ensure_future(updates.get())
        await asyncio.wait({waiter, solve}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
        latest = [waiter.result()] if waiter.done() and not waiter.cancelled() else []
        while not updates.empty():  # coalesce: only the newest progress travels
            latest.append(updates.get_nowait())
        if latest:
            p = latest[-1]
            yield {"event": "progress", "step": p.step, "total": p.total, "stage": p.stage}
        if solve.done() and updates.empty():
            return
