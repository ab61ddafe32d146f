"""Test helpers for the bridge: a real daemon subprocess and a real OSC listener."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer

from bridge.client import Client
from bridge.connection import DaemonUnavailable, read_connection_file

REPO = Path(__file__).resolve().parents[2]
RATE = 16000
REAPER_ACTION = "40044"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """``diffmusic serve`` in a subprocess, with its own connection file and journal."""

    def __init__(self, folder: Path, *extra: str) -> None:
        self.folder = folder
        self.connection = folder / "connection.json"
        self.journal = folder / "journal"
        self.log = folder / "daemon.log"
        self.extra = list(extra)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Daemon:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "bridge", "serve", "--connection-file",
                   str(self.connection), "--journal", str(self.journal), *self.extra]  # fmt: skip
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"daemon exited:\n{self.log.read_text()}"
            try:
                if read_connection_file(self.connection).pid == self.process.pid:
                    with self.client(timeout=2.0) as client:
                        client.ping()
                    return self
            except DaemonUnavailable:
                pass
            time.sleep(0.1)
        raise AssertionError(f"daemon did not start:\n{self.log.read_text()}")

    def client(self, **kwargs: float) -> Client:
        return Client(self.connection, **kwargs)

    def kill(self) -> None:
        """``kill -9``: no clean-up at all."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class OscListener:
    """A python-osc server collecting every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple]] = []
        self._cond = threading.Condition()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._handle)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, address: str, *args: object) -> None:
        with self._cond:
            self.messages.append((address, args))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 20.0) -> list[tuple[str, tuple]]:
        """Every message so far once ``predicate(messages)`` holds."""
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.messages), timeout), self.messages
            return list(self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
