"""The dsp backend's option tables: each task declares ``OPTIONS`` next to its method.

A task module ``dsp/<task>.py`` holds ``OPTIONS = {name: Option(...)}``, and, where the options
depend on the damage (dereverb: blind or with a known impulse response), a function
``options_for(damage)`` that picks those of ``OPTIONS`` the damage takes. :func:`options_for`
finds them for the engine's one check (:func:`diffmusic_engine.options.check_options`);
:func:`task_options` gives all of a task's (the task an option flag names); methods call
:func:`parse_options` for their completed values.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from diffmusic_engine.options import Option, check_values, with_seed

if TYPE_CHECKING:
    from diffmusic_engine.damage import Damage

__all__ = [
    "MAX_N_FFT",
    "N_FFT",
    "Option",
    "import_task_modules",
    "options_for",
    "parse_options",
    "task_module",
    "task_options",
]


def options_for(damage: Damage) -> dict[str, Option]:
    """The options of the dsp method for ``damage``'s task."""
    module = task_module(damage.task)
    finder = getattr(module, "options_for", None)
    return dict(finder(damage) if finder else module.OPTIONS)


def task_options(task: str) -> dict[str, Option]:
    """Every option the dsp method for ``task`` takes, whatever the damage."""
    return dict(task_module(task).OPTIONS)


MAX_N_FFT = 16384  # the longest STFT frame (or declip window) a dsp option may ask for
# A plain STFT size: as separation and super-resolution take it (dereverb's 0 means "auto").
N_FFT = Option(default=2048, low=256, high=MAX_N_FFT, integer=True)


def task_module(task: str) -> ModuleType:
    """``dsp/<task>.py``, imported (its options, and its method's imports: never torch's)."""
    return importlib.import_module(f"diffmusic_engine.dsp.{task.replace('-', '_')}")


def import_task_modules(before_each: Callable[[], None] = lambda: None) -> None:
    """Import every task's module now (a daemon's warm-up: the first job's option check and
    run then pay no imports); one whose dependency is missing is logged, and raises when a job
    asks for it. ``before_each`` runs before each import (a warm-up stops when told)."""
    from diffmusic_engine.damage import TASKS

    for task in TASKS:
        before_each()
        try:
            task_module(task)
        except ImportError as exc:
            logging.getLogger(__name__).warning("dsp %s unavailable: %s", task, exc)


def parse_options(
    task: str, options: Mapping[str, Any], spec: Mapping[str, Option]
) -> dict[str, Any]:
    """``options`` checked against ``spec`` (plus ``seed``) and completed with its defaults."""
    return check_values(f"dsp {task}", options, with_seed(spec))
