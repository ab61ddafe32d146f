"""The daemon's gateway: ZeroMQ sockets, the journal, and the executor behind them.

One thread (the caller of :meth:`Server.serve_forever`) answers every request and never runs a
job, so ``ping``, ``status`` and ``cancel`` are answered while a job computes. Events (job
progress, results) are published by an :class:`EventBus` thread that owns the PUB socket,
because ZeroMQ sockets must stay in one thread. See docs/protocol.md.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from bridge.connection import (
    ConnectionInfo,
    DaemonUnavailable,
    default_connection_path,
    new_key,
    process_alive,
    read_connection_file,
    write_connection_file,
)
from bridge.daemon.cache import ArrayCache
from bridge.daemon.executor import Executor
from bridge.daemon.jobs import check_submit
from bridge.defaults import RESULT_TTL, Limits
from bridge.journal import JobConflict, JobRecord, JobState, Journal, StagedBlobs
from bridge.protocol import (
    JOB_ID,
    REQUEST_TYPES,
    VERSION,
    Message,
    ProtocolError,
    ReplayGuard,
    Unauthenticated,
    decode,
    encode,
    event_topic,
    frame_digest,
    new_id,
)
from diffmusic_engine.api import BACKENDS, Restoration
from diffmusic_engine.audio import write_audio
from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.progress import Progress

log = logging.getLogger("diffmusic.daemon")

PROGRESS_INTERVAL = 0.05  # seconds between published progress events of one job
EXPIRE_INTERVAL = 600.0
STAGE_MIN_BYTES = 1 << 20  # smaller audio is written after the checks (staging would not pay)


def default_journal_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "diffmusic" / "journal"


@dataclass
class ServerConfig:
    """Everything ``diffmusic serve`` can set."""

    connection_file: Path | None = None
    journal_dir: Path | None = None
    host: str = "127.0.0.1"
    request_port: int = 0  # 0: reuse the connection file's, else any free port
    event_port: int = 0
    limits: Limits = field(default_factory=Limits)
    osc_port: int | None = None
    notify_osc: list[tuple[str, int]] = field(default_factory=list)
    reaper_action: str | None = None
    preload: list[str] = field(default_factory=list)
    result_ttl: float = RESULT_TTL
    new_key: bool = False
    memory_cache_bytes: int = 1 << 30  # recent inputs and results kept in memory too


class EventBus:
    """Publishes events from any thread through one PUB socket owned by its own thread."""

    def __init__(self, socket: zmq.Socket, key: bytes, session: str) -> None:
        self._socket = socket
        self._key = key
        self._session = session
        self._queue: queue.Queue[tuple[bytes, Message] | None] = queue.Queue()
        self._seq = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="event-bus", daemon=True)
        self._thread.start()

    def publish(self, job_id: str | None, event: str, **content: Any) -> None:
        # Numbered and queued under one lock, so events leave in seq order: a client drops an
        # event not newer than the last it saw, so a reordered one would be lost.
        with self._lock:  # strictly increasing across restarts: wall-clock nanoseconds
            self._seq = max(self._seq + 1, time.time_ns())
            if job_id is not None:
                content = {"job": job_id, "seq": self._seq, **content}
            message = Message(event, content, session=self._session)
            self._queue.put((event_topic(job_id), message))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            topic, message = item
            try:
                self._socket.send_multipart([topic, *encode(message, self._key)])
            except (zmq.ZMQError, ValueError, TypeError) as exc:  # never stop publishing
                log.warning("event %s not published: %s", message.type, exc)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


class Server:
    """The daemon: binds its sockets, writes the connection file, serves until stopped."""

    def __init__(self, config: ServerConfig, executor: Executor) -> None:
        self.config = config
        self.executor = executor
        self.limits = config.limits
        self.session = new_id()
        self.started_at = time.time()
        self.journal_dir = Path(config.journal_dir or default_journal_dir())
        self.journal = Journal(self.journal_dir, result_ttl=config.result_ttl)
        self.connection_path = Path(config.connection_file or default_connection_path())
        self._stop = threading.Event()
        self._last_progress: dict[str, float] = {}
        self._input_names: dict[str, list[str]] = {}
        self._inputs = ArrayCache(config.memory_cache_bytes // 2)  # accepted, not yet started
        self._results = ArrayCache(config.memory_cache_bytes // 2)  # finished, not yet fetched
        self._digester = ThreadPoolExecutor(1, thread_name_prefix="result-digest")
        self._staged: StagedBlobs | None = None  # the message being handled's, until submitted
        self._context = zmq.Context()
        previous = self._previous_connection()
        # Any message signed before now may have reached an earlier daemon with this key (its
        # message ids died with it): such messages are stale here (docs/protocol.md).
        self.replay = ReplayGuard(not_before=time.time())
        self.info = self._bind(previous)
        self.key = self.info.key_bytes
        self.events = EventBus(self._pub, self.key, self.session)
        self.notifier = self.control = None
        self._start_osc()

    # -- set-up ----------------------------------------------------------------------------------

    def _previous_connection(self) -> ConnectionInfo | None:
        """The connection file a previous daemon left, if any; an error if that one still runs."""
        try:
            previous = read_connection_file(self.connection_path)
        except DaemonUnavailable:
            return None
        if previous.pid not in (0, os.getpid()) and process_alive(previous.pid):
            raise DiffMusicError(
                f"a daemon (pid {previous.pid}) already uses {self.connection_path}: stop it, "
                "or give this one another --connection-file"
            )
        return previous

    def _bind(self, previous: ConnectionInfo | None) -> ConnectionInfo:
        """Bind ROUTER and PUB on loopback; reuse the previous key and ports when possible."""
        self._router = self._context.socket(zmq.ROUTER)
        self._pub = self._context.socket(zmq.PUB)
        for sock, hwm in ((self._router, 32), (self._pub, 1000)):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, hwm)
            sock.setsockopt(zmq.RCVHWM, hwm)
        self._router.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        self._pub.setsockopt(zmq.MAXMSGSIZE, 1 << 16)  # subscribers only send subscriptions
        host = self.config.host
        ports = []
        for sock, wanted, old in (
            (self._router, self.config.request_port, previous and previous.request_port),
            (self._pub, self.config.event_port, previous and previous.event_port),
        ):
            ports.append(_bind(sock, host, wanted, old))
        reuse = previous and previous.host == host and not self.config.new_key
        key = previous.key if reuse else new_key()
        info = ConnectionInfo(host, ports[0], ports[1], key, pid=os.getpid())
        write_connection_file(self.connection_path, info)
        return info

    def _start_osc(self) -> None:
        if self.config.notify_osc:
            from bridge.osc import OscNotifier

            self.notifier = OscNotifier(self.config.notify_osc, self.config.reaper_action)
        if self.config.osc_port is not None:
            from bridge.osc import OscControl

            self.control = OscControl(
                self.config.osc_port,
                on_cancel=self._osc_cancel,
                on_ping=lambda: log.info("OSC ping"),
            )
            self.control.start()

    # -- main loop -------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Resume the journal's jobs, then answer requests until :meth:`stop` or a signal."""
        for name in ("SIGTERM", "SIGINT"):
            if threading.current_thread() is threading.main_thread():
                signal.signal(getattr(signal, name), lambda *_: self._stop.set())
        self.executor.start(self)
        self._recover()
        for model in self.config.preload:
            self.executor.load_model(model)
        threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
        log.info(
            "diffmusic daemon %d listening on %s (events %s), connection file %s, journal %s",
            os.getpid(), self.info.request_address, self.info.event_address,
            self.connection_path, self.journal_dir,
        )  # fmt: skip
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        next_expiry = time.monotonic()
        try:
            while not self._stop.is_set():
                if poller.poll(200):
                    self._handle(self._router.recv_multipart(copy=False))
                if time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + EXPIRE_INTERVAL
                    self._expire()
        finally:
            self.close()

    def _recover(self) -> None:
        """Resume the jobs a stop interrupted; cancel those whose cancel it interrupted."""
        recovery = self.journal.recover()
        for record in recovery.cancelled:
            self.events.publish(record.job_id, "cancelled")
            log.info("job %s cancelled (requested before the daemon stopped)", record.job_id)
        for record in recovery.queued:
            log.info("resuming job %s (attempt %d)", record.job_id, record.attempts + 1)
            self.executor.submit(record.job_id, record.priority)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        log.info("daemon stopping")
        self.executor.stop()
        self._digester.shutdown()
        if self.control:
            self.control.stop()
        if self.notifier:
            self.notifier.close()
        self.events.close()
        self._router.close(0)
        self._pub.close(0)
        self._context.term()
        self.journal.close()
        try:  # remove the connection file only if it is still ours
            if read_connection_file(self.connection_path).pid == os.getpid():
                self.connection_path.unlink()
        except (DaemonUnavailable, OSError):
            pass
        log.info("daemon stopped")

    def _expire(self) -> None:
        try:
            dropped = self.journal.expire()
            if dropped:
                log.info("expired %d old job(s)", dropped)
        except Exception as exc:  # e.g. sqlite3.Error on a full disk: retried next interval
            log.warning("expiry failed: %s", exc)
        cutoff = time.time() - self.config.result_ttl
        exports = self.journal_dir / "exports"
        for path in exports.iterdir() if exports.is_dir() else ():
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            except OSError as exc:
                log.warning("cannot remove old export %s: %s", path, exc)

    # -- requests --------------------------------------------------------------------------------

    def _handle(self, frames: list[zmq.Frame]) -> None:
        start = time.perf_counter()
        try:
            self._dispatch(frames)
        except Exception:  # e.g. RecursionError on deeply nested JSON: drop it, keep serving
            log.exception("dropped a message that could not be handled")
            return
        log.debug("request handled in %.1f ms", 1000 * (time.perf_counter() - start))

    def _dispatch(self, frames: list[zmq.Frame]) -> None:
        start = next((i for i, f in enumerate(frames) if f.bytes == VERSION), None)
        routing = [f.bytes for f in frames[: start or 0]]
        if start is None or start == 0:
            log.warning("dropped a message without the %s version tag", VERSION.decode())
            return
        peer = routing[0].hex()
        self._staged = self._stage(frames[start + 4 :])
        try:
            self._dispatch_signed(routing, peer, frames[start:])
        finally:
            if self._staged is not None:  # not a submit, or rejected before the journal took it
                self._staged.discard()
                self._staged = None

    def _stage(self, buffers: list[zmq.Frame]) -> StagedBlobs | None:
        """Start writing big audio to the journal while its message is checked (see
        journal.StagedBlobs): the write and fsync overlap the signature check."""
        if sum(len(frame) for frame in buffers) < STAGE_MIN_BYTES:
            return None
        return self.journal.stage([frame.buffer for frame in buffers])

    def _dispatch_signed(self, routing: list[bytes], peer: str, frames: list[zmq.Frame]) -> None:
        try:
            message = decode(frames, self.key)
        except Unauthenticated as exc:
            log.warning("dropped unauthenticated message from peer %s: %s", peer, exc)
            return
        except ProtocolError as exc:
            log.warning("rejected message from peer %s: %s", peer, exc)
            parent = _msg_id_of(frames[2].bytes) if len(frames) > 2 else None
            self._send(routing, Message("error", _error(exc.code, str(exc)), parent_id=parent))
            return
        try:
            self.replay.check(message)
            handler = self._handlers().get(message.type)
            if handler is None:
                raise ProtocolError(
                    "unknown-type",
                    f"unknown message type {message.type!r}; known: {', '.join(REQUEST_TYPES)}",
                )
            reply = handler(message)
        except ProtocolError as exc:
            log.info("%s from peer %s rejected: %s", message.type, peer, exc)
            reply = message.error(exc.code, str(exc))
        except DiffMusicError as exc:
            reply = message.error("bad-request", str(exc))
        except Exception as exc:  # a bug: log it, answer, keep serving
            log.exception("internal error handling %s", message.type)
            reply = message.error("internal", f"{type(exc).__name__}: {exc}")
        self._send(routing, reply)

    def _send(self, routing: list[bytes], reply: Message) -> None:
        reply.session = self.session
        try:
            frames = encode(reply, self.key)
        except (ValueError, TypeError) as exc:  # e.g. NaN in a backend's details: still answer
            log.exception("reply %s cannot be encoded", reply.type)
            error = _error("internal", f"reply not encodable as JSON: {exc}")
            frames = encode(Message("error", error, parent_id=reply.parent_id), self.key)
        try:
            self._router.send_multipart([*routing, *frames], copy=False)
        except zmq.ZMQError as exc:
            log.warning("reply %s not sent: %s", reply.type, exc)

    def _handlers(self) -> dict[str, Any]:
        return {
            "ping": self._ping,
            "submit": self._submit,
            "status": self._status,
            "cancel": self._cancel,
            "fetch": self._fetch,
            "list-models": self._list_models,
            "load-model": self._load_model,
            "unload-model": self._unload_model,
        }

    def _ping(self, message: Message) -> Message:
        daemon = {
            "pid": os.getpid(),
            "version": VERSION.decode(),
            "uptime": time.time() - self.started_at,
            "executor": getattr(self.executor, "name", "?"),
        }
        probe = message.content.get("probe")
        if isinstance(probe, str) and JOB_ID.match(probe):  # lets a SUB confirm it is subscribed
            self.events.publish(probe, "probe")
        return message.reply(daemon=daemon, capacity=self.executor.capacity().to_dict())

    def _submit(self, message: Message) -> Message:
        start = time.perf_counter()
        checked = check_submit(message, self.limits)
        checked_at = time.perf_counter()
        job_id = checked.job_id or new_id()
        existing = self.journal.get(job_id)
        if existing is None and self.executor.capacity().queued >= self.limits.max_queued:
            raise ProtocolError("busy", f"{self.limits.max_queued} jobs queued: retry later")
        retry_after = getattr(self.executor, "retry_after", lambda: 0.0)()  # Ray back-pressure
        if existing is None and retry_after > 0:
            raise ProtocolError("busy", f"the executor is busy: retry after {retry_after:.1f} s")
        try:
            staged, self._staged = self._staged, None  # the journal owns it now
            record, created = self.journal.submit(
                job_id, checked.request, checked.inputs, checked.priority, staged=staged
            )
        except JobConflict as exc:
            raise ProtocolError("conflict", str(exc)) from None
        took = (1000 * (checked_at - start), 1000 * (time.perf_counter() - checked_at))
        log.debug("submit %s: checked in %.1f ms, journalled in %.1f ms", job_id, *took)
        if created:  # durable now: acknowledge, announce, queue
            names = list(checked.inputs)
            self._inputs.put(job_id, [checked.inputs[n] for n in names])  # views of the frames
            self._input_names[job_id] = names
            self.events.publish(job_id, "accepted", state="queued", priority=record.priority)
            self.executor.submit(job_id, record.priority)
            log.info("job %s accepted (%s)", job_id, checked.request["damage"]["task"])
        return message.reply(job=job_id, state=record.state.value, new=created)

    def _job(self, message: Message) -> JobRecord:
        job_id = message.content.get("job")
        if not isinstance(job_id, str):
            raise ProtocolError("bad-request", f"{message.type} needs a job id")
        record = self.journal.get(job_id)
        if record is None:
            raise ProtocolError("not-found", f"no job {job_id!r} (never submitted, or expired)")
        return record

    def _status(self, message: Message) -> Message:
        if message.content.get("job") is None:
            records = self.journal.list()[-1000:][::-1]
            return message.reply(jobs=[job_summary(r) for r in records])
        return message.reply(job=job_summary(self._job(message)))

    def _cancel(self, message: Message) -> Message:
        record = self._job(message)
        return message.reply(job=record.job_id, state=self.cancel_job(record.job_id))

    def cancel_job(self, job_id: str) -> str:
        """Cancel now if queued, else flag the running job; returns the state to report.

        A running job's cancel is journalled before this returns (and so before the reply): if
        the daemon dies before the job stops, the next start cancels it rather than resuming it.
        """
        outcome = self.executor.cancel(job_id)
        if outcome == "running":
            self.journal.request_cancel(job_id)
            return "running"
        if self.journal.cancel(job_id):  # queued (or held by nobody): cancelled at once
            self._forget_inputs(job_id)
            self.events.publish(job_id, "cancelled")
            log.info("job %s cancelled", job_id)
        record = self.journal.get(job_id)
        return record.state.value if record else "unknown"

    def _osc_cancel(self, job_id: str) -> None:
        if self.journal.get(job_id) is None:
            log.warning("OSC cancel of unknown job %r", job_id)
            return
        self.cancel_job(job_id)

    def _fetch(self, message: Message) -> Message:
        record = self._job(message)
        if record.state is not JobState.FINISHED:
            detail = f": {record.error}" if record.error else ""
            raise ProtocolError(
                "not-finished", f"job {record.job_id} is {record.state.value}{detail}"
            )
        cached = self._results.get(record.job_id)
        outputs, digests = cached if cached else (self.journal.outputs(record.job_id), [])
        details = dict(record.details)
        rate = details.pop("output_sample_rate", record.request["buffers"]["audio"]["sample_rate"])
        specs = [
            {"name": f"track{i}", "shape": list(a.shape), "dtype": "float32", "sample_rate": rate}
            for i, a in enumerate(outputs)
        ]
        reply = message.reply(
            job=record.job_id,
            sample_rate=rate,
            details=details,
            source=record.request.get("source", {}),
            buffers=specs,
        )
        reply.buffers = list(outputs)
        reply.digests = list(digests)
        return reply

    def _list_models(self, message: Message) -> Message:
        return message.reply(**self.executor.models(), backends=list(BACKENDS))

    def _model_id(self, message: Message) -> str:
        model = message.content.get("model")
        if not isinstance(model, str) or not model:
            raise ProtocolError("bad-request", f"{message.type} needs a model id or path")
        return model

    def _load_model(self, message: Message) -> Message:
        model = self._model_id(message)
        device = message.content.get("device")
        self.executor.load_model(model, device if isinstance(device, str) else None)
        return message.reply(model=model, state="loading")

    def _unload_model(self, message: Message) -> Message:
        model = self._model_id(message)
        return message.reply(model=model, unloaded=self.executor.unload_model(model))

    # -- JobHost: called by the executor's threads -------------------------------------------------

    def request(self, job_id: str) -> dict[str, Any]:
        record = self.journal.get(job_id)
        if record is None:
            raise DiffMusicError(f"job {job_id} vanished from the journal")
        return record.request

    def inputs(self, job_id: str) -> dict[str, np.ndarray]:
        names = self._input_names.pop(job_id, None)
        arrays = self._inputs.pop(job_id)
        if names is not None and arrays is not None:  # the worker's own now: no copy unless
            return {  # read-only (a backend may work in place)
                name: a if a.flags.writeable else np.array(a)
                for name, a in zip(names, arrays, strict=True)
            }
        return self.journal.inputs(job_id)

    def started(self, job_id: str) -> bool:
        if not self.journal.mark_running(job_id):
            self._forget_inputs(job_id)  # it will not run: its cached inputs are not needed
            return False
        record = self.journal.get(job_id)
        self.events.publish(job_id, "started", attempt=(record.attempts if record else 0) + 1)
        return True

    def progress(self, job_id: str, progress: Progress) -> None:
        self.journal.progress(job_id, progress.step, progress.total)
        now = time.monotonic()
        last = self._last_progress.get(job_id, -1.0)
        if now - last < PROGRESS_INTERVAL and progress.fraction < 1.0:
            return
        self._last_progress[job_id] = now
        self.events.publish(
            job_id, "progress", fraction=round(progress.fraction, 6), step=progress.step,
            total=progress.total, stage=progress.stage,
        )  # fmt: skip
        if self.notifier:
            self.notifier.progress(job_id, progress.fraction)

    def finished(self, job_id: str, restoration: Restoration) -> None:
        details = {**restoration.details, "output_sample_rate": restoration.sample_rate}
        tracks = [np.ascontiguousarray(t, np.float32) for t in restoration.tracks]
        # The fetch reply's frame digests are computed while the journal waits on its fsync, so
        # the fetch right after "finished" does not hash the result again.
        digests = self._digester.submit(lambda: [frame_digest(t) for t in tracks])
        self.journal.finish(job_id, tracks, details)
        self._results.put(job_id, tracks, digests.result())
        self._last_progress.pop(job_id, None)
        record = self.journal.get(job_id)
        if record is None or record.state is not JobState.FINISHED:
            return  # cancelled while it finished: the journal kept the cancel
        self.events.publish(
            job_id, "finished", n_outputs=len(restoration.tracks), details=record.details
        )
        log.info("job %s finished", job_id)
        if self.notifier:
            try:  # the result is stored: a failed export must not turn the job into "failed"
                path = self._export(job_id, restoration)
            except (DiffMusicError, OSError) as exc:
                log.warning("job %s: export for OSC listeners failed: %s", job_id, exc)
                return
            self.notifier.done(job_id, str(path))

    def failed(self, job_id: str, message: str) -> None:
        self._last_progress.pop(job_id, None)
        self._forget_inputs(job_id)  # it may have failed before taking them (model not loaded)
        if not self.journal.fail(job_id, message):
            return  # it had ended (finished, cancelled): announcing "failed" would contradict it
        self.events.publish(job_id, "failed", message=message)
        log.info("job %s failed: %s", job_id, message)
        if self.notifier:
            self.notifier.failed(job_id, message)

    def cancelled(self, job_id: str) -> None:
        self._last_progress.pop(job_id, None)
        self._forget_inputs(job_id)
        if self.journal.cancel(job_id):
            self.events.publish(job_id, "cancelled")
            log.info("job %s cancelled while running", job_id)

    def _forget_inputs(self, job_id: str) -> None:
        """Drop a job's inputs from memory (the journal still has them)."""
        self._inputs.pop(job_id)
        self._input_names.pop(job_id, None)

    def model_event(self, event: str, **content: Any) -> None:
        self.events.publish(None, event, **content)

    def _export(self, job_id: str, restoration: Restoration) -> Path:
        """Float32 WAVs of a result for OSC listeners (REAPER can insert them directly)."""
        folder = self.journal_dir / "exports"
        if len(restoration.tracks) == 1:
            return write_audio(folder / f"{job_id}.wav", restoration.audio, restoration.sample_rate)
        for i, track in enumerate(restoration.tracks):
            write_audio(folder / job_id / f"source{i + 1}.wav", track, restoration.sample_rate)
        return folder / job_id


def _warm_up() -> None:
    """Import the dsp task modules now, so that the first submit is not slowed by imports."""
    import importlib

    from diffmusic_engine.damage import TASKS

    for task in TASKS:
        try:
            importlib.import_module(f"diffmusic_engine.dsp.{task.replace('-', '_')}")
        except ImportError as exc:
            log.warning("dsp %s unavailable: %s", task, exc)


def job_summary(record: JobRecord) -> dict[str, Any]:
    """The job object of status replies (docs/protocol.md)."""
    details = {k: v for k, v in record.details.items() if k != "output_sample_rate"}
    return {
        "job": record.job_id,
        "state": record.state.value,
        "priority": record.priority,
        "created": record.created,
        "updated": record.updated,
        "fraction": record.fraction,
        "step": record.step,
        "total": record.total,
        "error": record.error,
        "details": details,
        "n_outputs": record.n_outputs,
        "attempts": record.attempts,
        "task": record.request.get("damage", {}).get("task"),
        "backend": record.request.get("backend"),
    }


def _msg_id_of(header: bytes) -> str | None:
    """The msg_id of a header that failed the checks, if it can be read (to address the error)."""
    try:
        msg_id = json.loads(header).get("msg_id")
    except (ValueError, AttributeError):
        return None
    return msg_id if isinstance(msg_id, str) else None


def _error(code: str, message: str) -> dict[str, str]:
    return {"status": "error", "code": code, "message": message}


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
    return sock.bind_to_random_port(f"tcp://{host}")
