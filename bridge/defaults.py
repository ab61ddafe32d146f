"""The daemon's limits and defaults, each written once (docs/protocol.md, "Limits").

The server, the journal, the Ray executor and ``diffmusic serve``'s flags all read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

RESULT_TTL = 7 * 86400.0  # seconds a finished, failed or cancelled job is kept
MAX_QUEUED = 256  # jobs waiting before a submit is answered busy
REQUEST_HWM, EVENT_HWM = 32, 1000  # messages a socket queues (ZeroMQ's high-water marks)
SUBSCRIPTION_BYTES = 1 << 16  # the event socket's message cap: subscribers only subscribe
# Seconds a client waiting on a job waits for a daemon that stopped under it to start again (it
# resumes the job from its journal): a restart, a diffusion model loaded anew, within it.
RECONNECT_SECONDS = 300.0
# A client's wait for each reply, and how many times it tries a request again (with a fresh
# signature: the daemon may have restarted) before it says the daemon is away.
REQUEST_TIMEOUT, REQUEST_RETRIES = 10.0, 3
LOOPBACK = "127.0.0.1"  # where the daemon binds unless told (serve --host)


@dataclass(frozen=True)
class Limits:
    """What the daemon accepts."""

    max_duration: float = 900.0  # seconds of audio in one job
    max_channels: int = 8
    min_rate: int = 8000
    max_rate: int = 192000
    max_queued: int = MAX_QUEUED
    max_message_bytes: int = 512 * 2**20
    max_rir_seconds: float = 20.0
    # gaps or clicks in one job: 200,000 had held the request thread (ping, status and cancel
    # waited 2.5 s behind their check)
    max_spans: int = 10_000


DEFAULT_LIMITS = Limits()
