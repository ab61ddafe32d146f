"""The bridge daemon: a ZeroMQ gateway with a journal in front of an executor (docs/protocol.md).

``server`` speaks the protocol and keeps the journal; ``executor`` defines the seam to what runs
jobs; ``worker`` is the local executor (threads, a priority queue, resident models); ``jobs``
checks and runs one job; ``models`` is the per-device model cache.
"""

from bridge.daemon.executor import Capacity, Executor, JobHost
from bridge.daemon.server import Server, ServerConfig
from bridge.daemon.worker import LocalExecutor
from bridge.defaults import Limits

__all__ = ["Capacity", "Executor", "JobHost", "Limits", "LocalExecutor", "Server", "ServerConfig"]
