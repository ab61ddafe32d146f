"""dsp jobs in a child process: a cancel ends it at once, and it never holds the request loop.

Why (measured, docs/architecture.md "Where a job runs"): run in a thread of the daemon, a dsp job
holds the GIL for long stretches (librosa's first STFT imports numba and compiles kernels for
seconds; NMF, Janssen AR and WPE run Python between numpy calls), so on a 2-core machine the request
thread waited for it (ping 0.2 s -> 1.2-1.8 s), and a cancel waited for the job's next progress
report (the engine reports per channel or per stage: 10 s and more apart). A child process has its
own interpreter: the request thread never waits for it, and a cancel kills it within one poll.

Children are forked from a ``forkserver`` that has imported the dsp stack and run librosa's STFT
once (:mod:`bridge.daemon.dsp_warm`), so a job starts in milliseconds, already compiled. The server
starts with the first dsp job, which pays its warm-up once (as it paid the imports and the compile
in a thread before). Started with the daemon instead, its warm-up competed for the CPU with the
daemon's own start: on the loaded 2-core machine, a restarted daemon then missed the client's 30 s
of retries (tests/bridge/test_replay_restart.py). The forkserver is single-threaded and never runs
torch, so forking it is safe. Diffusion jobs stay in the worker thread, where the models stay
resident (and torch releases the GIL while it computes).

The pipe carries, parent to child, ``(function, args)``; child to parent, ``("progress", step,
total, stage)`` per engine report, then ``("done", result)`` or ``("error", one line)``.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from typing import Any

from diffmusic_engine.errors import Cancelled, DiffMusicError
from diffmusic_engine.progress import Progress, ProgressCallback

log = logging.getLogger(__name__)

POLL = 0.05  # seconds between checks for a cancel while the child computes
PRELOAD = ["bridge.daemon.dsp_warm"]  # imported once by the forkserver, inherited by each job


class WorkerDied(DiffMusicError):
    """The child process ended without a result (killed by the OS, out of memory, ...)."""


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run_in_child(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    callback: ProgressCallback,
    stop: Callable[[], bool] = lambda: False,
) -> Any:
    """``function(*args, callback=...)`` in a child process (a job: ``jobs.execute``, or the
    engine's ``diagnose``); its progress goes to ``callback``, its result is returned.

    ``stop()`` is polled every ``POLL`` seconds: once true, the child is killed and ``Cancelled``
    raised (the caller tells a cancel from a shutdown). Engine errors come back as one line.
    """
    parent, child = multiprocessing.Pipe()
    process = _context().Process(target=_child_main, args=(child,), name="dsp-job", daemon=True)
    # Started on a helper thread: the first start waits for the forkserver's warm-up (seconds),
    # and a cancel must not wait for it.
    starter = threading.Thread(target=process.start, name="dsp-job-start", daemon=True)
    starter.start()
    while starter.is_alive():
        if stop():
            threading.Thread(target=_reap, args=(starter, process, parent), daemon=True).start()
            raise Cancelled("stopped")
        starter.join(POLL)
    child.close()
    try:
        parent.send((function, args))
        return _follow(parent, process, callback, stop)
    finally:
        _reap(starter, process, parent)


def _reap(
    starter: threading.Thread,
    process: multiprocessing.process.BaseProcess,
    conn: multiprocessing.connection.Connection,
) -> None:
    """Kill the child (once started) and release its pipe."""
    starter.join()
    if process.pid is not None:
        process.kill()
        process.join()
    conn.close()


def _follow(
    conn: multiprocessing.connection.Connection,
    process: multiprocessing.process.BaseProcess,
    callback: ProgressCallback,
    stop: Callable[[], bool],
) -> Any:
    """Relay the child's messages until its result; kill it when ``stop()`` says so."""
    while True:
        if stop():
            raise Cancelled("stopped")
        if not conn.poll(POLL):
            continue
        try:
            kind, *payload = conn.recv()
        except EOFError:
            process.join(1.0)
            raise WorkerDied(
                f"the dsp job's process ended without a result (exit code {process.exitcode})"
            ) from None
        if kind == "progress":
            callback(Progress(*payload))
        elif kind == "done":
            return payload[0]
        else:
            raise DiffMusicError(payload[0])


def _exit_with_parent(conn: multiprocessing.connection.Connection) -> None:
    """In the child: exit as soon as the daemon's end of the pipe closes (the daemon died or
    was killed: nobody wants the result). The daemon sends nothing after the job, so the pipe
    becomes readable only then."""
    try:
        conn.poll(None)
    except OSError:  # the job ended and closed the pipe itself
        return
    os._exit(1)


def _child_main(conn: multiprocessing.connection.Connection) -> None:
    """In the child: run the function, send progress and the outcome, exit."""
    from diffmusic_engine.errors import one_line

    try:
        function, args = conn.recv()
    except EOFError:  # the daemon stopped before it sent the job (a quick restart): no job
        os._exit(0)
    threading.Thread(target=_exit_with_parent, args=(conn,), daemon=True).start()

    def report(progress: Progress) -> None:
        conn.send(("progress", progress.step, progress.total, progress.stage))

    try:
        result = function(*args, callback=report)
    except Exception as exc:  # every failure goes back as one line; the parent reports it
        if not isinstance(exc, DiffMusicError):
            log.exception("dsp job failed")
        conn.send(("error", one_line(exc)))
    else:
        conn.send(("done", result))
    conn.close()
