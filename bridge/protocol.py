"""The ``DMB/1`` wire format: signed multipart messages (see ``docs/protocol.md``).

A :class:`Message` is a type, a JSON content and zero or more float32 audio buffers. ``encode``
turns it into ZeroMQ frames with an HMAC-SHA256 signature over every frame; ``decode`` checks the
version tag and signature and parses the header. Replay protection (time skew and message id
memory) is :class:`ReplayGuard`, used by the daemon. Written by hand because the format is ours;
the crypto is the standard library's ``hmac``/``hashlib``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import re
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from diffmusic_engine.errors import DiffMusicError, InputError

VERSION = b"DMB/1"
CHUNK = 1 << 20  # frames longer than this are hashed piecewise (see frame_digest)
MAX_SKEW = 30.0  # seconds a message's time may differ from the receiver's clock
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
JOB_ID_RULE = "1-64 of A-Z a-z 0-9 _ . - (the first a letter or digit)"
MIN_PRIORITY, MAX_PRIORITY = -10, 10  # higher runs first; 0 by default

REQUEST_TYPES = (
    "ping",
    "submit",
    "status",
    "cancel",
    "fetch",
    "list-models",
    "load-model",
    "unload-model",
    "diagnose",
)


class JobState(StrEnum):
    """A job's state, as the journal keeps it and every reply and event says it."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
TERMINAL_STATES = (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)
# What a waiting client says of its job while the daemon that had it is away (no daemon state).
RECONNECTING = "reconnecting"
# What a waiting client's status file says last when it was stopped (SIGTERM, SIGHUP) while its
# job goes on in the daemon: a submit with the same job id attaches to it again.
DETACHED = "detached"


class ErrorCode(StrEnum):
    """An error reply's ``code`` (docs/protocol.md, "Error codes", says when each is sent)."""

    MALFORMED_HEADER = "malformed-header"
    BAD_REQUEST = "bad-request"
    STALE = "stale"
    REPLAYED = "replayed"
    UNKNOWN_TYPE = "unknown-type"
    INVALID_AUDIO = "invalid-audio"
    TOO_LARGE = "too-large"
    INVALID_DAMAGE = "invalid-damage"
    INVALID_OPTIONS = "invalid-options"
    CONFLICT = "conflict"
    NOT_FOUND = "not-found"
    NOT_FINISHED = "not-finished"
    BUSY = "busy"
    INTERNAL = "internal"
    UNAUTHENTICATED = "unauthenticated"  # never sent: such a message is dropped without a reply


class ProtocolError(DiffMusicError):
    """A message that breaks the protocol; ``code`` is the error code of the reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unauthenticated(ProtocolError):  # noqa: N818 - a kind of ProtocolError, named for what it is
    """Wrong version tag, missing frames or a bad signature: dropped without a reply."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, message)


def check_job_id(job_id: Any, *, required: bool = True) -> None:
    """Raise :class:`InputError` unless ``job_id`` follows :data:`JOB_ID` (``None`` if optional)."""
    if job_id is None and not required:
        return
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise InputError(f"job id {job_id!r}: expected {JOB_ID_RULE}")


def check_priority(priority: Any) -> None:
    """Raise :class:`InputError` unless ``priority`` is an integer in the allowed range."""
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise InputError(
            f"priority {priority!r}: expected an integer {MIN_PRIORITY}..{MAX_PRIORITY}"
        )


def no_result(job_id: str, state: str, error: str | None = None) -> str:
    """Why job ``job_id``, in ``state`` (not finished), has no result, and what to do: the one
    line a fetch of it is refused with (``not-finished``) and a waiting submit fails with. A
    cancelled job's had said "is cancelled" and no more."""
    if state in ACTIVE_STATES:
        return (f"job {job_id} is {state}: it has no result yet; fetch it once it is finished "
                "(its status says when)")  # fmt: skip
    if state == JobState.FAILED and error:  # its own error says what went wrong, and what to do
        return f"job {job_id} failed, so it has no result: {error}"
    ended = "failed" if state == JobState.FAILED else f"was {state}"
    why = f" ({error})" if error else ""  # a cancel's reason: "interrupted"
    return (f"job {job_id} {ended}{why}, so it has no result; submit it again, under a new job id "
            "(a job id runs once)")  # fmt: skip


def new_id() -> str:
    """A fresh random id (32 hex digits), for messages, sessions and jobs."""
    return uuid.uuid4().hex


@dataclass
class Message:
    """One protocol message: header fields, JSON ``content`` and raw ``buffers``."""

    type: str
    content: dict[str, Any] = field(default_factory=dict)
    buffers: list[bytes | memoryview | np.ndarray] = field(default_factory=list)
    msg_id: str = field(default_factory=new_id)
    parent_id: str | None = None
    time: float = field(default_factory=time.time)
    session: str = ""
    digests: list[bytes] = field(default_factory=list)  # SHA-256 of each buffer, after decode

    def header(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "type": self.type,
            "parent_id": self.parent_id,
            "time": self.time,
            "session": self.session,
        }

    def reply(self, type_: str | None = None, **content: Any) -> Message:
        """An ``ok`` reply to this message (``<type>-reply`` unless ``type_`` is given)."""
        return Message(
            type_ or f"{self.type}-reply", {"status": "ok", **content}, parent_id=self.msg_id
        )

    def error(self, code: ErrorCode, message: str) -> Message:
        """An ``error`` reply to this message."""
        content = {"status": "error", "code": code, "message": message}
        return Message("error", content, parent_id=self.msg_id)


def _frame_bytes(frame: bytes | memoryview | np.ndarray) -> bytes | memoryview:
    if isinstance(frame, np.ndarray):
        return memoryview(np.ascontiguousarray(frame, dtype="<f4")).cast("B")
    return frame


def frame_digest(frame: bytes | memoryview | np.ndarray) -> bytes:
    """``D(f)``: SHA-256 of a frame up to ``CHUNK`` bytes; for a longer one, SHA-256 of the
    concatenated SHA-256 digests of its consecutive ``CHUNK``-byte pieces (hashed in parallel
    threads: hashlib releases the GIL, and audio frames are tens of MB)."""
    view = memoryview(frame).cast("B") if not isinstance(frame, np.ndarray) else _frame_bytes(frame)
    if view.nbytes <= CHUNK:
        return hashlib.sha256(view).digest()
    pieces = [view[i : i + CHUNK] for i in range(0, view.nbytes, CHUNK)]
    digests = _hash_pool().map(lambda piece: hashlib.sha256(piece).digest(), pieces)
    return hashlib.sha256(b"".join(digests)).digest()


@functools.cache
def _hash_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="sha")


def sign(key: bytes, frames: list[bytes | memoryview], digests: list[bytes] | None = None) -> bytes:
    """The hex HMAC-SHA256 over ``len || D(frame)`` of each frame (see docs/protocol.md).

    ``digests`` may give ``D`` of the trailing frames (buffers) when already known.
    """
    known = digests or []
    mac = hmac.new(key, digestmod=hashlib.sha256)
    head = len(frames) - len(known)
    for i, frame in enumerate(frames):
        size = memoryview(frame).nbytes
        digest = known[i - head] if i >= head else frame_digest(frame)
        mac.update(size.to_bytes(8, "big") + digest)
    return mac.hexdigest().encode()


class Frames:
    """The signed frames of one message, ``[version, signature, header, content, *buffers]``
    (docs/protocol.md, "Framing"): the one class that indexes them. The signature covers the
    others (:attr:`signed`); routing and topic frames are removed before."""

    VERSION, SIGNATURE, HEADER, CONTENT, BUFFERS = 0, 1, 2, 3, 4

    def __init__(self, frames: list) -> None:
        self.frames = frames

    @classmethod
    def build(cls, signature: bytes, header: bytes, content: bytes, buffers: list) -> list:
        """The frames in their order."""
        return [VERSION, signature, header, content, *buffers]

    @property
    def complete(self) -> bool:
        """Whether every frame before the buffers is there."""
        return len(self.frames) >= self.BUFFERS

    @property
    def version(self) -> Any:
        return self.frames[self.VERSION]

    @property
    def signature(self) -> Any:
        return self.frames[self.SIGNATURE]

    @property
    def header(self) -> Any:
        """The header frame, or None where the message stops before it."""
        return self.frames[self.HEADER] if len(self.frames) > self.HEADER else None

    @property
    def content(self) -> Any:
        return self.frames[self.CONTENT]

    @property
    def buffers(self) -> list:
        return self.frames[self.BUFFERS :]

    @property
    def signed(self) -> list:
        """The frames the signature covers, in order: all but the signature."""
        return [self.version, self.header, self.content, *self.buffers]


def encode(message: Message, key: bytes) -> list[bytes | memoryview]:
    """:class:`Frames` for ``message``."""
    buffers = [_frame_bytes(b) for b in message.buffers]
    header = json.dumps(message.header(), separators=(",", ":")).encode()
    content = json.dumps(message.content, separators=(",", ":"), allow_nan=False).encode()
    digests = message.digests if len(message.digests) == len(buffers) else None
    signature = sign(key, [VERSION, header, content, *buffers], digests)
    return Frames.build(signature, header, content, buffers)


def decode(frames: list[bytes | memoryview | Any], key: bytes) -> Message:
    """Check and parse frames from :func:`encode` (routing/topic frames already removed).

    Raises :class:`Unauthenticated` (drop it) or :class:`ProtocolError` (reply with its code).
    """
    parts = Frames([f.buffer if hasattr(f, "buffer") and not isinstance(f, memoryview) else f
                    for f in frames])  # fmt: skip
    if not parts.complete:
        raise Unauthenticated(f"{len(frames)} frames, expected at least {Frames.BUFFERS}")
    if bytes(parts.version) != VERSION:
        raise Unauthenticated(f"version tag {bytes(parts.version)[:16]!r}, expected {VERSION!r}")
    digests = [frame_digest(f) for f in parts.buffers]
    expected = sign(key, parts.signed, digests)
    if not hmac.compare_digest(expected, bytes(parts.signature)):
        raise Unauthenticated("bad signature")
    try:
        header = json.loads(bytes(parts.header))
        content = json.loads(bytes(parts.content))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise ProtocolError(
            ErrorCode.MALFORMED_HEADER,
            f"header or content is not JSON: {exc}",
        ) from None
    _check_header(header)
    if not isinstance(content, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "content must be a JSON object")
    return Message(
        type=header["type"],
        content=content,
        buffers=parts.buffers,
        msg_id=header["msg_id"],
        parent_id=header.get("parent_id"),
        time=float(header["time"]),
        session=header.get("session") or "",
        digests=digests,
    )


def _check_header(header: Any) -> None:
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.MALFORMED_HEADER, "header must be a JSON object")
    for name, kind in (("msg_id", str), ("type", str), ("time", (int, float))):
        if not isinstance(header.get(name), kind) or isinstance(header.get(name), bool):
            raise ProtocolError(
                ErrorCode.MALFORMED_HEADER,
                f"header field {name!r} missing or mistyped",
            )
    if not 8 <= len(header["msg_id"]) <= 64:
        raise ProtocolError(ErrorCode.MALFORMED_HEADER, "header msg_id must have 8..64 characters")
    try:  # NaN would pass every staleness check; a huge integer overflows float()
        finite = math.isfinite(float(header["time"]))
    except OverflowError:
        finite = False
    if not finite:
        raise ProtocolError(ErrorCode.MALFORMED_HEADER, "header time must be a finite number")
    for name in ("parent_id", "session"):
        if header.get(name) is not None and not isinstance(header[name], str):
            raise ProtocolError(
                ErrorCode.MALFORMED_HEADER,
                f"header field {name!r} must be a string",
            )


class ReplayGuard:
    """Rejects messages too far from the clock or older than ``not_before`` (``stale``), or seen
    before (``replayed``).

    Ids are remembered for twice ``max_skew``: an older copy is rejected as stale anyway, so the
    memory stays bounded by the message rate. The memory is this process's only: the daemon sets
    ``not_before`` to the time it started, so a message that an earlier daemon (same key) may
    have received is stale here, whatever its id.
    """

    def __init__(self, max_skew: float = MAX_SKEW, not_before: float = -math.inf) -> None:
        self.max_skew = max_skew
        self.not_before = not_before
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check(self, message: Message, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if abs(message.time - now) > self.max_skew:
            raise ProtocolError(
                ErrorCode.STALE,
                f"message time is {message.time - now:+.1f} s from the daemon's clock "
                f"(limit {self.max_skew:g} s)",
            )
        if message.time < self.not_before:
            raise ProtocolError(
                ErrorCode.STALE,
                f"message time is {self.not_before - message.time:.3f} s before this daemon "
                "started: a replay, or a request sent before a restart (send it again)",
            )
        while self._seen and next(iter(self._seen.values())) < now - 2 * self.max_skew:
            self._seen.popitem(last=False)
        if message.msg_id in self._seen:
            raise ProtocolError(
                ErrorCode.REPLAYED,
                f"message {message.msg_id} was already received",
            )
        self._seen[message.msg_id] = now


def buffer_bytes(buffer: Any) -> int:
    """Bytes of an audio buffer: an array, or any object with the buffer protocol."""
    return buffer.nbytes if isinstance(buffer, np.ndarray) else memoryview(buffer).nbytes


def buffer_spec(name: str, audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
    """The content entry that describes one audio buffer."""
    return {
        "name": name,
        "shape": list(audio.shape),
        "dtype": "float32",
        "sample_rate": int(sample_rate),
    }


def read_buffers(message: Message) -> dict[str, tuple[np.ndarray, int]]:
    """``name -> (float32 array, sample_rate)`` from the buffers the content describes.

    The arrays are views of the frames (no copy), writable only where the frame is.
    """
    specs = message.content.get("buffers", [])
    if not isinstance(specs, list) or len(specs) != len(message.buffers):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"content lists {len(specs) if isinstance(specs, list) else '?'} buffers, "
            f"message has {len(message.buffers)}",
        )
    result: dict[str, tuple[np.ndarray, int]] = {}
    for spec, frame in zip(specs, message.buffers, strict=True):
        name, shape, rate = _buffer_fields(spec)
        if spec.get("dtype", "float32") != "float32":
            raise ProtocolError(ErrorCode.INVALID_AUDIO, f"buffer {name!r}: dtype must be float32")
        if name in result:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"buffer {name!r} is listed twice")
        size, needed = memoryview(frame).nbytes, 4 * math.prod(shape)  # exact: no int64 wrap
        if size != needed:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"buffer {name!r}: shape {shape} needs {needed} bytes, frame has "
                f"{size}",
            )  # fmt: skip
        result[name] = (np.frombuffer(frame, dtype="<f4").reshape(shape), rate)
    return result


def _buffer_fields(spec: Any) -> tuple[str, list[int], int]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            "each buffer needs a name, shape and sample_rate",
        )
    shape = spec.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_AUDIO,
            f"buffer {spec['name']!r}: bad shape {shape!r}",
        )
    rate = spec.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise ProtocolError(
            ErrorCode.INVALID_AUDIO,
            f"buffer {spec['name']!r}: bad sample_rate {rate!r}",
        )
    return spec["name"], shape, rate


def event_topic(job_id: str | None) -> bytes:
    """The PUB topic frame for a job's events (or model events when ``job_id`` is None)."""
    return b"model/" if job_id is None else f"job/{job_id}/".encode()
