"""Signals a command turns into exceptions in its main thread, so that it can say what it
leaves (a batch: what it kept; ``submit --wait``: that the job goes on in the daemon).

A signal that is ignored when the block starts stays ignored: ``nohup`` ignores SIGHUP, and a
shell ignores SIGINT in a command it starts in the background; a handler put over that had
stopped a ``nohup diffmusic batch`` when its terminal closed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TERMINATING = ("SIGTERM", "SIGHUP")  # a scheduler or ``kill``; a closed terminal, a host quitting


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (:func:`signals_raise`); ``signum`` says which. A
    BaseException, as KeyboardInterrupt: no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_raise(
    exception: Callable[[int], BaseException], names: tuple[str, ...] = TERMINATING
) -> Iterator[None]:
    """The signals ``names`` raise ``exception(signum)`` in the main thread while the block
    runs, each but those ignored: by default SIGTERM and SIGHUP ended the process with no last
    word (a batch's workers rendered on; a waiting submit's status file said "running" for
    ever). Signals this platform lacks (SIGHUP on Windows) are left out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise exception(signum)

    numbers = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {
        number: signal.signal(number, handler)
        for number in numbers
        if signal.getsignal(number) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)
