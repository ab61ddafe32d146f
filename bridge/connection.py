"""The connection file: where the daemon listens and the key that signs every message.

Written by ``diffmusic serve`` atomically with mode 0600, read by every client. Default path:
``$DIFFMUSIC_CONNECTION``, else ``~/.config/diffmusic/connection.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.errors import DiffMusicError

ENV_VAR = "DIFFMUSIC_CONNECTION"


class DaemonUnavailable(DiffMusicError):
    """No usable connection file, or no daemon answering at its address."""


@dataclass(frozen=True)
class ConnectionInfo:
    """Ports, host and key of a running daemon."""

    host: str
    request_port: int
    event_port: int
    key: str
    transport: str = "tcp"
    signature_scheme: str = "hmac-sha256"
    version: str = "DMB/1"
    pid: int = 0
    # the largest frame the daemon takes (serve --max-message-mb; ZeroMQ drops the connection of
    # a bigger one unanswered, which a client then took for a daemon away); 0: not said
    max_message_bytes: int = 0

    @property
    def request_address(self) -> str:
        return f"{self.transport}://{self.host}:{self.request_port}"

    @property
    def event_address(self) -> str:
        return f"{self.transport}://{self.host}:{self.event_port}"

    @property
    def key_bytes(self) -> bytes:
        return self.key.encode()


def default_connection_path() -> Path:
    """``$DIFFMUSIC_CONNECTION`` or ``~/.config/diffmusic/connection.json``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "diffmusic" / "connection.json"


def new_key() -> str:
    """A fresh 256-bit key as 64 hex digits."""
    return secrets.token_hex(32)


def write_connection_file(path: Path | None, info: ConnectionInfo) -> Path:
    """Write ``info`` atomically with mode 0600 (the file holds the key)."""
    if not info.key:
        raise DaemonUnavailable("refusing to write a connection file with an empty key")
    path = Path(path or default_connection_path())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(path, json.dumps(asdict(info), indent=1), private=True, durable=True)
    return path


def read_connection_file(path: Path | None = None) -> ConnectionInfo:
    """Read and check a connection file; :class:`DaemonUnavailable` names the file if unusable."""
    path = Path(path or default_connection_path())
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        elsewhere = (
            ""
            if path != default_connection_path()
            else f"; a daemon started with --connection-file PATH is found with --connection-file "
            f"PATH (or {ENV_VAR}=PATH)"
        )
        raise DaemonUnavailable(
            f"no connection file {path}: is the daemon running? (start it with diffmusic serve"
            f"{elsewhere})"
        ) from None
    except (OSError, ValueError) as exc:
        raise DaemonUnavailable(f"connection file {path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise DaemonUnavailable(f"connection file {path}: expected a JSON object")
    if not data.get("key"):
        raise DaemonUnavailable(f"connection file {path}: empty key, refusing to connect")
    try:
        return ConnectionInfo(
            host=str(data["host"]),
            request_port=int(data["request_port"]),
            event_port=int(data["event_port"]),
            key=str(data["key"]),
            transport=str(data.get("transport", "tcp")),
            signature_scheme=str(data.get("signature_scheme", "hmac-sha256")),
            version=str(data.get("version", "DMB/1")),
            pid=int(data.get("pid", 0)),
            max_message_bytes=int(data.get("max_message_bytes", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DaemonUnavailable(f"connection file {path}: missing or bad field {exc}") from None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (someone else's counts: signalling it is merely refused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (a daemon's request socket).
    A connection file left by a crash may name a pid the system has since given to another
    program: alive, but nothing of ours listens on the file's port."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}.get(host, host)  # bound to all
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
