"""A restoration step's keyword arguments checked (:class:`bridge.batch.Restorer`): split into
the task's damage fields and backend options, its step settings' numbers, its separation source
(moved out of restorer.py, at the project's 500-line limit)."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from diffmusic_engine.damage import Damage, Separate, damage_type
from diffmusic_engine.errors import DamageError
from diffmusic_engine.preset_files import load_preset, with_fields


def split_options(
    task: str | None, preset: str | Path | None, options: dict[str, Any], task_key: str = "task"
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Damage fields (a preset's, then keyword ones), the preset's options, the keyword options;
    ``task_key``: how the caller names the task (a chain step's ``restore``), said if none."""
    damage_fields: dict[str, Any] = {}
    preset_options: dict[str, Any] = {}
    if preset is not None:
        loaded = load_preset(preset)
        damage_fields.update(loaded.damage)
        preset_options = loaded.options
    if task is not None:
        if damage_fields.get("task") not in (None, task):
            damage_fields = {}  # a preset for another task contributes no fields
        damage_fields["task"] = task
    if "task" not in damage_fields:  # a chain step's preset without one had been told "task="
        if preset is not None:
            raise DamageError(
                f"restorer: no task: the preset {preset} names none; give "
                f'{task_key} = "TASK", or set task = "..." in the preset'
            )
        raise DamageError(f'restorer: no task; give {task_key} = "TASK" or a preset')
    known_fields = {f.name for f in fields(damage_type(damage_fields["task"]))}
    given = {k: v for k, v in options.items() if k not in known_fields}
    fields_given = {k: v for k, v in options.items() if k in known_fields}
    return with_fields(damage_fields, fields_given), preset_options, given


def setting_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DamageError(f"restorer: {name}={value!r} must be a number")
    if name.endswith("seconds") and value < 0:
        raise DamageError(f"restorer: {name}={value!r} must be >= 0 seconds")
    return float(value)


def checked_source(damage: Damage, source: int | None) -> int | None:
    if not isinstance(damage, Separate):
        if source is not None:
            raise DamageError(f"source: only for task separate, not {damage.task}")
        return None
    # the line had read "source=None; give which source to keep" for a step without one
    keep = f"give which source to keep, source = 1..{damage.sources}"
    if source is None:
        raise DamageError(f"separate: no source given; {keep}")
    if isinstance(source, bool) or not isinstance(source, int):
        raise DamageError(f"separate: source {source!r} is no whole number; {keep}")
    if not 1 <= source <= damage.sources:
        raise DamageError(f"separate: source {source} out of range; {keep}")
    return source
