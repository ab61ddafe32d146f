"""The daemon's gateway: its sockets, and the one place that knows how a request's frames lie.

A request reaches the ROUTER socket as the frames::

    [routing id ..., b"DMB/1", signature, header, content, buffer 0, buffer 1, ...]
     ^ added by ZeroMQ   ^ the signed message: bridge.protocol.encode / decode

:class:`Envelope` is the only code that indexes these frames: it splits the routing ids (the
reply goes back with them) from the signed message, names the audio buffers (staged before the
signature is checked) and reads the message id of a header that failed the checks (to address
the error reply). :class:`Gateway` receives, stages big audio into the journal while the
signature is checked, hands the decoded message to the request handler and sends its reply. A
handler that needs long work (``diagnose``) returns a future instead: its reply is sent from this
thread, which owns the socket, once the future is done, and other requests are answered
meanwhile. It knows nothing of jobs. See docs/protocol.md.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import zmq

from bridge.connection import ConnectionInfo, new_key, write_connection_file
from bridge.defaults import EVENT_HWM, REQUEST_HWM, SUBSCRIPTION_BYTES
from bridge.journal import Journal, StagedBlobs
from bridge.journal.blobs import StorageError
from bridge.protocol import (
    VERSION,
    ErrorCode,
    Frames,
    Message,
    ProtocolError,
    Unauthenticated,
    decode,
    encode,
)
from diffmusic_engine.errors import DiffMusicError

log = logging.getLogger("diffmusic.daemon")

STAGE_MIN_BYTES = 1 << 20  # smaller audio is written after the checks (staging would not pay)
DEFERRED_POLL_MS = 20  # the poll timeout while a deferred reply is pending
Handler = Callable[[Message, StagedBlobs | None], "Message | Future[Message]"]


class Envelope:
    """One received request, split as the module docstring draws it."""

    def __init__(self, frames: list[zmq.Frame]) -> None:
        start = next((i for i, f in enumerate(frames) if f.bytes == VERSION), 0)
        self.routing = [f.bytes for f in frames[:start]]  # empty: no routing id, or no version
        self.signed = Frames(frames[start:])

    @property
    def valid(self) -> bool:
        """Whether it has routing ids and a version tag (else it is dropped unanswered)."""
        return bool(self.routing)

    @property
    def peer(self) -> str:
        return self.routing[0].hex()

    @property
    def buffers(self) -> list[zmq.Frame]:
        return self.signed.buffers

    def header_msg_id(self) -> str | None:
        """The msg_id of a header that failed the checks, if it can be read."""
        if self.signed.header is None:
            return None
        try:
            msg_id = json.loads(self.signed.header.bytes).get("msg_id")
        except (ValueError, AttributeError):
            return None
        return msg_id if isinstance(msg_id, str) else None


class Gateway:
    """Receives requests on ``router``, answers each with ``handler``'s reply (one thread)."""

    def __init__(
        self, router: zmq.Socket, key: bytes, session: str, journal: Journal, handler: Handler
    ) -> None:
        self.router = router
        self.key = key
        self.session = session
        self.journal = journal
        self.handler = handler
        self._poller = zmq.Poller()
        self._poller.register(router, zmq.POLLIN)
        self._deferred: list[tuple[Envelope, Message, Future[Message]]] = []

    def serve_once(self, timeout_ms: int) -> None:
        """Answer the next request, if one arrives within ``timeout_ms``, and send the deferred
        replies that are ready."""
        if self._deferred:
            timeout_ms = min(timeout_ms, DEFERRED_POLL_MS)
        ready = self._poller.poll(timeout_ms)
        self._send_deferred()
        if not ready:
            return
        start = time.perf_counter()
        try:
            self._handle(Envelope(self.router.recv_multipart(copy=False)))
        except Exception:  # e.g. RecursionError on deeply nested JSON: drop it, keep serving
            log.exception("dropped a message that could not be handled")
            return
        log.debug("request handled in %.1f ms", 1000 * (time.perf_counter() - start))

    def _handle(self, envelope: Envelope) -> None:
        if not envelope.valid:
            log.warning("dropped a message without the %s version tag", VERSION.decode())
            return
        staged = self._stage(envelope.buffers)
        try:
            self._answer(envelope, staged)
        finally:
            if staged is not None:  # no-op once the journal claimed it
                staged.discard()

    def _stage(self, buffers: list[zmq.Frame]) -> StagedBlobs | None:
        """Start writing big audio to the journal while its message is checked (see
        journal.StagedBlobs): the write and fsync overlap the signature check."""
        if sum(len(frame) for frame in buffers) < STAGE_MIN_BYTES:
            return None
        return self.journal.stage([frame.buffer for frame in buffers])

    def _answer(self, envelope: Envelope, staged: StagedBlobs | None) -> None:
        try:
            message = decode(envelope.signed.frames, self.key)
        except Unauthenticated as exc:
            log.warning("dropped unauthenticated message from peer %s: %s", envelope.peer, exc)
            return
        except ProtocolError as exc:
            log.warning("rejected message from peer %s: %s", envelope.peer, exc)
            self._send(envelope, _error(exc.code, str(exc), envelope.header_msg_id()))
            return
        try:
            reply = self.handler(message, staged)
        except Exception as exc:
            reply = self._error_reply(envelope, message, exc)
        if isinstance(reply, Future):
            self._deferred.append((envelope, message, reply))
        else:
            self._send(envelope, reply)

    def _send_deferred(self) -> None:
        """Send the replies of deferred requests whose work is done."""
        pending = []
        for envelope, message, future in self._deferred:
            if not future.done():
                pending.append((envelope, message, future))
                continue
            try:
                reply = future.result()
            except Exception as exc:
                reply = self._error_reply(envelope, message, exc)
            self._send(envelope, reply)
        self._deferred = pending

    def _error_reply(self, envelope: Envelope, message: Message, exc: Exception) -> Message:
        if isinstance(exc, ProtocolError):
            log.info("%s from peer %s rejected: %s", message.type, envelope.peer, exc)
            return message.error(exc.code, str(exc))
        if isinstance(exc, StorageError):  # the daemon's disk, not the request: the operator's
            log.warning("%s from peer %s failed: %s", message.type, envelope.peer, exc)
            return message.error(ErrorCode.INTERNAL, str(exc))
        if isinstance(exc, DiffMusicError):
            return message.error(ErrorCode.BAD_REQUEST, str(exc))
        log.error("internal error handling %s", message.type, exc_info=exc)  # a bug: answer
        return message.error(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    def _send(self, envelope: Envelope, reply: Message) -> None:
        reply.session = self.session
        try:
            frames = encode(reply, self.key)
        except (ValueError, TypeError) as exc:  # e.g. NaN in a backend's details: still answer
            log.exception("reply %s cannot be encoded", reply.type)
            error = _error(
                ErrorCode.INTERNAL,
                f"reply not encodable as JSON: {exc}",
                reply.parent_id,
            )
            frames = encode(error, self.key)
        try:
            self.router.send_multipart([*envelope.routing, *frames], copy=False)
        except zmq.ZMQError as exc:
            log.warning("reply %s not sent: %s", reply.type, exc)


def _error(code: ErrorCode, text: str, parent_id: str | None) -> Message:
    """An error reply to a message that may not have decoded (so no ``Message.error``)."""
    content = {"status": "error", "code": code, "message": text}
    return Message("error", content, parent_id=parent_id)


def bind_sockets(
    context: zmq.Context,
    host: str,
    ports: tuple[int, int],
    previous: ConnectionInfo | None,
    max_message_bytes: int,
    *,
    fresh_key: bool,
    connection_path: Path,
) -> tuple[zmq.Socket, zmq.Socket, ConnectionInfo]:
    """Bind ROUTER and PUB on ``host``; reuse the previous key and ports when possible; write
    the connection file. Returns ``(router, pub, info)``."""
    router = context.socket(zmq.ROUTER)
    pub = context.socket(zmq.PUB)
    for sock, hwm in ((router, REQUEST_HWM), (pub, EVENT_HWM)):
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, hwm)
    router.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    pub.setsockopt(zmq.MAXMSGSIZE, SUBSCRIPTION_BYTES)
    bound = [
        _bind(router, host, ports[0], previous and previous.request_port),
        _bind(pub, host, ports[1], previous and previous.event_port),
    ]
    reuse = previous and previous.host == host and not fresh_key
    key = previous.key if reuse else new_key()
    info = ConnectionInfo(host, bound[0], bound[1], key, pid=os.getpid(),
                          max_message_bytes=max_message_bytes)  # fmt: skip
    write_connection_file(connection_path, info)
    return router, pub, info


def _bind(sock: zmq.Socket, host: str, wanted: int, previous: int | None) -> int:
    """Bind ``wanted``, else the previous run's port if free, else any free port."""
    for port in (wanted, previous):
        if port:
            try:
                sock.bind(f"tcp://{host}:{port}")
                return port
            except zmq.ZMQError as exc:
                if port == wanted:
                    raise DiffMusicError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        return sock.bind_to_random_port(f"tcp://{host}")
    except zmq.ZMQError as exc:  # an address of no interface here, or no address at all
        raise DiffMusicError(
            f"cannot listen on {host}: {exc}; give --host an address of this machine "
            "(127.0.0.1 by default)"
        ) from None
