"""The job host: what an executor's threads call back into, and the jobs' audio kept in memory.

:class:`DaemonHost` implements :class:`~bridge.daemon.executor.JobHost` over the journal (the
source of truth) and two in-memory caches: the inputs of accepted jobs until they start, and the
results of finished jobs with their frame digests until they are fetched. It announces every
change through the :class:`~bridge.daemon.events.Announcer`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bridge.daemon.cache import ArrayCache
from bridge.daemon.events import Announcer
from bridge.daemon.executor import Executor
from bridge.journal import JobState, Journal
from bridge.protocol import frame_digest
from diffmusic_engine.api import Restoration
from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.progress import Progress

log = logging.getLogger("diffmusic.daemon")

PROGRESS_INTERVAL = 0.05  # seconds between published progress events of one job


class DaemonHost:
    """Executor callbacks, the audio caches, and cancelling (see the module docstring)."""

    def __init__(
        self, journal: Journal, announcer: Announcer, executor: Executor, cache_bytes: int
    ) -> None:
        self.journal = journal
        self.announcer = announcer
        self.executor = executor
        self._last_progress: dict[str, float] = {}
        self._input_names: dict[str, list[str]] = {}
        self._inputs = ArrayCache(cache_bytes // 2)  # accepted, not yet started
        self._results = ArrayCache(cache_bytes // 2)  # finished, not yet fetched
        self._digester = ThreadPoolExecutor(1, thread_name_prefix="result-digest")

    def close(self) -> None:
        self._digester.shutdown()

    # -- the request thread's side ---------------------------------------------------------------

    def accepted(self, job_id: str, inputs: dict[str, np.ndarray], priority: int) -> None:
        """A job is durable: keep its inputs (views of the frames) until it starts, queue it."""
        names = list(inputs)
        self._inputs.put(job_id, [inputs[n] for n in names])
        self._input_names[job_id] = names
        self.announcer.publish(job_id, "accepted", state="queued", priority=priority)
        self.executor.submit(job_id, priority)

    def result(self, job_id: str) -> tuple[list[np.ndarray], list[bytes]]:
        """A finished job's tracks and their digests (empty: computed by the encoder)."""
        cached = self._results.get(job_id)
        return cached if cached else (self.journal.outputs(job_id), [])

    def cancel(self, job_id: str) -> str:
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
            self.announcer.cancelled(job_id)
            log.info("job %s cancelled", job_id)
        record = self.journal.get(job_id)
        return record.state.value if record else "unknown"

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
        self.announcer.publish(job_id, "started", attempt=(record.attempts if record else 0) + 1)
        return True

    def progress(self, job_id: str, progress: Progress) -> None:
        self.journal.progress(job_id, progress.step, progress.total)
        now = time.monotonic()
        last = self._last_progress.get(job_id, -1.0)
        if now - last < PROGRESS_INTERVAL and progress.fraction < 1.0:
            return
        self._last_progress[job_id] = now
        self.announcer.progress(
            job_id, progress.fraction, step=progress.step, total=progress.total,
            stage=progress.stage,
        )  # fmt: skip

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
        if restoration.unchanged:
            log.info(
                "job %s finished, its output the input unchanged: %s", job_id, restoration.unchanged
            )
        else:
            log.info("job %s finished", job_id)
        self.announcer.finished(job_id, restoration, record.details)

    def failed(self, job_id: str, message: str) -> None:
        self._last_progress.pop(job_id, None)
        self._forget_inputs(job_id)  # it may have failed before taking them (model not loaded)
        if not self.journal.fail(job_id, message):
            return  # it had ended (finished, cancelled): announcing "failed" would contradict it
        log.info("job %s failed: %s", job_id, message)
        self.announcer.failed(job_id, message)

    def cancelled(self, job_id: str) -> None:
        self._last_progress.pop(job_id, None)
        self._forget_inputs(job_id)
        if self.journal.cancel(job_id):
            self.announcer.cancelled(job_id)
            log.info("job %s cancelled while running", job_id)

    def interrupted(self, job_id: str) -> None:
        """The daemon is stopping under a running job: it is queued again, and the next start
        runs it from the beginning; a clean stop is not one of the job's attempts."""
        self._last_progress.pop(job_id, None)
        if self.journal.requeue(job_id):
            log.info("job %s interrupted by shutdown; it resumes at the next start", job_id)

    def model_event(self, event: str, **content: Any) -> None:
        self.announcer.publish(None, event, **content)

    def _forget_inputs(self, job_id: str) -> None:
        """Drop a job's inputs from memory (the journal still has them)."""
        self._inputs.pop(job_id)
        self._input_names.pop(job_id, None)
