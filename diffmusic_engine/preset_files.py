"""Presets: files of damage fields and backend options (``presets/`` or a user's file), and how
fields given beside one (the CLI's flags, a batch step's keys) go over its own."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffmusic_engine.damage import DAMAGE_TYPES, field_names_checked, names_checked
from diffmusic_engine.errors import DamageError, DiffMusicError, not_a_file

# The presets: a wheel installs them inside the engine (pyproject maps presets/ there), a source
# checkout has them at its top level.
_INSTALLED_PRESETS = Path(__file__).resolve().parent / "presets"
PRESETS_DIR = (
    _INSTALLED_PRESETS
    if _INSTALLED_PRESETS.is_dir()
    else _INSTALLED_PRESETS.parent.parent / "presets"
)


@dataclass(frozen=True)
class Preset:
    """A named set of damage fields and backend options, read from ``presets/`` or a file."""

    damage: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def load_preset(name_or_path: str | Path) -> Preset:
    """Load a preset: a JSON/TOML file path, or the name of one in the ``presets/`` folder.

    The file holds the damage fields at top level (``task = "inpaint"``, ...) and optional backend
    options under ``[options]``. Keys starting with ``_`` are documentation and ignored.
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise DamageError(f"preset {name_or_path!r}: expected a preset name or a file path")
    path = Path(name_or_path)
    if not path.is_file():
        candidates = [PRESETS_DIR / f"{name_or_path}{ext}" for ext in (".toml", ".json")]
        path = next((c for c in candidates if c.is_file()), path)
    if path.is_dir():
        raise DamageError(f"preset {name_or_path!s}: {not_a_file(path)}")
    if not path.is_file():
        names = sorted(p.stem for p in PRESETS_DIR.glob("*.toml")) if PRESETS_DIR.is_dir() else []
        raise DamageError(f"preset {name_or_path!s}: no such file or preset (known: {names})")
    data = read_table_file(path, "preset", DamageError)
    options = data.pop("options", {})
    if not isinstance(options, dict):
        raise DamageError(f"preset {path}: options must be a table of NAME = value")
    try:  # its task and field names, said to be the preset's (they had not been)
        if "task" in data:
            field_names_checked(data)
        else:  # each some task's field, said by the rule a task's preset has (model: an option)
            names_checked(data, DAMAGE_TYPES.values())
    except DamageError as exc:
        raise DamageError(f"{exc} (in the preset {name_or_path})") from None
    rir = data.get("rir")  # a file beside the preset, "blind", or samples (a list)
    if isinstance(rir, str) and rir != "blind" and not Path(rir).is_absolute():
        data["rir"] = str(path.parent / rir)
    return Preset(damage=data, options=dict(options), source=path)


def read_table_file(path: Path, what: str, error: type[DiffMusicError]) -> dict[str, Any]:
    """The table a preset or chain file holds (TOML if its name ends in ``.toml``, any case;
    JSON otherwise), without its ``_`` keys (:func:`without_comments`); ``error`` names
    ``what`` and ``path`` where it cannot be read or parsed, or holds no table."""
    toml = path.suffix.lower() == ".toml"
    try:
        text = path.read_text()
        data = tomllib.loads(text) if toml else json.loads(text)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError (an audio file given) is one
        raise error(
            f"{what} {path}: cannot parse as {'TOML' if toml else 'JSON'} ({exc}); a {what} file "
            "is TOML, named .toml, or JSON"
        ) from None
    if not isinstance(data, dict):
        raise error(f"{what} {path}: expected a table/object at top level")
    return without_comments(data)


def without_comments(value: Any) -> Any:
    """``value`` without the keys starting with ``_`` at every level (documentation in preset
    and chain files: ``_doc``, ``_comment``)."""
    if isinstance(value, Mapping):
        return {k: without_comments(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [without_comments(v) for v in value]
    return value


# Fields that hold what another field resolved to (``--level auto``'s level per channel): a
# preset's, given that field anew, no longer hold (with_fields).
RESOLVED_FROM = {"channel_levels": ("level", "sdr"), "negative_levels": ("level", "sdr")}


def with_fields(fields: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """A preset's damage ``fields`` with ``given`` ones over them (the CLI's flags, a batch
    step's keys), less what a given field was resolved to before."""
    kept = {k: v for k, v in fields.items() if not set(RESOLVED_FROM.get(k, ())) & set(given)}
    return {**kept, **given}
