"""The client core: everything a client of the daemon does, written once, as step generators.

The sync :class:`~bridge.client.Client` and the asyncio :class:`~bridge.client.AsyncClient` are
thin drivers: each runs the same generators, carrying out the I/O steps they yield (:class:`Send`,
:class:`Recv`, :class:`Sleep`) with blocking or awaited socket calls. So both have the same
requests, retries, waits (timeout, ``on_status``), buffering of other jobs' events and cancel on
interrupt (the pattern of "sans-I/O" protocol libraries such as h11). What a submit request
carries and what a fetch reply gives back are :mod:`bridge.client.messages`'.


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
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from bridge.connection import (
    ConnectionInfo,
    DaemonUnavailable,
    default_connection_path,
    listening,
    process_alive,
    read_connection_file,
)
from bridge.defaults import RECONNECT_SECONDS
from bridge.notes import client_command, fetch_command
from bridge.protocol import (
    RECONNECTING,
    TERMINAL_STATES,
    ErrorCode,
    Message,
    ProtocolError,
    Unauthenticated,
    buffer_bytes,
    buffer_spec,
    decode,
    encode,
    event_topic,
    new_id,
)
from diffmusic_engine.audio_arrays import given_audio
from diffmusic_engine.diffusion.options import model_key
from diffmusic_engine.errors import Cancelled, DiffMusicError, ModelError
from diffmusic_engine.progress import Progress, ProgressCallback

EventCallback = Callable[[str, dict[str, Any]], None]
StatusCallback = Callable[[dict[str, Any]], None]
SILENCE = 0.5  # seconds without events before ``wait`` asks for the status


@dataclass(frozen=True)
class Send:
    """Step: send ``frames`` on ``socket``; the driver answers None."""

    socket: Any
    frames: list


@dataclass(frozen=True)
class Recv:
    """Step: the next multipart message on ``socket`` within ``timeout_ms``, or None."""

    socket: Any
    timeout_ms: int
    copy: bool = False


@dataclass(frozen=True)
class Sleep:
    """Step: wait ``seconds``; the driver answers None."""

    seconds: float


Steps = Generator[Send | Recv | Sleep, Any, Any]


class RequestRejected(DiffMusicError):
    """The daemon answered with an error reply; ``code`` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JobFailed(DiffMusicError):
    """A job ended failed; the message is the daemon's one line."""


class _SignAgain(Exception):  # noqa: N818 - an instruction to the request loop, not an error
    """The daemon answered ``stale``: send the request again as a freshly signed message."""


class ClientCore:
    """The connection, the sockets and every client operation as a step generator."""

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
        self._sub_address = ""  # the event address it was made for
        self._subscribed: set[str] = set()
        self._pending: deque[list] = deque(maxlen=10000)  # events of jobs not waited on yet

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
            self._sub_address = self.info.event_address
        self._sub.setsockopt(zmq.SUBSCRIBE, event_topic(job_id))

    def close(self) -> None:
        self._drop()
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None
        self._context.term()

    def _refresh(self) -> None:
        """Re-read the connection file; fail fast if it names a process that is gone, or one
        that holds no socket at its port (a crash's file whose pid the system gave to another
        program: three tries of ``timeout`` had passed before the error, which named no cure)."""
        self.info = read_connection_file(self.connection_file)
        if self._connected_once or not self.info.pid:
            return
        gone = not process_alive(self.info.pid)
        if gone or (
            self.info.transport == "tcp" and not listening(self.info.host, self.info.request_port)
        ):
            why = "is not running" if gone else "holds no socket there (another program now)"
            raise DaemonUnavailable(
                f"daemon pid {self.info.pid} from {self.connection_file} {why} "
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
            if code == ErrorCode.STALE and resend:
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

    def _check_size(self, buffers: list) -> None:
        """Refuse, before sending, audio bigger than the daemon takes in one frame (said in its
        connection file): ZeroMQ drops such a message unanswered."""
        limit = self.info.max_message_bytes
        size = max((buffer_bytes(b) for b in buffers), default=0)
        if limit and size > limit:
            raise DiffMusicError(
                f"the audio is {size / 2**20:.1f} MiB as float32 samples, over the "
                f"{limit / 2**20:g} MiB the daemon takes in one message: send a shorter region "
                "(or fewer channels), or serve with a higher --max-message-mb"
            )

    def _timeout_for(self, buffers: list) -> float:
        size = sum(buffer_bytes(b) for b in buffers)
        return self.timeout + size / 50e6  # allow 50 MB/s for big audio (sign, send, fsync)

    # -- operations, as step generators ----------------------------------------------------------

    def request_steps(
        self, type_: str, content: dict[str, Any] | None = None, buffers: list | None = None
    ) -> Steps:
        """One request; returns its ``ok`` reply (lazy pirate retries, see the module doc)."""
        buffers = list(buffers or [])
        timeout = self._timeout_for(buffers)
        for attempt in range(1, self.retries + 1):
            sock = self._connect()
            self._check_size(buffers)
            message = Message(type_, dict(content or {}), buffers, session=self.session)
            yield Send(sock, encode(message, self.info.key_bytes))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                frames = yield Recv(sock, int(left * 1000) + 1)
                if frames is None:
                    break
                try:
                    reply = self._accept(frames, message.msg_id, attempt < self.retries)
                except _SignAgain:
                    break
                if reply is not None:
                    self._connected_once = True
                    return reply
            self._drop()  # lazy pirate: a fresh socket (and connection file) for the next try
        raise self._no_reply(type_)

    def ping_steps(self) -> Steps:
        """The daemon's ``ping`` reply content, plus ``rtt_ms``."""
        start = time.perf_counter()
        content = (yield from self.request_steps("ping")).content
        return {**content, "rtt_ms": (time.perf_counter() - start) * 1000}

    def diagnose_steps(self, audio: np.ndarray, sample_rate: int, lossy: bool = False) -> Steps:
        """The daemon's diagnosis of ``audio`` (docs/protocol.md, ``diagnose``; ``lossy``: its
        ``AudioInfo.lossy``, decoded from a lossy codec)."""
        audio = given_audio(audio)  # as in-process: int16 or (samples, channels) refused here
        content = {"buffers": [buffer_spec("audio", audio, sample_rate)], "lossy": lossy}
        reply = yield from self.request_steps("diagnose", content, [audio])
        return reply.content["diagnosis"]

    def load_model_steps(self, model: str, device: str | None, wait: float | None) -> Steps:
        """Ask for a load; with ``wait`` (seconds), poll until loaded (its models() entry)."""
        model = model_key(model)  # a local folder named from here, not the daemon's folder
        yield from self.request_steps("load-model", {"model": model, "device": device})
        deadline = time.monotonic() + (wait or 0)
        while wait is not None:
            listing = (yield from self.request_steps("list-models")).content
            for entry in listing["models"]:
                if entry["id"] == model:
                    return entry
            for entry in listing["failed"]:
                if entry["id"] == model:
                    said = str(entry["message"])  # the loader's line names the model already
                    named = said if said.startswith(model) else f"{model}: {said}"
                    raise ModelError(f"daemon could not load {named}")
            if time.monotonic() > deadline:
                raise ModelError(f"daemon: {model} not loaded after {wait:g} s")
            yield Sleep(0.2)
        return None

    def subscribe_steps(self, job_id: str, confirm: float) -> Steps:
        """Receive ``job_id``'s events; True once a ``probe`` event confirmed it.

        A subscription reaches the daemon asynchronously, so this asks the daemon to publish a
        ``probe`` event on the job's topic (``ping`` with ``probe``) until one arrives, for at most
        ``confirm`` seconds (events are then complete from here on).
        """
        if job_id in self._subscribed:
            return True
        self._subscribe(job_id)
        self._subscribed.add(job_id)
        deadline = time.monotonic() + confirm
        while time.monotonic() < deadline:
            yield from self.request_steps("ping", {"probe": job_id})
            event = yield from self.next_event_steps(job_id, 0, 10)
            while event is not None:
                if event[0] == "probe":
                    return True
                event = yield from self.next_event_steps(job_id, 0, 0)
        return False

    def next_event_steps(self, job_id: str, last_seq: int, timeout_ms: int) -> Steps:
        """The next event of ``job_id`` newer than ``last_seq``; others' are kept for later."""
        for i, frames in enumerate(self._pending):
            event = self._event(frames, job_id, last_seq)
            if event is not None:
                del self._pending[i]
                return event
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            frames = yield Recv(self._sub, left, copy=True)
            if frames is None:
                return None
            event = self._event(frames, job_id, last_seq)
            if event is not None:
                return event
            self._pending.append(frames)
            if time.monotonic() >= deadline:
                return None

    def wait_steps(
        self,
        job_id: str,
        callback: ProgressCallback | None,
        on_event: EventCallback | None,
        on_status: StatusCallback | None,
        timeout: float | None,
        reconnect: float = RECONNECT_SECONDS,
    ) -> Steps:
        """Until the job ends; returns its final job object (see ``Client.wait``). A daemon
        that stops meanwhile resumes the job at its next start: it is waited for ``reconnect``
        seconds, ``on_status`` told ``{"state": "reconnecting"}`` each second."""
        yield from self.subscribe_steps(job_id, 2.0)
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seq, lost_at, fraction = 0, None, 0.0
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise DiffMusicError(f"job {job_id}: still running after {timeout:g} s")
                event = yield from self.next_event_steps(job_id, last_seq, int(SILENCE * 1000))
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
                asked = time.monotonic()
                try:
                    self._check_started()  # a daemon that stopped: no try waits on it
                    reply = yield from self.request_steps("status", {"job": job_id})
                except DaemonUnavailable as gone:
                    lost_at = lost_at or asked  # the wait counts from the first unanswered try
                    if time.monotonic() - lost_at > reconnect:
                        why = self._stopped_reason(gone)
                        raise DaemonUnavailable(
                            _away(job_id, why, reconnect, self.connection_file)
                        ) from None
                    if on_status is not None:
                        on_status({"job": job_id, "state": RECONNECTING, "fraction": fraction})
                    yield Sleep(1.0)
                    continue
                lost_at = None
                if self._sub_address != self.info.event_address:  # a daemon started again
                    yield from self._resubscribe_steps(job_id)
                status = reply.content["job"]  # an end event, or silence: ask
                if status["state"] in TERMINAL_STATES:
                    return status
                fraction = float(status.get("fraction", fraction))
                if on_status is not None:
                    on_status(status)
        except (Cancelled, KeyboardInterrupt):
            yield from self._cancel_steps(job_id, away=lost_at is not None)
            raise

    def _check_started(self) -> None:
        """Raise :class:`DaemonUnavailable` while the connection file names no live daemon: a
        wait for a daemon that stopped under its job had asked its dead one 3 times for 10 s at
        each look, and gone past its ``--reconnect`` limit."""
        info = read_connection_file(self.connection_file)
        if info.pid and not process_alive(info.pid):
            raise DaemonUnavailable(
                f"daemon pid {info.pid} from {self.connection_file} is not running"
            )
        if info != self.info:  # a daemon started again: a fresh socket reaches it, and the
            self._drop()  # connection file is read anew (its event address: resubscribed)

    def _stopped_reason(self, gone: DaemonUnavailable) -> DaemonUnavailable:
        """The reason a wait gives up with: a daemon killed while a try was on its way leaves
        that try unanswered ("no reply to status"), where a look at its pid says what happened
        (a test saw the one or the other by when the kill fell)."""
        try:
            self._check_started()
        except DaemonUnavailable as stopped:
            return stopped
        return gone

    def _cancel_steps(self, job_id: str, away: bool) -> Steps:
        """Cancel ``job_id`` on the daemon; one that is ``away`` (or goes unanswered) cannot
        be told, and resumes the job at its next start: said in one line."""
        try:
            if not away:
                yield from self.request_steps("cancel", {"job": job_id})
                return
        except DaemonUnavailable:
            pass
        raise DaemonUnavailable(
            f"interrupted while the daemon was away: job {job_id} was not cancelled and "
            f"resumes at its next start (then: "
            f"{client_command(f'cancel {job_id}', self.connection_file)})"
        ) from None

    def _resubscribe_steps(self, job_id: str) -> Steps:
        """A fresh event socket: a daemon started again publishes at its own address (its
        events' seq goes on rising across restarts, so ``last_seq`` holds)."""
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None
        self._subscribed.clear()
        yield from self.subscribe_steps(job_id, 2.0)


def _away(job_id: str, gone: DaemonUnavailable, waited: float, connection: Path) -> str:
    """The one line of a wait that gave up on a daemon that stopped under its job."""
    return (
        f"the daemon stopped while job {job_id} was waited on and did not come back within "
        f"{waited:g} s ({gone}); it resumes the job at its next start: then "
        f"{fetch_command(job_id, connection)}"
    )


def _progress(content: dict[str, Any]) -> Progress:
    return Progress(int(content.get("step", 0)), int(content.get("total", 0)),
                    str(content.get("stage", "")))  # fmt: skip
