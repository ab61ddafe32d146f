"""Python client of the bridge daemon: sync (:class:`Client`) and asyncio (:class:`AsyncClient`).

Both are thin drivers of one core (:mod:`bridge.client.core`): the same requests with lazy-pirate
retries, the same ``wait`` (timeout, progress callback, ``on_event``, ``on_status``), the same
buffering of other jobs' events, and the same cancel of the job when the wait is interrupted
(``KeyboardInterrupt``, or ``Cancelled`` raised by the progress callback). Cancelling the asyncio
task that awaits ``wait`` stops the waiting only, not the job.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from bridge.client.core import (
    SILENCE,
    ClientCore,
    EventCallback,
    JobFailed,
    Recv,
    RequestRejected,
    Send,
    StatusCallback,
    Steps,
)
from bridge.client.messages import restoration_from_fetch, submit_message
from bridge.defaults import RECONNECT_SECONDS, REQUEST_RETRIES, REQUEST_TIMEOUT
from bridge.protocol import Message
from diffmusic_engine.backends import Restoration
from diffmusic_engine.damage import Damage
from diffmusic_engine.diffusion.options import model_key
from diffmusic_engine.errors import Cancelled
from diffmusic_engine.progress import ProgressCallback

__all__ = [
    "SILENCE",
    "AsyncClient",
    "Client",
    "JobFailed",
    "RequestRejected",
    "restoration_from_fetch",
    "restore_via_daemon",
    "submit_message",
]


class Client(ClientCore):
    """Blocking client. ``timeout`` is per try; ``retries`` tries per request."""

    def __init__(
        self,
        connection_file: Path | str | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
        retries: int = REQUEST_RETRIES,
    ) -> None:
        super().__init__(connection_file, timeout, retries, zmq.Context())

    def _drive(self, steps: Steps) -> Any:
        """Run a core operation, doing its I/O steps with blocking calls. An interrupt during a
        step is raised inside the operation (so ``wait`` can cancel the job)."""
        answer: Any = None
        interrupt: BaseException | None = None
        while True:
            try:
                step = steps.throw(interrupt) if interrupt else steps.send(answer)
            except StopIteration as done:
                return done.value
            answer, interrupt = None, None
            try:
                if isinstance(step, Send):
                    step.socket.send_multipart(step.frames, copy=False)
                elif isinstance(step, Recv):
                    if step.socket.poll(step.timeout_ms):
                        answer = step.socket.recv_multipart(copy=step.copy)
                else:
                    time.sleep(step.seconds)
            except KeyboardInterrupt as exc:
                interrupt = exc

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, type_: str, content: dict | None = None, buffers: list | None = None
    ) -> Message:
        """Send one request and return its ``ok`` reply (lazy pirate retries)."""
        return self._drive(self.request_steps(type_, content, buffers))

    def ping(self) -> dict[str, Any]:
        """The daemon's ``ping`` reply content, plus ``rtt_ms``."""
        return self._drive(self.ping_steps())

    def submit(
        self, audio: np.ndarray, sample_rate: int, damage: Damage | dict, *, watch: bool = True,
        **kwargs: Any,
    ) -> str:  # fmt: skip
        """Submit a job (keywords of :func:`submit_message`); returns its id once the daemon has
        it durably. ``watch`` subscribes to its events first (for :meth:`wait`)."""
        return self.submit_reply(audio, sample_rate, damage, watch=watch, **kwargs)["job"]

    def submit_reply(
        self, audio: np.ndarray, sample_rate: int, damage: Damage | dict, *, watch: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """As :meth:`submit`, returning the daemon's whole reply: ``job``, ``state`` and ``new``
        (false when the id was already known: the same submission again, which does not run
        twice; docs/protocol.md)."""
        content, buffers = submit_message(audio, sample_rate, damage, **kwargs)
        if watch:
            self.subscribe(content["job"])
        return self.request("submit", content, buffers).content

    def status(self, job_id: str) -> dict[str, Any]:
        """The job object (docs/protocol.md)."""
        return self.request("status", {"job": job_id}).content["job"]

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the daemon's journal holds, newest first."""
        return self.request("status", {}).content["jobs"]

    def cancel(self, job_id: str) -> str:
        """Cancel a job; returns its state (``running`` while a running job stops)."""
        return self.request("cancel", {"job": job_id}).content["state"]

    def fetch(self, job_id: str) -> Restoration:
        """A finished job's result (``details["source"]`` is what the submitter described)."""
        return restoration_from_fetch(self.request("fetch", {"job": job_id}))

    def models(self) -> dict[str, Any]:
        return self.request("list-models").content

    def diagnose(self, audio: np.ndarray, sample_rate: int, lossy: bool = False) -> dict[str, Any]:
        """What damage ``audio`` shows: the engine's ``diagnose`` dict, computed by the daemon
        (``lossy``: decoded from a lossy codec, ``AudioInfo.lossy``)."""
        return self._drive(self.diagnose_steps(audio, sample_rate, lossy))

    def load_model(
        self, model: str, device: str | None = None, *, wait: float | None = None
    ) -> dict[str, Any] | None:
        """Ask the daemon to load ``model`` (a ``model-loaded`` event follows). With ``wait``
        (seconds), poll until it is loaded and return its entry of :meth:`models`; raise
        :class:`~diffmusic_engine.errors.ModelError` if loading failed."""
        return self._drive(self.load_model_steps(model, device, wait))

    def unload_model(self, model: str) -> bool:
        """Ask the daemon to unload ``model`` (named as for :meth:`load_model`); whether it was
        loaded or loading."""
        request = {"model": model_key(model)}
        return bool(self.request("unload-model", request).content["unloaded"])

    def subscribe(self, job_id: str, *, confirm: float = 2.0) -> bool:
        """Receive ``job_id``'s events; call before submitting. Whether a probe confirmed it
        within ``confirm`` seconds (see :meth:`ClientCore.subscribe_steps`)."""
        return self._drive(self.subscribe_steps(job_id, confirm))

    def _next_event(self, job_id: str, last_seq: int, timeout_ms: int) -> tuple[str, dict] | None:
        return self._drive(self.next_event_steps(job_id, last_seq, timeout_ms))

    def wait(
        self,
        job_id: str,
        *,
        callback: ProgressCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        timeout: float | None = None,
        reconnect: float = RECONNECT_SECONDS,
    ) -> dict[str, Any]:
        """Block until the job ends; returns its final job object.

        ``callback`` gets a :class:`Progress` per progress event (it may raise ``Cancelled``:
        the job is then cancelled on the daemon too, as on ``KeyboardInterrupt``); ``on_event``
        ``(type, content)`` gets every event; ``on_status(job)`` every job object polled while
        the event stream was silent; ``timeout`` (seconds) raises if the job is still running.
        A daemon that stops under the job is waited for ``reconnect`` seconds (it resumes the job
        at its next start): ``on_status`` hears ``{"state": "reconnecting"}`` meanwhile.
        """
        return self._drive(
            self.wait_steps(job_id, callback, on_event, on_status, timeout, reconnect)
        )


class AsyncClient(ClientCore):
    """The asyncio client: the same operations as :class:`Client`, awaitable."""

    def __init__(
        self,
        connection_file: Path | str | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
        retries: int = REQUEST_RETRIES,
    ) -> None:
        super().__init__(connection_file, timeout, retries, zmq.asyncio.Context())

    async def _drive(self, steps: Steps) -> Any:
        """Run a core operation, awaiting its I/O steps (as :meth:`Client._drive`)."""
        answer: Any = None
        interrupt: BaseException | None = None
        while True:
            try:
                step = steps.throw(interrupt) if interrupt else steps.send(answer)
            except StopIteration as done:
                return done.value
            answer, interrupt = None, None
            try:
                if isinstance(step, Send):
                    await step.socket.send_multipart(step.frames, copy=False)
                elif isinstance(step, Recv):
                    if await step.socket.poll(step.timeout_ms):
                        answer = await step.socket.recv_multipart(copy=step.copy)
                else:
                    await asyncio.sleep(step.seconds)
            except KeyboardInterrupt as exc:
                interrupt = exc

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def request(
        self, type_: str, content: dict | None = None, buffers: list | None = None
    ) -> Message:
        return await self._drive(self.request_steps(type_, content, buffers))

    async def ping(self) -> dict[str, Any]:
        return await self._drive(self.ping_steps())

    async def submit(
        self, audio: np.ndarray, sample_rate: int, damage: Damage | dict, *, watch: bool = True,
        **kwargs: Any,
    ) -> str:  # fmt: skip
        """As :meth:`Client.submit`."""
        content, buffers = submit_message(audio, sample_rate, damage, **kwargs)
        if watch:
            await self.subscribe(content["job"])
        return (await self.request("submit", content, buffers)).content["job"]

    async def status(self, job_id: str) -> dict[str, Any]:
        return (await self.request("status", {"job": job_id})).content["job"]

    async def jobs(self) -> list[dict[str, Any]]:
        return (await self.request("status", {})).content["jobs"]

    async def cancel(self, job_id: str) -> str:
        return (await self.request("cancel", {"job": job_id})).content["state"]

    async def fetch(self, job_id: str) -> Restoration:
        return restoration_from_fetch(await self.request("fetch", {"job": job_id}))

    async def models(self) -> dict[str, Any]:
        return (await self.request("list-models")).content

    async def diagnose(
        self, audio: np.ndarray, sample_rate: int, lossy: bool = False
    ) -> dict[str, Any]:
        return await self._drive(self.diagnose_steps(audio, sample_rate, lossy))

    async def load_model(
        self, model: str, device: str | None = None, *, wait: float | None = None
    ) -> dict[str, Any] | None:
        return await self._drive(self.load_model_steps(model, device, wait))

    async def unload_model(self, model: str) -> bool:
        request = {"model": model_key(model)}
        return bool((await self.request("unload-model", request)).content["unloaded"])

    async def subscribe(self, job_id: str, *, confirm: float = 2.0) -> bool:
        """As :meth:`Client.subscribe`."""
        return await self._drive(self.subscribe_steps(job_id, confirm))

    async def wait(
        self,
        job_id: str,
        *,
        callback: ProgressCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        timeout: float | None = None,
        reconnect: float = RECONNECT_SECONDS,
    ) -> dict[str, Any]:
        """As :meth:`Client.wait`."""
        return await self._drive(
            self.wait_steps(job_id, callback, on_event, on_status, timeout, reconnect)
        )


def restore_via_daemon(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    backend: str = "dsp",
    options: dict[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    connection_file: Path | str | None = None,
    lossy: bool = False,
) -> Restoration:
    """``restore()`` through the daemon: submit, follow progress, fetch (``restore --connect``;
    ``lossy`` as ``restore()``'s).

    Raises :class:`JobFailed` with the daemon's message if the job fails, ``Cancelled`` if it
    was cancelled (from here through ``callback``, or by someone else).
    """
    with Client(connection_file) as client:
        job_id = client.submit(
            audio, sample_rate, damage, backend=backend, options=options, lossy=lossy
        )
        status = client.wait(job_id, callback=callback)
        if status["state"] == "failed":
            raise JobFailed(f"job {job_id} failed: {status['error']}")
        if status["state"] == "cancelled":
            raise Cancelled(f"job {job_id} was cancelled")
        return client.fetch(job_id)
