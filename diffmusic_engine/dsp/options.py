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
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from diffmusic_engine.options import Option, check_values, with_seed

if TYPE_CHECKING:
    from diffmusic_engine.damage import Damage

__all__ = ["Option", "options_for", "parse_options", "task_module", "task_options"]


def options_for(damage: Damage) -> dict[str, Option]:
    """The options of the dsp method for ``damage``'s task."""
    module = task_module(damage.task)
    finder = getattr(module, "options_for", None)
    return dict(finder(damage) if finder else module.OPTIONS)


def task_options(task: str) -> dict[str, Option]:
    """Every option the dsp method for ``task`` takes, whatever the damage."""
    return dict(task_module(task).OPTIONS)


def task_module(task: str) -> ModuleType:
    """``dsp/<task>.py``, imported (its options, and its method's imports: never torch's)."""
    return importlib.import_module(f"diffmusic_engine.dsp.{task.replace('-', '_')}")


def parse_options(
    task: str, options: Mapping[str, Any], spec: Mapping[str, Option]
) -> dict[str, Any]:
    """``options`` checked against ``spec`` (plus ``seed``) and completed with its defaults."""
    return check_values(f"dsp {task}", options, with_seed(spec))
