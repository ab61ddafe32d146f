"""Checking a dsp task's options: known names, types and ranges, one clear error line each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diffmusic_engine.errors import DamageError

# Accepted by every dsp task (the CLI's ``--seed`` is common to all backends).
COMMON = ("seed",)


@dataclass(frozen=True)
class Option:
    """A numeric option: its default and the closed range it must lie in."""

    default: float
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Choice:
    """A named option: one of ``values``, or ``None`` (not given) by default."""

    values: tuple[str, ...]
    default: str | None = None


def parse_options(
    task: str, options: Mapping[str, Any], spec: Mapping[str, Option | Choice]
) -> dict[str, Any]:
    """``options`` completed with defaults from ``spec``; raises :class:`DamageError` naming an
    unknown option, a non-number or a value out of range."""
    unknown = sorted(set(options) - set(spec) - set(COMMON))
    if unknown:
        known = sorted({*spec, *COMMON})
        raise DamageError(f"dsp {task}: unknown option(s) {', '.join(unknown)}; known: {known}")
    result: dict[str, Any] = {"seed": _seed(options.get("seed", 0))}
    for name, option in spec.items():
        value = options.get(name, option.default)
        if isinstance(option, Choice):
            if value is not None and value not in option.values:
                raise DamageError(f"dsp {task}: option {name}={value!r}; one of {option.values}")
            result[name] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DamageError(f"dsp {task}: option {name}={value!r} is not a number")
        if option.integer and float(value) != int(value):
            raise DamageError(f"dsp {task}: option {name}={value!r} must be a whole number")
        if not option.low <= value <= option.high:
            raise DamageError(
                f"dsp {task}: option {name}={value!r} out of range {option.low:g}..{option.high:g}"
            )
        result[name] = int(value) if option.integer else float(value)
    return result


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DamageError(f"dsp: option seed={value!r} must be a whole number >= 0")
    return value
