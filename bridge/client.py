"""Python client of the bridge daemon: sync (:class:`Client`) and asyncio (:class:`AsyncClient`).

Requests go over a DEALER socket with the "lazy pirate" pattern: wait ``timeout`` seconds for the
reply; if none comes, close the socket, re-read the connection file (the daemon may have
restarted), reconnect and resend with a fresh message id, up to ``retries`` times. Resending is
safe because job ids are chosen here and the daemon treats a resubmitted id idempotently. A
``stale`` reply also means "resend": a request queued while the daemon restarted reaches the new
daemon signed before it started, which rejects it as a possible replay.
Progress comes from the PUB stream, with ``status`` polls when it is silent (a subscriber misses
what was published before it connected).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from bridge.connection import (
    ConnectionInfo,
    DaemonUnavailable,
    default_connection_path,
    process_alive,
    read_connection_file,
)
from bridge.protocol import (
    TERMINAL_STATES,
    Message,
    ProtocolError,
    Unauthenticated,
    buffer_spec,
    decode,
    encode,
    event_topic,
    new_id,
    read_buffers,
)
from diffmusic_engine.audio import read_audio
from diffmusic_engine.backends import Restoration
from diffmusic_engine.damage import Damage, Dereverb, damage_to_dict
from diffmusic_engine.errors import Cancelled, DiffMusicError, ModelError
from diffmusic_engine.progress import Progress, ProgressCallback

EventCallback = Callable[[str, dict[str, Any]], None]
SILENCE = 0.5  # seconds without events before ``wait`` asks for the status


class RequestRejected(DiffMusicError):
    """The daemon answered with an error reply; ``code`` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JobFailed(DiffMusicError):
    """A job ended failed; the message is the daemon's one line."""


class _SignAgain(Exception):  # noqa: N818 - an instruction to the request loop, not an error
    """The daemon answered ``stale``: send the request again as a freshly signed message."""


class _Base:
    """What both clients share: the connection, building requests, reading replies."""

    def __init__(
        self,
        connection_file: Path | str | None,
        timeout: float,
        retries: int,
        context: zmq.Context,
    ) -> None:
        self.connection_file = Path(connection_file or default_connection_path())
        self.timeout = timeout
        self.retries = max(1, retries)
        self.session = new_id()
        self.info: ConnectionInfo = read_connection_file(self.connection_file)
        self._connected_once = False
        self._context = context  # zmq.Context, or zmq.asyncio.Context for the asyncio client
        self._socket: Any = None  # the DEALER of the current try
        self._sub: Any = None  # the event SUB, once something is watched

    def _connect(self) -> Any:
        """The request socket, made anew (connection file re-read) after a dropped try."""
        if self._socket is None:
            self._refresh()
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.info.request_address)
            self._socket = sock
        return self._socket

    def _drop(self) -> None:
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None

    def _subscribe(self, job_id: str) -> None:
        """Add ``job_id``'s topic to the event socket (created on first use)."""
        if self._sub is None:
            self._sub = self._context.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            self._sub.setsockopt(zmq.RCVHWM, 10000)
            self._sub.connect(self.info.event_address)
        self._sub.setsockopt(zmq.SUBSCRIBE, event_topic(job_id))

    def close(self) -> None:
        self._drop()
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None
        self._context.term()

    def _refresh(self) -> None:
        """Re-read the connection file; fail fast if it names a process that is gone."""
        self.info = read_connection_file(self.connection_file)
        if not self._connected_once and self.info.pid and not process_alive(self.info.pid):
            raise DaemonUnavailable(
                f"daemon pid {self.info.pid} from {self.connection_file} is not running "
                f"({self.info.request_address}); start it with diffmusic serve"
            )

    def _no_reply(self, type_: str) -> DaemonUnavailable:
        return DaemonUnavailable(
            f"no reply to {type_} from the daemon at {self.info.request_address} (connection "
            f"file {self.connection_file}) after {self.retries} tries of {self.timeout:g} s"
        )

    def _accept(self, frames: list, msg_id: str, resend: bool) -> Message | None:
        """The reply to ``msg_id`` from received frames; None for anything else. A ``stale``
        error raises :class:`_SignAgain` while ``resend`` (tries are left)."""
        try:
            reply = decode(frames, self.info.key_bytes)
        except ProtocolError:
            return None  # unsigned or foreign: ignore, as the daemon does
        if reply.parent_id != msg_id:
            return None
        if reply.type == "error":
            code = str(reply.content.get("code", "error"))
            if code == "stale" and resend:
                raise _SignAgain
            raise RequestRejected(code, f"daemon: {code}: {reply.content.get('message', '')}")
        return reply

    def _event(self, frames: list, job_id: str, last_seq: int) -> tuple[str, dict] | None:
        try:
            message = decode(frames[1:], self.info.key_bytes)
        except (Unauthenticated, ProtocolError):
            return None
        content = message.content
        if content.get("job") != job_id or int(content.get("seq", 0)) <= last_seq:
            return None
        return message.type, content

    def _timeout_for(self, buffers: list) -> float:
        size = sum(memoryview(b).nbytes if not isinstance(b, np.ndarray) else b.nbytes
                   for b in buffers)  # fmt: skip
        return self.timeout + size / 50e6  # allow 50 MB/s for big audio (sign, send, fsync)


def submit_message(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage | dict[str, Any],
    *,
    backend: str = "dsp",
    options: dict[str, Any] | None = None,
    job_id: str | None = None,
    priority: int = 0,
    source: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The content and buffers of a submit request (the IR file of dereverb travels as a buffer)."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    damage_dict = dict(damage) if isinstance(damage, dict) else None
    buffers = [audio]
    specs = [buffer_spec("audio", audio, sample_rate)]
    if isinstance(damage, Dereverb) and damage.rir is not None:
        if isinstance(damage.rir, np.ndarray):  # samples: sent as they are, at their own rate
            rir, rir_rate = np.atleast_2d(damage.rir), damage.rir_rate or sample_rate
        else:
            rir, info = read_audio(damage.rir)
            rir_rate = info.sample_rate
        buffers.append(rir)
        specs.append(buffer_spec("rir", rir, rir_rate))
        damage_dict = {**damage_to_dict(Dereverb()), "rir": "buffer:rir"}
    if damage_dict is None:
        damage_dict = damage_to_dict(damage)
    content = {
        "job": job_id or new_id(),
        "priority": priority,
        "damage": damage_dict,
        "backend": backend,
        "options": dict(options or {}),
        "source": dict(source or {}),
        "buffers": specs,
    }
    return content, buffers


def _writable(array: np.ndarray) -> np.ndarray:
    """``array`` itself when writable (a view of a received ZeroMQ frame, which nothing else
    holds), else a copy: callers may process a result in place."""
    return array if array.flags.writeable else np.array(array)


def restoration_from_fetch(reply: Message) -> Restoration:
    """The :class:`Restoration` a fetch reply carries (arrays that own the received frames)."""
    arrays = read_buffers(reply)
    tracks = tuple(_writable(arrays[s["name"]][0]) for s in reply.content["buffers"])
    details = dict(reply.content.get("details", {}))
    details["source"] = reply.content.get("source", {})
    return Restoration(tracks, int(reply.content["sample_rate"]), details)


class Client(_Base):
    """Blocking client. ``timeout`` is per try; ``retries`` tries per request."""

    def __init__(
        self,
        connection_file: Path | str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(connection_file, timeout, retries, zmq.Context())
        self._subscribed: set[str] = set()
        self._pending: deque[list] = deque(maxlen=10000)  # events of jobs not waited on yet

    # -- transport -------------------------------------------------------------------------------

    def request(
        self, type_: str, content: dict[str, Any] | None = None, buffers: list | None = None
    ) -> Message:
        """Send one request and return its ``ok`` reply (lazy pirate retries)."""
        buffers = list(buffers or [])
        timeout = self._timeout_for(buffers)
        for attempt in range(1, self.retries + 1):
            sock = self._connect()
            message = Message(type_, dict(content or {}), buffers, session=self.session)
            sock.send_multipart(encode(message, self.info.key_bytes), copy=False)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not sock.poll(int(left * 1000) + 1):
                    break
                try:
                    frames = sock.recv_multipart(copy=False)
                    reply = self._accept(frames, message.msg_id, attempt < self.retries)
                except _SignAgain:
                    break
                if reply is not None:
                    self._connected_once = True
                    return reply
            self._drop()  # lazy pirate: a fresh socket (and connection file) for the next try
        raise self._no_reply(type_)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """The daemon's ``ping`` reply content, plus ``rtt_ms``."""
        start = time.perf_counter()
        content = self.request("ping").content
        return {**content, "rtt_ms": (time.perf_counter() - start) * 1000}

    def submit(
        self,
        audio: np.ndarray,
        sample_rate: int,
        damage: Damage | dict[str, Any],
        *,
        backend: str = "dsp",
        options: dict[str, Any] | None = None,
        job_id: str | None = None,
        priority: int = 0,
        source: dict[str, str] | None = None,
        watch: bool = True,
    ) -> str:
        """Submit a job; returns its id once the daemon has it durably. ``watch`` subscribes
        to its events first (for :meth:`wait`)."""
        content, buffers = submit_message(
            audio, sample_rate, damage, backend=backend, options=options, job_id=job_id,
            priority=priority, source=source,
        )  # fmt: skip
        if watch:
            self.subscribe(content["job"])
        return self.request("submit", content, buffers).content["job"]

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

    def load_model(
        self, model: str, device: str | None = None, *, wait: float | None = None
    ) -> dict[str, Any] | None:
        """Ask the daemon to load ``model`` (a ``model-loaded`` event follows).

        With ``wait`` (seconds), poll until it is loaded and return its entry of
        :meth:`models`; raise :class:`~diffmusic_engine.errors.ModelError` if loading failed.
        """
        self.request("load-model", {"model": model, "device": device})
        deadline = time.monotonic() + (wait or 0)
        while wait is not None:
            listing = self.models()
            for entry in listing["models"]:
                if entry["id"] == model:
                    return entry
            for entry in listing["failed"]:
                if entry["id"] == model:
                    raise ModelError(f"daemon could not load {model}: {entry['message']}")
            if time.monotonic() > deadline:
                raise ModelError(f"daemon: {model} not loaded after {wait:g} s")
            time.sleep(0.2)
        return None

    def unload_model(self, model: str) -> bool:
        return bool(self.request("unload-model", {"model": model}).content["unloaded"])

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, job_id: str, *, confirm: float = 2.0) -> bool:
        """Receive ``job_id``'s events; call before submitting.

        A subscription reaches the daemon asynchronously, so this asks the daemon to publish a
        ``probe`` event on the job's topic (``ping`` with ``probe``) until one arrives, for at most
        ``confirm`` seconds. Returns whether it arrived (events are then complete from here on).
        """
        if job_id in self._subscribed:
            return True
        self._subscribe(job_id)
        self._subscribed.add(job_id)
        deadline = time.monotonic() + confirm
        while time.monotonic() < deadline:
            self.request("ping", {"probe": job_id})
            event = self._next_event(job_id, 0, 10)
            while event is not None:
                if event[0] == "probe":
                    return True
                event = self._next_event(job_id, 0, 0)
        return False

    def _next_event(self, job_id: str, last_seq: int, timeout_ms: int) -> tuple[str, dict] | None:
        """The next event of ``job_id`` newer than ``last_seq``; others' are kept for later."""
        for i, frames in enumerate(self._pending):
            event = self._event(frames, job_id, last_seq)
            if event is not None:
                del self._pending[i]
                return event
        assert self._sub is not None
        deadline = time.monotonic() + timeout_ms / 1000
        while self._sub.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            frames = self._sub.recv_multipart()
            event = self._event(frames, job_id, last_seq)
            if event is not None:
                return event
            self._pending.append(frames)
            if time.monotonic() >= deadline:
                break
        return None

    def wait(
        self,
        job_id: str,
        *,
        callback: ProgressCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Block until the job ends; returns its final job object.

        ``callback`` gets a :class:`Progress` per progress event (it may raise ``Cancelled``:
        the job is then cancelled on the daemon too); ``on_event(type, content)`` gets every event;
        ``on_status(job)`` every job object polled while the event stream was silent.
        """
        self.subscribe(job_id)
        assert self._sub is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seq = 0
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise DiffMusicError(f"job {job_id}: still running after {timeout:g} s")
                event = self._next_event(job_id, last_seq, int(SILENCE * 1000))
                if event is not None:
                    kind, content = event
                    last_seq = int(content["seq"])
                    if kind == "probe":
                        continue
                    if on_event is not None:
                        on_event(kind, content)
                    if kind == "progress" and callback is not None:
                        callback(_progress(content))
                    if kind not in TERMINAL_STATES:
                        continue
                status = self.status(job_id)  # an end event, or silence: ask
                if status["state"] in TERMINAL_STATES:
                    return status
                if on_status is not None:
                    on_status(status)
        except (Cancelled, KeyboardInterrupt):
            self.cancel(job_id)
            raise


class AsyncClient(_Base):
    """The asyncio client: the same requests as :class:`Client`, awaitable."""

    def __init__(
        self,
        connection_file: Path | str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(connection_file, timeout, retries, zmq.asyncio.Context())

    async def request(
        self, type_: str, content: dict[str, Any] | None = None, buffers: list | None = None
    ) -> Message:
        buffers = list(buffers or [])
        timeout = self._timeout_for(buffers)
        for attempt in range(1, self.retries + 1):
            sock = self._connect()
            message = Message(type_, dict(content or {}), buffers, session=self.session)
            await sock.send_multipart(encode(message, self.info.key_bytes), copy=False)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not await sock.poll(int(left * 1000) + 1):
                    break
                frames = await sock.recv_multipart(copy=False)
                try:
                    reply = self._accept(frames, message.msg_id, attempt < self.retries)
                except _SignAgain:
                    break
                if reply is not None:
                    self._connected_once = True
                    return reply
            self._drop()  # lazy pirate, as Client.request
        raise self._no_reply(type_)

    async def ping(self) -> dict[str, Any]:
        return (await self.request("ping")).content

    async def submit(
        self, audio: np.ndarray, sample_rate: int, damage: Damage | dict, **kwargs: Any
    ) -> str:
        """As :meth:`Client.submit`."""
        watch = kwargs.pop("watch", True)
        content, buffers = submit_message(audio, sample_rate, damage, **kwargs)
        if watch:
            self.subscribe(content["job"])
        return (await self.request("submit", content, buffers)).content["job"]

    async def status(self, job_id: str) -> dict[str, Any]:
        return (await self.request("status", {"job": job_id})).content["job"]

    async def cancel(self, job_id: str) -> str:
        return (await self.request("cancel", {"job": job_id})).content["state"]

    async def fetch(self, job_id: str) -> Restoration:
        return restoration_from_fetch(await self.request("fetch", {"job": job_id}))

    async def jobs(self) -> list[dict[str, Any]]:
        return (await self.request("status", {})).content["jobs"]

    async def models(self) -> dict[str, Any]:
        return (await self.request("list-models")).content

    async def load_model(self, model: str, device: str | None = None) -> None:
        await self.request("load-model", {"model": model, "device": device})

    async def unload_model(self, model: str) -> bool:
        return bool((await self.request("unload-model", {"model": model})).content["unloaded"])

    def subscribe(self, job_id: str) -> None:
        """Receive ``job_id``'s events (call before submitting)."""
        self._subscribe(job_id)

    async def wait(
        self,
        job_id: str,
        *,
        callback: ProgressCallback | None = None,
        on_event: EventCallback | None = None,
    ) -> dict[str, Any]:
        """As :meth:`Client.wait` (cancel the awaiting task to stop waiting, not the job)."""
        self.subscribe(job_id)
        assert self._sub is not None
        last_seq = 0
        while True:
            if await self._sub.poll(int(SILENCE * 1000)):
                event = self._event(await self._sub.recv_multipart(), job_id, last_seq)
                if event is None:
                    continue
                kind, content = event
                last_seq = int(content["seq"])
                if kind == "probe":
                    continue
                if on_event is not None:
                    on_event(kind, content)
                if kind == "progress" and callback is not None:
                    callback(_progress(content))
                if kind not in TERMINAL_STATES:
                    continue
            status = await self.status(job_id)
            if status["state"] in TERMINAL_STATES:
                return status

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _progress(content: dict[str, Any]) -> Progress:
    return Progress(int(content.get("step", 0)), int(content.get("total", 0)),
                    str(content.get("stage", "")))  # fmt: skip


def restore_via_daemon(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage,
    *,
    backend: str = "dsp",
    options: dict[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    connection_file: Path | str | None = None,
) -> Restoration:
    """``restore()`` through the daemon: submit, follow progress, fetch (``restore --connect``).

    Raises :class:`JobFailed` with the daemon's message if the job fails, ``Cancelled`` if it
    was cancelled (from here through ``callback``, or by someone else).
    """
    with Client(connection_file) as client:
        job_id = client.submit(audio, sample_rate, damage, backend=backend, options=options)
        status = client.wait(job_id, callback=callback)
        if status["state"] == "failed":
            raise JobFailed(f"job {job_id} failed: {status['error']}")
        if status["state"] == "cancelled":
            raise Cancelled(f"job {job_id} was cancelled")
        return client.fetch(job_id)
