"""Chain files: an ordered list of effect and restoration steps, checked before any audio.

A chain is a TOML or JSON file (examples in ``presets/chains/``)::

    _doc = "what this chain is for"     # keys starting with "_" are comments, anywhere
    sample_rate = 44100                 # optional: resample every input to this rate first
    tail = "auto"                       # optional: render past the input's end (see below)

    [[steps]]                           # a built-in pedalboard plugin, parameters inline
    plugin = "HighpassFilter"
    cutoff_frequency_hz = 40

    [[steps]]                           # a restoration step (bridge.batch.Restorer)
    restore = "dereverb"                # the task; or preset = "NAME|FILE" (+ fields to override)
    rir = "blind"
    backend = "dsp"

    [[steps]]                           # an external VST3 plugin
    vst3 = "plugins/Deesser.vst3"       # relative paths are relative to the chain file
    plugin_name = "Deesser"             # optional: which plugin of a shell file
    parameters = { threshold_db = -20 }
    raw_state = "base64..."             # optional: the plugin's saved state, applied first

``tail`` lets reverbs and delays ring out past the input's end (:mod:`bridge.batch.tail`):
absent or ``0``, the output has the input's length (a decay past the end is cut); ``SECONDS``
(at most ``TAIL_MAX_SECONDS``, 60) renders exactly that much silence through the chain after
the input; ``"auto"`` renders until the output stays below -90.3 dBFS (one 16-bit step) for
1 s plus the chain's longest ``Delay``, and ends it after its last louder sample (at most 60 s
past the input). Restoration steps restore the input only; the tail passes them unchanged.

:func:`load_chain` validates every step by constructing it: an unknown plugin, a parameter name the
plugin does not have, a value it refuses, a missing file, an impulse response that cannot be read (a
NaN sample) or is silent, or an invalid restoration field raises :class:`ChainError` naming the
file, the step and the problem (a mistyped key, parameter or plugin with the nearest known name, as
an unknown option has it: ``options.did_you_mean``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pedalboard

from bridge.batch.restorer import Restorer
from bridge.batch.tail import AUTO, TAIL_MAX_SECONDS, TAIL_QUIET_SECONDS, TailEnd, tail_option
from diffmusic_engine.audio_arrays import given_audio
from diffmusic_engine.damage import Dereverb
from diffmusic_engine.damage_check import check_rir_file
from diffmusic_engine.errors import DamageError, DiffMusicError, InputError, not_a_file
from diffmusic_engine.impulse_response import check_impulse_response, read_impulse_response
from diffmusic_engine.options import did_you_mean, nearest, unknown_names
from diffmusic_engine.preset_files import read_table_file, without_comments
from diffmusic_engine.rates import resample

# pedalboard classes that are containers or loaders, not effects one can name in a chain.
_NOT_EFFECTS = {"Plugin", "Pedalboard", "Chain", "Mix", "PluginContainer", "ExternalPlugin",
                "VST3Plugin", "AudioUnitPlugin", "IIRFilter"}  # fmt: skip
# Built-in effects that a batch, which streams every file block by block, cannot run: said
# when the chain is read (PitchShift wrote 70 % silence and the file was reported done).
_NOT_STREAMABLE = {
    "PitchShift": "pedalboard's PitchShift returns silence when fed block by block "
    "(spotify/pedalboard#415), and a batch streams every file; shift the pitch before the batch "
    "(pedalboard.PitchShift on the whole file, or your DAW)",
}
_FLAGS = {"is_effect", "is_instrument"}
_STEP_KINDS = ("plugin", "vst3", "restore", "preset")  # the key that says what a step is
_FILE_PARAMETERS = {"impulse_response_filename"}  # Convolution: paths relative to the chain


class ChainError(InputError):
    """A chain file that cannot be used; the message names the file, step and problem."""


@dataclass(frozen=True)
class PluginStep:
    """A built-in pedalboard plugin and its constructor parameters."""

    name: str
    parameters: dict[str, Any]

    def build(self) -> pedalboard.Plugin:
        cls = getattr(pedalboard, self.name)
        return cls(**{k: _enum_value(cls, v) for k, v in self.parameters.items()})

    def describe(self) -> str:
        return self.name


@dataclass(frozen=True)
class VST3Step:
    """An external VST3 plugin: file, optional plugin name, raw state, then parameters."""

    path: Path
    plugin_name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    raw_state: bytes | None = None

    def build(self) -> pedalboard.Plugin:
        plugin = pedalboard.load_plugin(str(self.path), plugin_name=self.plugin_name)
        if self.raw_state is not None:
            plugin.raw_state = self.raw_state
        unknown = set(self.parameters) - set(plugin.parameters)
        if unknown:
            raise ValueError(unknown_names("parameter", unknown, sorted(plugin.parameters)))
        for name, value in self.parameters.items():
            setattr(plugin, name, value)
        return plugin

    def describe(self) -> str:
        return f"VST3 {self.path.name}"


class StepRestorer(Restorer):
    """A chain's restoration step: an unknown key's line names the keys as a chain file has
    them (the Restorer's had offered task, which a chain names restore, and callback, which a
    chain refuses) and says which are the step's beside its preset's (they had read as the
    preset's)."""

    given_from = "in the step"
    spelled: ClassVar[dict[str, str]] = {"task": "restore", "callback": ""}


@dataclass(frozen=True)
class RestoreStep:
    """A restoration step: the keyword arguments of :class:`~bridge.batch.Restorer`, and the
    files it reads (its preset file, its room: named in the chain or in the preset)."""

    options: dict[str, Any]
    files: tuple[Path, ...] = field(default=(), compare=False)

    def build(self, **overrides: Any) -> Restorer:
        return StepRestorer(**{**self.options, **overrides})

    def describe(self) -> str:
        return f"restore {self.options.get('task') or self.options.get('preset')}"


Step = PluginStep | VST3Step | RestoreStep
Segment = pedalboard.Pedalboard | Restorer


@dataclass(frozen=True)
class Chain:
    """Validated steps, plus the rate every input is resampled to first (``None``: keep) and
    how far past the input's end a render goes (``tail``: seconds, or ``"auto"``)."""

    steps: tuple[Step, ...]
    sample_rate: int | None = None
    path: Path | None = None
    digest: str = ""
    tail: float | str = 0.0

    def tail_frames(self, sample_rate: int) -> int | None:
        """Samples of silence rendered after the input (``None``: ``"auto"``, found as it goes)."""
        return None if self.tail == AUTO else round(float(self.tail) * sample_rate)

    def quiet_seconds(self) -> float:
        """How long an ``"auto"`` tail must stay quiet to be over: ``TAIL_QUIET_SECONDS`` plus
        the longest ``Delay`` (its echoes of a short note are that far apart)."""
        delays = [s.build().delay_seconds for s in self.steps
                  if isinstance(s, PluginStep) and s.name == "Delay"]  # fmt: skip
        return TAIL_QUIET_SECONDS + max(delays, default=0.0)

    def segments(self, **restorer_overrides: Any) -> list[Segment]:
        """Fresh processors: runs of plugins as one ``Pedalboard``, each restoration alone.

        ``restorer_overrides`` (e.g. ``connect=True``) apply to every restoration step.
        """
        segments: list[Segment] = []
        plugins: list[pedalboard.Plugin] = []
        for step in self.steps:
            if isinstance(step, RestoreStep):
                if plugins:
                    segments.append(pedalboard.Pedalboard(plugins))
                    plugins = []
                segments.append(step.build(**restorer_overrides))
            else:
                plugins.append(step.build())
        if plugins:
            segments.append(pedalboard.Pedalboard(plugins))
        return segments

    def process(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Run the whole chain over ``(channels, samples)`` in memory (what a render streams).

        The result is at the chain's ``sample_rate`` when it sets one (soxr VHQ, as a render),
        with the chain's ``tail`` (restoration steps restore the input's samples only).
        """
        audio = given_audio(audio, "chain")  # (samples, channels) had padded 44,100 channels
        if self.sample_rate and self.sample_rate != sample_rate:
            audio, sample_rate = resample(audio, sample_rate, self.sample_rate), self.sample_rate
        total = audio.shape[1]
        tail = self.tail_frames(sample_rate)
        silence = round(TAIL_MAX_SECONDS * sample_rate) if tail is None else tail
        audio = np.concatenate([audio, np.zeros((audio.shape[0], silence), np.float32)], axis=1)
        for segment in self.segments():
            if isinstance(segment, Restorer):
                restored = segment(audio[:, :total], sample_rate)
                audio = np.concatenate([restored, audio[:, total:]], axis=1)
            else:
                audio = segment(audio, sample_rate)
        if tail is None:
            end = TailEnd(total, sample_rate, self.quiet_seconds())
            end.feed(audio)
            audio = audio[:, : end.end]
        return audio


def load_chain(path: str | Path) -> Chain:
    """Read and validate a chain file (TOML or JSON); raises :class:`ChainError`."""
    path = Path(path)
    if not path.is_file():
        raise ChainError(f"chain {path}: {not_a_file(path)}")
    if path.suffix.lower() not in (".toml", ".json"):
        raise ChainError(f"chain {path}: expected a .toml or .json file")
    data = read_table_file(path, "chain", ChainError)
    return chain_from_dict(data, base=path.parent, path=path)


def chain_from_dict(data: Any, *, base: Path = Path("."), path: Path | None = None) -> Chain:
    """Validate a chain given as a mapping (the parsed file); ``base`` resolves relative paths."""
    where = f"chain {path}" if path else "chain"
    if not isinstance(data, Mapping):
        raise ChainError(f"{where}: expected a table/object at top level")
    data = without_comments(data)
    unknown = set(data) - {"steps", "sample_rate", "tail"}
    if unknown:
        known = ["sample_rate", "steps", "tail"]
        raise ChainError(f"{where}: {unknown_names('key', unknown, known)}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ChainError(f"{where}: needs a non-empty list of steps ([[steps]] in TOML)")
    sample_rate = data.get("sample_rate")
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1000
    ):
        raise ChainError(f"{where}: sample_rate {sample_rate!r}: expected a whole number of Hz")
    try:
        tail = tail_option(data.get("tail"))
    except ValueError as exc:
        raise ChainError(f"{where}: {exc}") from None
    parsed = []
    for number, step in enumerate(steps, start=1):
        try:
            parsed.append(_parse_step(step, base))
        except DiffMusicError as exc:
            raise ChainError(f"{where}: step {number}: {exc}") from None
    digest = hashlib.sha256(
        json.dumps(_as_rendered(data, tail), sort_keys=True, default=str).encode()
    )
    for used in sorted({f for step in parsed for f in _files_used(step)}):
        digest.update(_file_digest(used))  # a changed impulse response renders anew (--resume)
    return Chain(tuple(parsed), sample_rate, path, digest.hexdigest()[:16], tail)


def _as_rendered(data: Mapping[str, Any], tail: float | str) -> Mapping[str, Any]:
    """The chain's text as its digest reads it: ``tail = 0`` (``0.0`` too) renders as no tail
    and is digested without it, so that adding it keeps ``--resume``'s files (a chain without
    ``tail`` keeps the digest it has always had); any other tail as the value it renders
    (``tail = 1`` and ``tail = 1.0`` are one tail, one digest; a whole number was digested as
    written before, ``1``, so such a chain's files render once more on ``--resume``)."""
    rest = {k: v for k, v in data.items() if k != "tail"}
    return rest if tail == 0 else {**rest, "tail": tail}


def _files_used(step: Step) -> list[Path]:
    """The files ``step`` reads besides the chain: a Convolution's impulse response, a
    restoration's preset file and room, a VST3."""
    if isinstance(step, PluginStep):
        return [Path(step.parameters[k]) for k in _FILE_PARAMETERS & set(step.parameters)]
    if isinstance(step, VST3Step):
        return [step.path]
    return list(step.files)


def _file_digest(path: Path) -> bytes:
    """A file's bytes hashed; a folder (a VST3 bundle) by its name, size and time."""
    if path.is_file():
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").digest()
    info = path.stat()
    return f"{path}:{info.st_size}:{info.st_mtime_ns}".encode()


def _parse_step(step: Any, base: Path) -> Step:
    if not isinstance(step, Mapping):
        raise ChainError(f"expected a table/object, got {step!r}")
    step = dict(step)
    kinds = [k for k in _STEP_KINDS if k in step]
    if not kinds:
        meant = "".join(
            f"; {key}{hint}" for key in step if (hint := did_you_mean(key, _STEP_KINDS))
        )
        raise ChainError(
            f"says neither plugin = NAME, vst3 = PATH, restore = TASK nor preset = NAME{meant}"
        )
    if kinds[0] == "plugin":
        return _plugin_step(step, base)
    if kinds[0] == "vst3":
        return _vst3_step(step, base)
    return _restore_step(step, base)


def _plugin_step(step: dict[str, Any], base: Path) -> PluginStep:
    name = step.pop("plugin")
    cls = getattr(pedalboard, str(name), None)
    if not inspect.isclass(cls) or not issubclass(cls, pedalboard.Plugin) or name in _NOT_EFFECTS:
        plugins = builtin_plugins()
        meant = nearest(str(name), [*plugins, *_NOT_STREAMABLE])
        if meant in _NOT_STREAMABLE:  # "Pitchshift" had had no hint, its remedy unsaid
            raise ChainError(f"unknown plugin {name!r} (did you mean {meant}?); {meant}: "
                             f"{_NOT_STREAMABLE[meant]}")  # fmt: skip
        raise ChainError(f"unknown plugin {name!r}{did_you_mean(str(name), plugins)}; built-in "
                         f"plugins: {', '.join(plugins)}")  # fmt: skip
    if name in _NOT_STREAMABLE:
        raise ChainError(f"{name}: {_NOT_STREAMABLE[name]}")
    known = sorted(n for n, v in inspect.getmembers(cls) if isinstance(v, property))
    known = [n for n in known if n not in _FLAGS]
    unknown = set(step) - set(known)
    if unknown:
        raise ChainError(f"{name}: {unknown_names('parameter', unknown, known)}")
    for key in _FILE_PARAMETERS & set(step):
        step[key] = str(_existing_file(step[key], base, f"{name}: {key}"))
    result = PluginStep(str(name), step)
    try:
        result.build()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ChainError(f"{name}: bad parameter value in {step}: {_pybind_message(exc)}") from None
    return result


def _vst3_step(step: dict[str, Any], base: Path) -> VST3Step:
    path = _existing_file(step.pop("vst3"), base, "vst3", folder_ok=True)
    plugin_name = step.pop("plugin_name", None)
    parameters = step.pop("parameters", {})
    raw = step.pop("raw_state", None)
    if step:
        known = ["vst3", "plugin_name", "parameters", "raw_state"]
        raise ChainError(f"VST3 {path.name}: {unknown_names('key', step, known)}")
    if not isinstance(parameters, Mapping):
        raise ChainError(f"VST3 {path.name}: parameters must be a table/object")
    raw_state = None
    if raw is not None:
        try:
            raw_state = base64.b64decode(str(raw), validate=True)
        except (binascii.Error, ValueError):
            raise ChainError(f"VST3 {path.name}: raw_state is not valid base64") from None
    result = VST3Step(path, plugin_name, dict(parameters), raw_state)
    try:
        result.build()
    except (ImportError, TypeError, ValueError, RuntimeError) as exc:
        raise ChainError(f"VST3 {path.name}: {_pybind_message(exc)}") from None
    return result


def _restore_step(step: dict[str, Any], base: Path) -> RestoreStep:
    options = dict(step)
    if "restore" in options:
        if "task" in options:  # restore had won, the step's task left out unsaid
            raise ChainError("restore and task both name the step's task: keep restore = TASK")
        options["task"] = options.pop("restore")
    if "callback" in options:
        raise ChainError("restore: callback cannot be set in a chain file")
    preset = options.get("preset")
    if isinstance(preset, str) and (base / preset).is_file():
        options["preset"] = str(base / preset)
    rir = options.get("rir")
    if isinstance(rir, str) and rir != "blind":
        options["rir"] = str(_room_file(rir, base))
    restorer = StepRestorer(**options)  # raises DamageError naming the field
    room = getattr(restorer.damage, "rir", None)  # the chain's, or its preset's
    if isinstance(restorer.damage, Dereverb) and isinstance(room, Path):  # not samples inline
        # already resolved, from the chain's folder or the preset's: base again had made
        # --chain chains/c.toml's rir "ir.wav" chains/chains/ir.wav, no such file
        room = _room_file(room, Path())
    if isinstance(restorer.damage, Dereverb) and room is not None:  # a file, or samples inline
        # read and checked now: a NaN or silent one had been found only as each file ran (each
        # failed with the same line); its channels are checked against each file's as it runs
        try:
            samples = read_impulse_response(room)[0] if isinstance(room, Path) else room
            check_impulse_response(samples, len(np.atleast_2d(samples)))
        except (InputError, DamageError) as exc:
            raise ChainError(f"restore: rir: {exc}") from None
    named = [options.get("preset"), room if isinstance(room, Path) else None]
    files = tuple(Path(v) for v in named if v is not None and Path(v).is_file())
    return RestoreStep(options, files)


def builtin_plugins() -> list[str]:
    """Names of pedalboard's built-in effects a chain may use."""
    return sorted(
        name for name, cls in vars(pedalboard).items()
        if inspect.isclass(cls) and issubclass(cls, pedalboard.Plugin)
        and name not in _NOT_EFFECTS | _NOT_STREAMABLE.keys() and not name.startswith("_")
    )  # fmt: skip


def _existing_file(value: Any, base: Path, what: str, folder_ok: bool = False) -> Path:
    path = _resolved(value, base)
    if not (path.is_file() or (folder_ok and path.is_dir())):
        raise ChainError(f"{what}: {path}: {not_a_file(path)}")
    return path


def _room_file(value: Any, base: Path) -> Path:
    """A dereverb step's impulse-response file, checked by restore's rule for ``--rir`` (its
    line says what to give: a chain's had said only "no such file")."""
    path = _resolved(value, base)
    try:
        check_rir_file(path)
    except DamageError as exc:
        raise ChainError(f"restore: rir: {exc}") from None
    return path


def _resolved(value: Any, base: Path) -> Path:
    """A path a chain gives: relative ones are to the chain file's folder ``base``."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _enum_value(cls: type, value: Any) -> Any:
    """``"HPF12"`` -> ``LadderFilter.Mode.HPF12``: enum parameters may be written by name."""
    if isinstance(value, str):
        for attribute in vars(cls).values():
            members = getattr(attribute, "__members__", None)
            if isinstance(members, Mapping) and value in members:
                return members[value]
    return value


def _pybind_message(exc: BaseException) -> str:
    """One line from pybind11's multi-line constructor errors (the expected signature)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    signature = next((line for line in lines if line.startswith("1. ")), None)
    if signature:
        return "expected " + signature.removeprefix("1. ").replace("pedalboard_native.", "")
    return lines[0] if lines else type(exc).__name__
