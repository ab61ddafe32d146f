"""The dsp backend's option tables: each task declares ``OPTIONS`` next to its method.

A task module ``dsp/<task>.py`` holds ``OPTIONS = {name: Option(...)}``, or, where the options
depend on the damage (dereverb: blind or with a known impulse response), a function
``options_for(damage)``. :func:`options_for` finds them for the engine's one check
(:func:`diffmusic_engine.options.check_options`); methods call :func:`parse_options` for their
completed values.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from diffmusic_engine.options import SEED, Option, check_values

if TYPE_CHECKING:
    from diffmusic_engine.damage import Damage

__all__ = ["Option", "options_for", "parse_options"]


def options_for(damage: Damage) -> dict[str, Option]:
    """The options of the dsp method for ``damage``'s task."""
    module = importlib.import_module(f"diffmusic_engine.dsp.{damage.task.replace('-', '_')}")
    finder = getattr(module, "options_for", None)
    return dict(finder(damage) if finder else module.OPTIONS)


def parse_options(
    task: str, options: Mapping[str, Any], spec: Mapping[str, Option]
) -> dict[str, Any]:
    """``options`` checked against ``spec`` (plus ``seed``) and completed with its defaults."""
    return check_values(f"dsp {task}", options, {"seed": SEED, **spec})
