"""The daemon: its parts put together, and the answers to each request type.

One thread (the caller of :meth:`Server.serve_forever`) answers every request through the
:class:`~bridge.daemon.gateway.Gateway` and never runs a job, so ``ping``, ``status`` and
``cancel`` are answered while a job computes. The executor runs jobs and calls back into the
:class:`~bridge.daemon.host.DaemonHost`; events leave through :mod:`bridge.daemon.events`.
See docs/protocol.md and docs/architecture.md.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from bridge.connection import (
    ConnectionInfo,
    DaemonUnavailable,
    default_connection_path,
    listening,
    process_alive,
    read_connection_file,
)
from bridge.daemon.dsp_process import run_in_child
from bridge.daemon.events import Announcer, EventBus
from bridge.daemon.executor import Executor
from bridge.daemon.gateway import Gateway, bind_sockets
from bridge.daemon.host import DaemonHost
from bridge.daemon.jobs import check_limits, check_lossy, check_submit
from bridge.defaults import LOOPBACK, RESULT_TTL, Limits
from bridge.journal import JobConflict, JobRecord, JobState, Journal, StagedBlobs
from bridge.protocol import (
    JOB_ID,
    REQUEST_TYPES,
    VERSION,
    ErrorCode,
    Message,
    ProtocolError,
    ReplayGuard,
    new_id,
    no_result,
    read_buffers,
)
from diffmusic_engine.api import BACKENDS
from diffmusic_engine.diffusion.options import model_key
from diffmusic_engine.errors import DiffMusicError

log = logging.getLogger("diffmusic.daemon")

EXPIRE_INTERVAL = 600.0


def default_journal_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "diffmusic" / "journal"


@dataclass
class ServerConfig:
    """Everything ``diffmusic serve`` can set."""

    connection_file: Path | None = None
    journal_dir: Path | None = None
    host: str = LOOPBACK
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
        self._context = zmq.Context()
        previous = self._previous_connection()
        # OSC binds (not yet serving) before the connection file is written, so that a port
        # taken there leaves no connection file naming a daemon that never started
        self.control = self._osc_control()
        try:  # checked here too: a target that cannot be reached is an error before the file
            notifier = self._notifier()
        except BaseException:
            if self.control:
                self.control.stop()
            raise
        # Any message signed before now may have reached an earlier daemon with this key (its
        # message ids died with it): such messages are stale here (docs/protocol.md).
        self.replay = ReplayGuard(not_before=time.time())
        try:
            router, pub, self.info = bind_sockets(
                self._context, config.host, (config.request_port, config.event_port), previous,
                self.limits.max_message_bytes, fresh_key=config.new_key,
                connection_path=self.connection_path,
            )  # fmt: skip
        except BaseException:
            if self.control:
                self.control.stop()
            if notifier:
                notifier.close()
            raise
        self.key = self.info.key_bytes
        self.gateway = Gateway(router, self.key, self.session, self.journal, self._handle)
        self.events = Announcer(
            EventBus(pub, self.key, self.session),
            notifier,
            self.journal_dir / "exports",
            self.connection_path,
        )
        self.host = DaemonHost(self.journal, self.events, executor, config.memory_cache_bytes)
        if self.control:
            self.control.start()
        self._diagnoser = ThreadPoolExecutor(2, thread_name_prefix="diagnose")

    # -- set-up ----------------------------------------------------------------------------------

    def _previous_connection(self) -> ConnectionInfo | None:
        """The connection file a previous daemon left, if any; an error if that one still runs."""
        try:
            previous = read_connection_file(self.connection_path)
        except DaemonUnavailable:
            return None
        running = previous.pid not in (0, os.getpid()) and process_alive(previous.pid)
        if running and listening(previous.host, previous.request_port):
            raise DiffMusicError(
                f"a daemon (pid {previous.pid}) already uses {self.connection_path}: stop it, "
                "or give this one another --connection-file"
            )
        return previous

    def _notifier(self) -> Any:
        if self.config.reaper_action is not None and not self.config.notify_osc:
            raise DiffMusicError(
                "--reaper-action is sent to the --notify-osc targets: give REAPER's OSC "
                "address with --notify-osc HOST:PORT too"
            )
        if not self.config.notify_osc:
            return None
        from bridge.osc import OscNotifier

        return OscNotifier(self.config.notify_osc, self.config.reaper_action)

    def _osc_control(self) -> Any:
        if self.config.osc_port is None:
            return None
        from bridge.osc import OscControl

        return OscControl(  # bound here, started once the daemon is built
            self.config.osc_port, on_cancel=self._osc_cancel, on_ping=lambda: log.info("OSC ping")
        )

    # -- main loop -------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Resume the journal's jobs, then answer requests until :meth:`stop` or a signal."""
        for name in ("SIGTERM", "SIGINT"):
            if threading.current_thread() is threading.main_thread():
                signal.signal(getattr(signal, name), lambda *_: self._stop.set())
        self.executor.start(self.host)
        self._recover()
        for model in self.config.preload:
            self.executor.load_model(model)
        threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
        log.info(
            "diffmusic daemon %d listening on %s (events %s), connection file %s, journal %s",
            os.getpid(), self.info.request_address, self.info.event_address,
            self.connection_path, self.journal_dir,
        )  # fmt: skip
        next_expiry = time.monotonic()
        try:
            while not self._stop.is_set():
                self.gateway.serve_once(200)
                if time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + EXPIRE_INTERVAL
                    self._expire()
        finally:
            self.close()

    def _recover(self) -> None:
        """Resume the jobs a stop interrupted; cancel those whose cancel it interrupted."""
        recovery = self.journal.recover()
        for record in recovery.cancelled:
            self.events.cancelled(record.job_id)
            log.info("job %s cancelled (requested before the daemon stopped)", record.job_id)
        for record in recovery.queued:
            log.info("resuming job %s (attempt %d)", record.job_id, record.attempts + 1)
            self.executor.submit(record.job_id, record.priority)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        log.info("daemon stopping")
        self.executor.stop()
        self.host.close()
        self._diagnoser.shutdown(cancel_futures=True)
        if self.control:
            self.control.stop()
        self.events.close()
        self.gateway.router.close(0)
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
        self.events.expire_exports(time.time() - self.config.result_ttl)

    # -- requests --------------------------------------------------------------------------------

    def _handle(self, message: Message, staged: StagedBlobs | None) -> Message:
        """The reply to one decoded request (``staged``: its audio, already being written)."""
        self.replay.check(message)
        if message.type == "submit":
            return self._submit(message, staged)
        handler = self._handlers().get(message.type)
        if handler is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown message type {message.type!r}; known: {', '.join(REQUEST_TYPES)}",
            )
        return handler(message)

    def _handlers(self) -> dict[str, Any]:
        return {
            "ping": self._ping,
            "status": self._status,
            "cancel": self._cancel,
            "fetch": self._fetch,
            "list-models": self._list_models,
            "load-model": self._load_model,
            "unload-model": self._unload_model,
            "diagnose": self._diagnose,
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

    def _submit(self, message: Message, staged: StagedBlobs | None) -> Message:
        start = time.perf_counter()
        checked = check_submit(message, self.limits)
        self._check_device(checked.request["options"].get("device"))
        checked_at = time.perf_counter()
        job_id = checked.job_id or new_id()
        existing = self.journal.get(job_id)
        if existing is None and self.executor.capacity().queued >= self.limits.max_queued:
            raise ProtocolError(
                ErrorCode.BUSY,
                f"{self.limits.max_queued} jobs queued: retry later",
            )
        retry_after = self.executor.retry_after()  # Ray's back-pressure; 0 for the local one
        if existing is None and retry_after > 0:
            raise ProtocolError(
                ErrorCode.BUSY,
                f"the executor is busy: retry after {retry_after:.1f} s",
            )
        try:  # the journal owns ``staged`` from here
            record, created = self.journal.submit(
                job_id, checked.request, checked.inputs, checked.priority, staged=staged
            )
        except JobConflict as exc:
            raise ProtocolError(ErrorCode.CONFLICT, str(exc)) from None
        took = (1000 * (checked_at - start), 1000 * (time.perf_counter() - checked_at))
        log.debug("submit %s: checked in %.1f ms, journalled in %.1f ms", job_id, *took)
        if created:  # durable now: acknowledge, announce, queue
            self.host.accepted(job_id, checked.inputs, record.priority)
            log.info("job %s accepted (%s)", job_id, checked.request["damage"]["task"])
        return message.reply(job=job_id, state=record.state.value, new=created)

    def _job(self, message: Message) -> JobRecord:
        job_id = message.content.get("job")
        if not isinstance(job_id, str):
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{message.type} needs a job id")
        record = self.journal.get(job_id)
        if record is None:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"no job {job_id!r} (never submitted, or expired)",
            )
        return record

    def _status(self, message: Message) -> Message:
        if message.content.get("job") is None:
            records = self.journal.list()[-1000:][::-1]
            return message.reply(jobs=[job_summary(r) for r in records])
        return message.reply(job=job_summary(self._job(message)))

    def _cancel(self, message: Message) -> Message:
        record = self._job(message)
        return message.reply(job=record.job_id, state=self.host.cancel(record.job_id))

    def _osc_cancel(self, job_id: str) -> None:
        if self.journal.get(job_id) is None:
            log.warning("OSC cancel of unknown job %r", job_id)
            return
        self.host.cancel(job_id)

    def _fetch(self, message: Message) -> Message:
        record = self._job(message)
        if record.state is not JobState.FINISHED:
            raise ProtocolError(
                ErrorCode.NOT_FINISHED, no_result(record.job_id, record.state, record.error)
            )
        outputs, digests = self.host.result(record.job_id)
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

    def _check_device(self, device: str | None) -> None:
        """A job's ``device`` must be one this daemon's workers run on (each job runs on the
        device of the worker that takes it): a ``cuda:3`` job on a CPU daemon had run on the
        CPU, unsaid. A Ray executor's replicas choose their own."""
        known = getattr(self.executor, "worker_device", None)
        if device and known is not None and known(device) is None:
            raise ProtocolError(
                ErrorCode.INVALID_OPTIONS,
                f"device {device!r}: this daemon runs jobs on {list(self.executor.devices)} "
                "(serve --device); submit without --device",
            )

    def _diagnose(self, message: Message) -> Future[Message]:
        """The engine's diagnosis of the ``audio`` buffer, computed in a child process (as a dsp
        job: it must not hold the request thread) and sent when done."""
        buffers = read_buffers(message)
        if set(buffers) != {"audio"}:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                "diagnose needs exactly one buffer, named 'audio'",
            )
        audio, rate = buffers["audio"]
        check_limits(audio, rate, self.limits)
        lossy = check_lossy(message.content)  # decoded from a lossy codec (the client's)

        def work() -> Message:
            from diffmusic_engine.diagnose import diagnose

            told = functools.partial(diagnose, lossy=lossy)
            findings = run_in_child(told, (audio, rate), lambda progress: None)
            return message.reply(diagnosis=findings)

        return self._diagnoser.submit(work)

    def _list_models(self, message: Message) -> Message:
        return message.reply(**self.executor.models(), backends=list(BACKENDS))

    def _model_id(self, message: Message) -> str:
        model = message.content.get("model")
        if not isinstance(model, str) or not model:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{message.type} needs a model id or path")
        return model_key(model)  # a client sends local folders absolute (Client.load_model)

    def _load_model(self, message: Message) -> Message:
        model = self._model_id(message)
        device = message.content.get("device")
        self.executor.load_model(model, device if isinstance(device, str) else None)
        return message.reply(model=model, state="loading")

    def _unload_model(self, message: Message) -> Message:
        model = self._model_id(message)
        return message.reply(model=model, unloaded=self.executor.unload_model(model))


def _warm_up() -> None:
    """Import the dsp task modules now, so that the first submit's option check is not slowed
    by imports (the jobs' own warm-up is :mod:`bridge.daemon.dsp_warm`'s, in their process)."""
    from diffmusic_engine.dsp.options import import_task_modules

    import_task_modules()


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
