"""Progress reporting and cooperative cancellation, shared by every backend.

A backend calls ``report(callback, step, total, stage)`` at each unit of work. The callback may
raise :class:`~diffmusic_engine.errors.Cancelled` to stop the work; nothing else stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress report: ``step`` of ``total`` units of the named ``stage`` are done."""

    step: int
    total: int
    stage: str = ""

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.step / self.total)


ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, step: int, total: int, stage: str = "") -> None:
    """Send one report to ``callback`` if there is one (it may raise ``Cancelled``)."""
    if callback is not None:
        callback(Progress(step, total, stage))
