"""The bridge daemon: a ZeroMQ gateway with a journal in front of an executor (docs/protocol.md).

``server`` puts the parts together and answers each request type; ``gateway`` owns the request
socket and alone knows the frame layout; ``host`` is what executors call back into (journal,
audio caches); ``events`` publishes (PUB, OSC); ``executor`` defines the seam to what runs jobs;
``worker`` is the local executor (threads, a priority queue, resident models), which runs dsp jobs
in a child process (``dsp_process``); ``jobs`` checks and runs one job; ``models`` is the
per-device model cache. docs/architecture.md follows a job through them.
"""

from bridge.daemon.executor import Capacity, Executor, JobHost
from bridge.daemon.server import Server, ServerConfig
from bridge.daemon.worker import LocalExecutor
from bridge.defaults import Limits

__all__ = ["Capacity", "Executor", "JobHost", "Limits", "LocalExecutor", "Server", "ServerConfig"]
