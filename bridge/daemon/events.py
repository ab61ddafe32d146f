"""What the daemon tells the world: job and model events on the PUB socket, and OSC listeners.

Events (job progress, results) are published by an :class:`EventBus` thread that owns the PUB
socket, because ZeroMQ sockets must stay in one thread. :class:`Announcer` is what the job host
and the request handlers call: it publishes on the bus and, when OSC listeners are configured,
notifies them too (exporting a finished result as float32 WAVs they can insert).
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from bridge.notes import fetch_command
from bridge.protocol import Message, encode, event_topic
from diffmusic_engine.api import Restoration
from diffmusic_engine.audio import write_audio, write_tracks
from diffmusic_engine.errors import one_line

log = logging.getLogger("diffmusic.daemon")


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
        """Publish what is queued, then close the socket."""
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._socket.close(0)


class Announcer:
    """Job news to the event bus and, if configured, to OSC listeners (``notifier``).

    ``exports``: the folder of result WAVs for OSC listeners (dropped after ``result_ttl``).
    """

    def __init__(
        self, bus: EventBus, notifier: Any, exports: Path, connection: Path | None = None
    ) -> None:
        self.bus = bus
        self.notifier = notifier
        self.exports = exports
        self.connection = connection  # the daemon's connection file, for the fetch it advises

    def publish(self, job_id: str | None, event: str, **content: Any) -> None:
        self.bus.publish(job_id, event, **content)

    def progress(self, job_id: str, fraction: float, **content: Any) -> None:
        self.bus.publish(job_id, "progress", fraction=round(fraction, 6), **content)
        if self.notifier:
            self.notifier.progress(job_id, fraction)

    def finished(self, job_id: str, restoration: Restoration, details: dict[str, Any]) -> None:
        self.bus.publish(job_id, "finished", n_outputs=len(restoration.tracks), details=details)
        if self.notifier:
            try:  # the result is stored: a failed export must not turn the job into "failed"
                path = self._export(job_id, restoration, details.get("task"))
            except Exception as exc:  # noqa: BLE001 - whatever it was, the job is finished
                log.warning("job %s: export for OSC listeners failed: %s", job_id, one_line(exc))
                # a listener waits for done or failed: said, with how to have the result
                self.notifier.failed(job_id, f"finished, but its WAV for OSC listeners could "
                                     f"not be written ({one_line(exc)}); fetch it: "
                                     f"{fetch_command(job_id, self.connection)}")  # fmt: skip
                return
            self.notifier.done(job_id, str(path), restoration.unchanged)

    def cancelled(self, job_id: str) -> None:
        """On the bus and to OSC listeners (who had seen a cancelled job's progress stop)."""
        self.bus.publish(job_id, "cancelled")
        if self.notifier:
            self.notifier.cancelled(job_id)

    def failed(self, job_id: str, message: str) -> None:
        self.bus.publish(job_id, "failed", message=message)
        if self.notifier:
            self.notifier.failed(job_id, message)

    def _export(self, job_id: str, restoration: Restoration, task: str | None) -> Path:
        """Float32 WAVs of a result for OSC listeners (REAPER can insert them directly), by
        absolute path (a listener does not share the daemon's folder): the restored audio
        (declick's removed clicks are not sent), or for separation a folder of the sources."""
        if task != "separate":
            path = (self.exports / f"{job_id}.wav").absolute()
            return write_audio(path, restoration.tracks[0], restoration.sample_rate)
        folder = (self.exports / job_id).absolute()
        paths = [folder / f"source{i + 1}.wav" for i in range(len(restoration.tracks))]
        write_tracks(paths, restoration.tracks, restoration.sample_rate)
        return folder

    def expire_exports(self, cutoff: float) -> None:
        """Delete exported results older than ``cutoff`` (a wall-clock time)."""
        for path in self.exports.iterdir() if self.exports.is_dir() else ():
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            except OSError as exc:
                log.warning("cannot remove old export %s: %s", path, exc)

    def close(self) -> None:
        if self.notifier:
            self.notifier.close()
        self.bus.close()
