"""OSC on loopback (python-osc): control messages in, job notifications out.

In (:class:`OscControl`, a UDP server on 127.0.0.1 in its own thread):

* ``/diffmusic/cancel <job>``: calls ``on_cancel(job)``.
* ``/diffmusic/ping [args...]``: calls ``on_ping()`` and replies ``/diffmusic/pong [args...]``
  to the sender's address (the arguments are echoed byte for byte, each of its own OSC type, so
  a client can match replies and time a round trip with a float64 timestamp).
* Anything else is logged and ignored; malformed datagrams are dropped by python-osc.

Out (:class:`OscNotifier`, one UDP client per target):

* ``/diffmusic/progress <job> <fraction>``: at most ``max_rate`` a second per job; 1.0 always.
* ``/diffmusic/done <job> <path>``, then ``/action/<command id>`` (no arguments) if a REAPER
  action is configured: REAPER runs the action with that command id, numeric (``40044``) or
  named (``_RS1234abcd...``, ``_SWS_ABOUT``).
* ``/diffmusic/failed <job> <message>``: the message cut so the datagram stays under 1 KiB.

Sending never raises: a failed send is logged and the job goes on.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pythonosc.dispatcher import Dispatcher, Handler
from pythonosc.osc_message import OscMessage
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types
from pythonosc.udp_client import SimpleUDPClient

from diffmusic_engine.errors import DiffMusicError

log = logging.getLogger(__name__)

CANCEL = "/diffmusic/cancel"
PING = "/diffmusic/ping"
PONG = "/diffmusic/pong"
PROGRESS = "/diffmusic/progress"
DONE = "/diffmusic/done"
FAILED = "/diffmusic/failed"
CANCELLED = "/diffmusic/cancelled"
ACTION_PREFIX = "/action/"

MAX_DATAGRAM_BYTES = 1024
MAX_MESSAGE_BYTES = 512  # the free text of failed (and of done's why), when the rest is short
_REAPER_COMMAND = re.compile(r"\d+|_[A-Za-z0-9_]+")


class OscControl:
    """Receives ``/diffmusic/cancel`` and ``/diffmusic/ping`` on ``host:port`` in a thread.

    The socket is bound on construction, so :attr:`port` is known at once (``port=0`` picks a
    free one). Handlers run on the server thread one datagram at a time: keep them short.
    """

    def __init__(
        self,
        port: int,
        on_cancel: Callable[[str], None],
        on_ping: Callable[[], None] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._on_cancel = on_cancel
        self._on_ping = on_ping
        dispatcher = _Dispatcher()
        dispatcher.map(CANCEL, self._cancel)
        dispatcher.map_whole_message(PING, self._ping)
        dispatcher.set_default_handler(self._unknown, needs_reply_address=True)
        try:
            self._server = BlockingOSCUDPServer((host, int(port)), dispatcher)
        except OSError as exc:
            raise DiffMusicError(f"cannot listen for OSC on {host}:{port}: {exc}") from exc
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"osc-control-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("OSC control listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice, or without start)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def _cancel(self, address: str, *args: Any) -> None:
        if len(args) != 1 or not isinstance(args[0], str) or not args[0]:
            log.warning("OSC %s wants one job id string, got %r; ignored", address, args)
            return
        try:
            self._on_cancel(args[0])
        except Exception:  # the server thread must survive a failing callback
            log.exception("OSC cancel of job %r failed", args[0])

    def _ping(self, client: tuple[str, int], ping: OscMessage) -> None:
        if self._on_ping is not None:
            try:
                self._on_ping()
            except Exception:
                log.exception("OSC ping callback failed")
        # sent here, not returned: python-osc builds a returned reply from the values, guessing
        # their types again (a float64 went back as float32)
        try:
            self._server.socket.sendto(_pong_of(ping), client)
        except OSError as exc:
            log.warning("OSC pong to %s:%d failed: %s", *client, exc)

    def _unknown(self, client: tuple[str, int], address: str, *args: Any) -> None:
        log.info("OSC message %s from %s:%d ignored: unknown address", address[:100], *client)


class _Dispatcher(Dispatcher):
    """python-osc's dispatcher, whose handlers mapped with :meth:`map_whole_message` get the
    sender and the message itself: the values other handlers get have lost their OSC types."""

    def __init__(self) -> None:
        # strict_timing=False: a bundle time-tagged in the future is handled now, never slept on
        super().__init__(strict_timing=False)
        self._whole_message_callbacks: list[Callable[..., Any]] = []

    def map_whole_message(
        self, address: str, callback: Callable[[tuple[str, int], OscMessage], Any]
    ) -> None:
        self.map(address, callback, needs_reply_address=True)
        self._whole_message_callbacks.append(callback)

    def handlers_for_address(self, address_pattern: str) -> Iterator[Handler]:
        for handler in super().handlers_for_address(address_pattern):
            if handler.callback in self._whole_message_callbacks:
                handler = _WholeMessageHandler(handler.callback, [], True)
            yield handler


class _WholeMessageHandler(Handler):
    """Calls its callback with ``(sender, message)``, the message's datagram included."""

    def invoke(self, client_address: tuple[str, int], message: OscMessage) -> Any:
        return self.callback(client_address, message)


def _pong_of(ping: OscMessage) -> bytes:
    """``/diffmusic/pong`` with the ping's type tags and argument bytes as they came."""
    _, arguments_start = osc_types.get_string(ping.dgram, 0)
    arguments = ping.dgram[arguments_start:] or osc_types.write_string(",")
    return osc_types.write_string(PONG) + arguments


class OscNotifier:
    """Sends job notifications to each ``(host, port)`` target; never raises on a send failure.

    Args:
        targets: where to send, e.g. ``[("127.0.0.1", 9000)]``.
        reaper_action: a REAPER command id sent as ``/action/<id>`` after each ``done``.
        max_rate: progress messages per second per job at most (the final 1.0 always goes).
        clock: monotonic clock for the rate limit (a fake one in tests).
    """

    def __init__(
        self,
        targets: list[tuple[str, int]],
        reaper_action: str | None = None,
        *,
        max_rate: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if reaper_action is not None:
            reaper_action = str(reaper_action).strip()
            if not _REAPER_COMMAND.fullmatch(reaper_action):
                raise DiffMusicError(
                    f"REAPER action {reaper_action!r} is not a command id: use a number "
                    "(40044) or a named id starting with '_' (_RS1234abcd)"
                )
        self.targets = [(str(host), _check_port(port)) for host, port in targets]
        self.reaper_action = reaper_action
        self._interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self._clock = clock
        self._last_progress: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clients: list[SimpleUDPClient] = []
        for host, port in self.targets:
            try:
                self._clients.append(SimpleUDPClient(host, port))
            except OSError as exc:
                self.close()
                raise DiffMusicError(f"OSC target {host}:{port} is unusable: {exc}") from exc

    def progress(self, job_id: str, fraction: float) -> None:
        """``/diffmusic/progress <job> <fraction>``, rate-limited per job; 1.0 is always sent."""
        fraction = min(1.0, max(0.0, float(fraction)))
        now = self._clock()
        with self._lock:
            last = self._last_progress.get(job_id)
            if fraction < 1.0 and last is not None and now - last < self._interval:
                return
            self._last_progress[job_id] = now
        self._send(PROGRESS, [str(job_id), fraction])

    def done(self, job_id: str, path: str, unchanged: str | None = None) -> None:
        """``/diffmusic/done <job> <path> [<why>]``, then ``/action/<id>`` if a REAPER action is
        set. ``unchanged``: why the output is the input (a third argument only then, cut to a
        small datagram as ``failed``'s message is)."""
        self._forget(job_id)
        args = [str(job_id), str(path)]
        if unchanged:
            args.append(_clip(unchanged, self._text_budget(job_id, path)))
        self._send(DONE, args)
        if self.reaper_action is not None:
            self._send(ACTION_PREFIX + self.reaper_action, None)

    def cancelled(self, job_id: str) -> None:
        """``/diffmusic/cancelled <job>``: the job ended without a result, as asked."""
        self._forget(job_id)
        self._send(CANCELLED, [str(job_id)])

    def failed(self, job_id: str, message: str) -> None:
        """``/diffmusic/failed <job> <message>`` with the message cut to a small datagram."""
        self._forget(job_id)
        self._send(FAILED, [str(job_id), _clip(message, self._text_budget(job_id))])

    def close(self) -> None:
        """Close the sockets."""
        for client in self._clients:
            try:
                client.close()
            except OSError:
                pass
        self._clients = []

    @staticmethod
    def _text_budget(*sent_whole: str) -> int:
        """UTF-8 bytes left for a message's free text after the arguments sent whole."""
        # Address, type tags and padding take < 40 bytes.
        budget = MAX_DATAGRAM_BYTES - 64 - sum(len(str(a).encode("utf-8")) for a in sent_whole)
        return max(32, min(MAX_MESSAGE_BYTES, budget))

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._last_progress.pop(job_id, None)

    def _send(self, address: str, value: Any) -> None:
        for (host, port), client in zip(self.targets, self._clients, strict=True):
            try:
                client.send_message(address, value)
            except Exception as exc:  # never let a notification take a job down
                log.warning("OSC %s to %s:%d failed: %s", address, host, port, exc)


def _check_port(port: int) -> int:
    port = int(port)
    if not 0 < port < 65536:
        raise DiffMusicError(f"OSC port {port} is out of range (1-65535)")
    return port


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to at most ``limit`` UTF-8 bytes (with an ellipsis if cut)."""
    text = " ".join(str(text).split())
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."
