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


PART_STEPS = 1000  # the resolution of a stage's progress reported as part of a job's


def part_of(
    callback: ProgressCallback | None, first: float, last: float
) -> ProgressCallback | None:
    """A callback for one stage of a job of several: the stage's fraction reported as the job's
    ``first`` to ``last`` (thousandths), so that the job's progress never runs back to 0 (a
    blind dereverb's had gone to 1.0 with its room estimate, then to 0 again)."""
    if callback is None:
        return None

    def scaled(progress: Progress) -> None:
        done = first + (last - first) * progress.fraction
        callback(Progress(round(PART_STEPS * done), PART_STEPS, progress.stage))

    return scaled
