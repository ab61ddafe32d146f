"""Backend options: one resolution (preset, flags, per-backend tables) and one check per task.

Every entry point (the CLI, :class:`bridge.batch.Restorer`, the daemon's submit check, the
executors through :func:`diffmusic_engine.api.restore`) goes through these two functions:

* :func:`resolve_options` merges layers of options, lowest precedence first (a preset's
  ``[options]``, then flags or keyword options). Within one layer, the running backend's own table
  (``[options.dsp]``, ``{"diffusion": {...}}``) overrides the layer's plain keys; a later layer
  overrides an earlier one whole. So ``{"steps": 100, "diffusion": {"steps": 50}}`` runs with 50,
  and a ``--steps 10`` flag over a preset's ``[options.diffusion] steps = 200`` runs with 10. Other
  backends' tables and the ``backend`` key are dropped: one preset serves every backend.
* :func:`check_options` checks resolved options against the backend's table for the task (names,
  types, ranges, choices) and returns them completed with defaults; a problem raises
  :class:`~diffmusic_engine.errors.DamageError` with one line naming the option.

Each backend declares its tables (:data:`diffmusic_engine.backends.OPTION_SPECS`): the dsp backend
next to each task's method (``dsp/<task>.py`` ``OPTIONS``), the diffusion backend in
``diffusion/options.py``. This module imports neither torch nor diffusers.
"""

from __future__ import annotations

import difflib
import importlib
import math
import numbers
import os
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from diffmusic_engine.backends import BACKENDS, DEFAULT_BACKEND, OPTION_SPECS
from diffmusic_engine.errors import DamageError

if TYPE_CHECKING:
    from pathlib import Path

    from diffmusic_engine.damage import Damage


@dataclass(frozen=True)
class Option:
    """One option: its kind, default and what it accepts.

    ``kind`` is ``float`` (any finite number; ``integer`` for whole numbers), ``bool`` or
    ``str``. Numbers lie in ``low..high`` (``low`` itself excluded when ``above``); a non-empty
    ``choices`` lists every accepted value; a ``str`` option may have to match ``pattern``.
    ``default`` ``None`` leaves the option out unless given (the method decides); a non-empty
    ``required`` makes it compulsory and says how to give it. ``needs`` ``(other, value)``: the
    option means something only where option ``other`` is ``value``; given otherwise, an error
    (not silently ignored). ``refused_with`` ``(value, other, other_value, why)``: ``value``
    is refused, saying ``why``, where option ``other`` is ``other_value``.
    """

    default: Any = None
    low: float = -math.inf
    high: float = math.inf
    integer: bool = False
    kind: type = float
    choices: tuple[Any, ...] = ()
    above: bool = False
    pattern: str = ""
    required: str = ""
    needs: tuple[str, Any] | tuple[()] = ()
    refused_with: tuple[Any, str, Any, str] | tuple[()] = ()

    def check(self, where: str, name: str, value: Any) -> Any:
        """``value`` normalised (ints for whole numbers), or a DamageError naming the option."""
        said = f"{where}: option {name}={reprlib.repr(value)}"  # a 300-digit number, shortened
        if self.choices:
            if value not in self.choices:
                raise DamageError(f"{said}: expected one of {', '.join(map(str, self.choices))}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise DamageError(f"{said}: expected true or false")
            return value
        if self.kind is str:
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str) or (
                self.pattern and not re.fullmatch(self.pattern, value)
            ):
                raise DamageError(f"{said}: expected {self.pattern or 'text'}")
            return value
        return self._number(said, value)

    def _number(self, said: str, value: Any) -> float | int:
        # numbers.Real: numpy's scalars too (np.float32(0.5)); an int stays exact, so a huge
        # one is out of range rather than an OverflowError
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise DamageError(f"{said} is not a number")
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise DamageError(f"{said} is not a number")
        if self.integer and isinstance(value, float) and not value.is_integer():
            raise DamageError(f"{said} must be a whole number")
        if value < self.low or value > self.high or (self.above and value == self.low):
            low, high = (_shown(bound, self.integer) for bound in (self.low, self.high))
            if self.high < math.inf:
                excluded = f", {low} excluded" if self.above else ""  # init_strength 0
                raise DamageError(f"{said} out of range {low}..{high}{excluded}")
            raise DamageError(f"{said} must be {'>' if self.above else '>='} {low}")
        return int(value) if self.integer else float(value)


def _shown(bound: float, integer: bool) -> str:
    """A range's bound as the user writes it: whole numbers in full (a seed's 4294967295)."""
    return str(int(bound)) if integer and math.isfinite(bound) else f"{bound:g}"


# Accepted by every backend and task (the CLI's --seed).
SEED = Option(default=0, low=0, high=2**32 - 1, integer=True)


def resolve_options(backend: str, *layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options ``backend`` runs with: ``layers`` merged, lowest precedence first.

    Each layer's plain keys, then its ``backend`` table; other backends' tables and the
    ``backend`` key are dropped (see the module doc for the precedence).
    """
    resolved: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for name in BACKENDS:
            if name in layer and not isinstance(layer[name], Mapping):
                raise DamageError(f"options.{name} must be a table of options, not {layer[name]!r}")
        resolved.update({k: v for k, v in layer.items() if k not in BACKENDS and k != "backend"})
        resolved.update(layer.get(backend) or {})
    return resolved


def resolve_backend(given: str | None, *layers: Mapping[str, Any] | None) -> str:
    """``given``, else the last layer's ``backend`` key, else the default (dsp); checked."""
    named = [layer["backend"] for layer in layers if layer and layer.get("backend")]
    backend = given or (named[-1] if named else DEFAULT_BACKEND)
    check_one_of("backend", backend, BACKENDS)
    return backend


def option_spec(backend: str, damage: Damage) -> dict[str, Option] | None:
    """The options ``backend`` accepts for ``damage`` (seed included); ``None`` for a backend
    registered without a table (its options pass unchecked)."""
    check_one_of("backend", backend, BACKENDS)
    if backend not in OPTION_SPECS:
        return None
    function = OPTION_SPECS[backend].split(":")[1]
    return with_seed(getattr(_tables_module(backend), function)(damage))


def _tables_module(backend: str) -> Any:
    """The module that declares ``backend``'s option tables (``OPTION_SPECS``), imported."""
    return importlib.import_module(OPTION_SPECS[backend].split(":")[0])


def with_seed(spec: Mapping[str, Option]) -> dict[str, Option]:
    """``spec`` and the seed, which every task of every backend takes."""
    return {"seed": SEED, **spec}


def task_of_option(name: str) -> str | None:
    """The one task whose options hold ``name``, in any backend's table and for any damage
    (each backend module's ``task_options``); ``None`` where several tasks or none take it. An
    option flag given without ``--task``, ``--preset`` or a damage flag names that task:
    ``--sensitivity`` alone is declick's, ``--seed`` and the diffusion options are every
    task's. It imports every backend's option tables (dsp's task modules, without torch)."""
    tasks = tasks_taking(name, fields_too=False)
    return tasks[0] if len(tasks) == 1 else None


def tasks_taking(name: str, fields_too: bool = True) -> list[str]:
    """The tasks that take ``name``: as an option, in any backend's table and for any damage,
    and (``fields_too``) as a damage field. It imports every backend's option tables."""
    from diffmusic_engine.damage import TASK_OF_FIELD, TASKS  # damage imports this module

    tasks = {TASK_OF_FIELD[name]} if fields_too and name in TASK_OF_FIELD else set()
    for backend in OPTION_SPECS:
        module = _tables_module(backend)
        tasks |= {task for task in TASKS if name in with_seed(module.task_options(task))}
    return [task for task in TASKS if task in tasks]


def other_tasks_name(name: str, task: str) -> str:
    """``declip's, not inpaint's``: the tasks ``name`` is a field or option of where ``task``
    takes it as neither, else nothing. Such a name is no typo: it is said so, and offered no
    near name (an inpaint step's ``level``, declip's, had been offered level_context, an option
    in seconds that would take 0.5; an inpaint preset's field ``taps``, dereverb's, gaps)."""
    tasks = tasks_taking(name)
    if not tasks or task in tasks:
        return ""
    owners = ", ".join(f"{other}'s" for other in tasks)
    return f"{owners}, not {task}'s"


def field_said(name: str, task: str | None, known: Iterable[str]) -> str:
    """An unknown damage field ``name`` as its line says it: another task's is said to be
    theirs (an inpaint preset's ``taps``: dereverb's, not gaps), an option given as a field
    is said to be one (``model`` had been offered mode), else its nearest ``known`` field.
    ``task`` None: a preset without one (its ``model``, ``taps`` had kept those near names)."""
    if task is not None and (owners := other_tasks_name(name, task)):
        return f"{name} ({owners})"
    if takers := tasks_taking(name, fields_too=False):
        whose = f"{task}'s" if task in takers else "an"
        return f"{name} ({whose} option, not a field: give it under options)"
    return name + did_you_mean(name, known)


def check_options(
    backend: str,
    damage: Damage,
    options: Mapping[str, Any],
    preset: str | Path | None = None,
    preset_options: Mapping[str, Any] | None = None,
    given_from: str = "",
    also_known: Iterable[str] = (),
) -> dict[str, Any]:
    """Resolved ``options`` checked for ``backend`` and ``damage``'s task, defaults filled in.

    The error that the options of ``preset`` (``preset_options``, as given) make alone ends
    ``(in the preset PRESET)`` (a user trial: "unknown option(s) amonut" had named no file); one
    that given options make, or that they make without the preset too (no model given), is not
    said to be the preset's. Unknown names, some the preset's and some given, each say where they
    came from: ``in the preset PRESET``, or ``given_from`` (the CLI's ``on the command line``).
    ``also_known``: the names the caller takes besides options (a batch step's ``backend``, its
    damage's fields), offered as an unknown one's nearest name too.
    """
    also_known = tuple(also_known)  # each check below offers them (a preset's typo: named once)
    sources: dict[str, str] = {}
    if preset_options:
        from_preset = resolve_options(backend, preset_options)
        sources = {name: f"in the preset {preset}" if name in from_preset else given_from
                   for name in options}  # fmt: skip
    try:
        return _checked_options(backend, damage, options, sources, also_known)
    except DamageError as exc:
        if preset_options:
            given_alone = {k: v for k, v in options.items() if k not in from_preset}
            if _makes(exc, backend, damage, from_preset, also_known) and not _makes(
                exc, backend, damage, given_alone, also_known
            ):
                raise DamageError(f"{exc} (in the preset {preset})") from None
        raise


def _makes(
    error: DamageError,
    backend: str,
    damage: Damage,
    options: Mapping[str, Any],
    also_known: Iterable[str],
) -> bool:
    """Whether checking ``options`` raises ``error`` (its words), as :func:`check_options` asks
    of a preset's options alone and of the given ones alone (``also_known`` as the first check
    had them: without, a preset's chunk_second had lost its "did you mean chunk_seconds?" and so
    its "(in the preset FILE)")."""
    try:
        _checked_options(backend, damage, options, also_known=also_known)
    except DamageError as made:
        return str(made) == str(error)
    return False


def _checked_options(
    backend: str,
    damage: Damage,
    options: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    also_known: Iterable[str] = (),
) -> dict[str, Any]:
    """``check_options`` without naming a preset (``sources``, ``also_known``: see
    :func:`check_values`)."""
    spec = option_spec(backend, damage)
    if spec is None:
        return dict(options)
    elsewhere = {}  # an unknown option another backend takes for this task: say which
    whose = {}  # one only other tasks take: said so (other_tasks_name), offered no near name
    if unknown := set(options) - set(spec):  # only then: the other tables load their modules
        for other in set(OPTION_SPECS) - {backend}:
            elsewhere |= dict.fromkeys(unknown & set(option_spec(other, damage) or {}), other)
        for name in unknown - set(elsewhere):
            if owners := other_tasks_name(name, damage.task):
                whose[name] = owners
    checked = check_values(
        f"{backend} {damage.task}", options, spec, elsewhere, sources, also_known, whose
    )
    module = _tables_module(backend)
    if hasattr(module, "check_supported"):  # what the backend cannot restore, said at once
        module.check_supported(damage, checked)
    return checked


def _taken_hint(names: list[str], other: str) -> str:
    """What options of ``other`` backend given to this one say: whose they are and what to do (a
    user trial: a dereverb preset's ``amount``, dsp's, had stopped the diffusion backend with no
    remedy; one preset serves every backend, each reading its own ``[options.BACKEND]``). Said
    once for all of one backend's (a preset's amount and min_rt60 had each said it all)."""
    are, them = ("is an option", "it") if len(names) == 1 else ("are options", "them")
    return (
        f" ({', '.join(names)} {are} of the {other} backend: leave {them} out, run that backend, "
        f"or keep {them} in a preset under [options.{other}], which only that backend reads)"
    )


# How near a mistyped name must be to a known one to be offered (difflib's ratio, on names
# compared without case): 0.6, difflib's default, had offered Gain for a chain's plugin "Chain";
# after the case and whole-word steps, 0.7 offers the meant name for 103 of 105 written-down
# typos (105 with the abbreviation step after it), a wrong one for none, and 3 hints where none
# was meant, 6 at 0.6 (docs/results.md, "Error messages: the did-you-mean rule").
NEAR_RATIO = 0.7


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is a typo of, or ``None``: the one equal to it but for case
    (``Pitchshift``: PitchShift, ``DSP``: dsp), else the one it begins as a whole word of
    (``overlap``: overlap_seconds), else the nearest at :data:`NEAR_RATIO` or more, else the one
    it abbreviates (``iters``: iterations)."""
    folded = {str(k).casefold(): str(k) for k in known}
    typed = name.casefold()
    if typed in folded:
        return folded[typed]
    words = [k for f, k in folded.items() if f.startswith(typed + "_")]
    if len(words) == 1:
        return words[0]
    near = difflib.get_close_matches(typed, list(folded), 1, NEAR_RATIO)
    if near:
        return folded[near[0]]
    shortened = [k for f, k in folded.items() if len(typed) > 3 and _abbreviates(typed, f)]
    return shortened[0] if len(shortened) == 1 else None


def _abbreviates(typed: str, known: str) -> bool:
    """Whether ``typed`` is ``known`` shortened: its first three letters, then the rest of its
    letters in order (``iters``: iterations, ratio 0.67; ``cutoff_hz``: cutoff_frequency_hz)."""
    rest = iter(known[3:])
    return typed[:3] == known[:3] and all(letter in rest for letter in typed[3:])


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean NEAREST?)`` where a known name is near ``name`` (a typo: ``amonut``;
    :func:`nearest`), else nothing: said after an unknown option, and after a batch chain's
    unknown key, parameter or plugin (which had none)."""
    near = nearest(name, known)
    return f" (did you mean {near}?)" if near else ""


def unknown_names(
    what: str,
    unknown: Iterable[str],
    known: list[str],
    said: Callable[[str], str] | None = None,
    after: str = "",
) -> str:
    """``unknown WHAT(s) NAME (did you mean KNOWN?), ...; known: ...``: a batch chain's key or
    plugin parameter, a damage's field (a preset's ``rirr``) or an option, mistyped, gets the
    nearest name. ``said``: how the line says each unknown name (an option's: its source too),
    else with its nearest known one; ``after``: said after the names (whose they are)."""
    said = said or (lambda name: name + did_you_mean(name, known))
    named = ", ".join(map(said, sorted(unknown)))
    return f"unknown {what}(s) {named}{after}; known: {', '.join(known)}"


def check_one_of(what: str, value: Any, known: Iterable[str]) -> None:
    """A :class:`DamageError` unless ``value`` is one of the ``known`` names: ``WHAT 'VALUE'
    (did you mean NEAREST?): expected one of ...`` (a task, a backend: ``'difusion'`` had had
    no nearest name); ``value`` given as a list or a number is said as given."""
    known = list(known)
    if not isinstance(value, str) or value not in known:
        hint = did_you_mean(value, known) if isinstance(value, str) else ""
        raise DamageError(f"{what} {value!r}{hint}: expected one of {', '.join(known)}")


def check_values(
    where: str,
    options: Mapping[str, Any],
    spec: Mapping[str, Option],
    elsewhere: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    also_known: Iterable[str] = (),
    whose: Mapping[str, str] | None = None,
) -> dict:
    """``options`` checked against ``spec`` and completed with its defaults.

    An option given as ``None`` (a required one as blank text too) counts as not given. Errors
    start with ``where``; an unknown option that ``elsewhere`` names (option -> the backend that
    takes it) says which backend it belongs to. Unknown options that ``sources`` (option -> where
    it was given) says came from more than one place each say theirs; the nearest name offered
    is one of ``spec`` or ``also_known`` (a batch step's ``backnd``: backend). An unknown option
    that ``whose`` names (option -> whose it is: another task's) is said so, with no nearest
    option: it is no typo (an inpaint step's ``level``, declip's, had been offered level_context);
    the caller's own names are still offered (a batch step's ``chunk``: chunk_seconds).
    """
    unknown = sorted(set(options) - set(spec))
    if unknown:
        taken = elsewhere or {}
        # a preset's and a flag's together had named neither source (a user trial)
        origins = {(sources or {}).get(name, "") for name in unknown}
        told = sources if sources and len(origins) > 1 else {}
        by_backend: dict[str, list[str]] = {}
        for name, other in sorted(taken.items()):
            by_backend.setdefault(other, []).append(name)
        hints = "".join(_taken_hint(names, other) for other, names in sorted(by_backend.items()))
        offered = [*spec, *also_known]

        def said(name: str) -> str:
            # its own nearest name, but not one another backend or task takes (steps is no typo
            # of taps, nor level of level_context): a real name offered another had misled
            owner = (whose or {}).get(name)
            own = nearest(name, also_known) if owner else None  # a step's chunk: chunk_seconds
            owner = f"{owner}; did you mean {own}?" if own else owner
            hint = f" ({owner})" if owner else "" if name in taken else did_you_mean(name, offered)
            return name + hint + (f" {told[name]}" if told.get(name) else "")

        line = unknown_names("option", unknown, sorted(spec), said, after=hints)
        raise DamageError(f"{where}: {line}")
    checked: dict[str, Any] = {}
    for name, option in spec.items():
        value = options.get(name)
        if option.required and isinstance(value, str) and not value.strip():
            value = None  # --model "": not given (a path of "" is the current folder)
        if value is not None:
            checked[name] = option.check(where, name, value)
        elif option.default is not None:
            checked[name] = option.default
    missing = [o.required for n, o in spec.items() if o.required and n not in checked]
    if missing:
        raise DamageError(f"{where}: {missing[0]}")
    for name, option in spec.items():
        if option.needs and options.get(name) is not None:
            other, wanted = option.needs
            if checked.get(other) != wanted:
                raise DamageError(
                    f"{where}: option {name} applies only with {other}={wanted} (it is "
                    f"{checked.get(other)}); set {other}={wanted} or leave {name} out"
                )
        if option.refused_with and name in checked:
            value, other, other_value, why = option.refused_with
            if checked[name] == value and checked.get(other) == other_value:
                raise DamageError(f"{where}: {why}")
    return checked
