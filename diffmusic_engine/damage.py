"""Typed descriptions of the damage to undo: one dataclass per task.

A description says what happened to the audio, in the user's units (seconds, Hz), independent of
sample rate and backend. It comes from a preset file (JSON or TOML), from CLI flags, or from a
protocol message (:func:`damage_from_dict` / :func:`damage_to_dict` round-trip). Each dataclass
checks its own fields; :mod:`diffmusic_engine.damage_check` checks one against its audio.
"""

from __future__ import annotations

import functools
import itertools
import math
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from diffmusic_engine.clipping import Levels, levels_to_declip
from diffmusic_engine.errors import DamageError
from diffmusic_engine.options import SEED, check_one_of, field_said, unknown_names


@dataclass(frozen=True)
class Gap:
    """A dropout from ``start`` to ``end`` seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise DamageError(
                f"{self.start}:{self.end}: expected START:END in finite seconds, e.g. 1.20:1.25"
            )

    @classmethod
    def parse(cls, text: str) -> Gap:
        """Parse ``"START:END"`` in seconds."""
        try:
            start, end = (float(part) for part in text.split(":"))
        except ValueError:
            raise DamageError(
                f"gap {text!r}: expected START:END in seconds, e.g. 1.20:1.25"
            ) from None
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:g}:{self.end:g}"


def gap_samples(gap: Gap, sample_rate: float) -> tuple[int, int]:
    """The span as a half-open sample range ``[first, stop)`` at ``sample_rate`` (seconds rounded
    to the nearest sample: every operator, check and metric rounds them so); a span that rounds
    to none (shorter than a sample) is the sample its middle lies in (it had been no sample: an
    inpaint that did nothing, unsaid)."""
    first, stop = round(gap.start * sample_rate), round(gap.end * sample_rate)
    if stop > first:
        return first, stop
    middle = math.floor((gap.start + gap.end) / 2 * sample_rate)
    return middle, middle + 1


def spans_to_gaps(spans: list[tuple[int, int]], sample_rate: int) -> tuple[Gap, ...]:
    """Sample spans ``[first, stop)`` as :class:`Gap` s in seconds (``gap_samples`` inverts it)."""
    return tuple(Gap(first / sample_rate, stop / sample_rate) for first, stop in spans)


@dataclass(frozen=True)
class Inpaint:
    """Fill one or more gaps. ``crossfade`` (s) re-estimates and blends that much at each edge
    of a gap filled from elsewhere (the dsp pattern fill, the diffusion backend's fill); the dsp
    AR fill of a short gap meets the samples beside it and changes the gap alone.

    ``gaps="auto"``: the dropouts the audio shows (:mod:`diffmusic_engine.diagnose.dropouts`)."""

    task: ClassVar[str] = "inpaint"
    gaps: tuple[Gap, ...] | Literal["auto"]
    crossfade: float = 0.002

    def __post_init__(self) -> None:
        if not 0 <= self.crossfade <= 0.005:
            raise DamageError(f"crossfade {self.crossfade:g} s: must be within 0..0.005 s")
        if isinstance(self.gaps, str) and self.gaps == "auto":
            return
        # "2.0:2.01" or (2.0, 2.01) as Gaps (a Python caller's, as the Restorer takes them)
        object.__setattr__(self, "gaps", _spans("gaps", self.gaps))
        if not self.gaps:
            raise DamageError("inpaint: at least one gap is needed (--gap START:END)")
        for gap in self.gaps:  # finite: a Gap is
            if gap.end <= gap.start:
                raise DamageError(f"gap {gap}: end must be after start")
            if gap.start < 0:
                raise DamageError(f"gap {gap}: starts before 0 s; give a START of 0 or later")
        ordered = sorted(self.gaps, key=lambda gap: (gap.start, gap.end))
        for before, after in itertools.pairwise(ordered):
            if after.start < before.end:  # one stretch given twice (filled once, as one)
                whole = f"{before.start:g}:{max(before.end, after.end):g}"
                raise DamageError(f"gaps {before} and {after} overlap: give them as one, {whole}")


@dataclass(frozen=True)
class SuperResolution:
    """Content above ``cutoff`` Hz is missing; ``"auto"`` detects the cutoff from the spectrum."""

    task: ClassVar[str] = "super-resolution"
    cutoff: float | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        if self.cutoff != "auto" and not (
            isinstance(self.cutoff, int | float) and math.isfinite(self.cutoff) and self.cutoff > 0
        ):
            raise DamageError(
                f"cutoff {self.cutoff!r}: expected a positive frequency in Hz or auto"
            )


@dataclass(frozen=True)
class PhaseRetrieval:
    """Only the STFT magnitude (``n_fft``, ``hop``, Hann window) of the input is trusted."""

    task: ClassVar[str] = "phase-retrieval"
    n_fft: int = 1024
    hop: int = 256

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise DamageError(f"n_fft {self.n_fft}: expected a power of two >= 16")
        if not 0 < self.hop <= self.n_fft // 2:
            raise DamageError(f"hop {self.hop}: expected 1..n_fft/2 ({self.n_fft // 2})")


SOURCES_RANGE = (2, 8)  # how many sources a separation may ask for (REAPER's settings check it)


@dataclass(frozen=True)
class Separate:
    """The input is ``sum_i weights[i] * source_i`` of ``sources`` sources (weights sum to 1)."""

    task: ClassVar[str] = "separate"
    sources: int = 2
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        low, high = SOURCES_RANGE
        if not low <= self.sources <= high:
            raise DamageError(f"sources {self.sources}: expected {low}..{high}")
        if not self.weights:
            object.__setattr__(self, "weights", (1.0 / self.sources,) * self.sources)
        if len(self.weights) != self.sources:
            raise DamageError(
                f"weights: {len(self.weights)} given for {self.sources} sources; give one per "
                "source (--weights), or none for equal weights"
            )
        if any(not math.isfinite(w) or w <= 0 for w in self.weights):
            raise DamageError(f"weights {list(self.weights)}: each must be > 0")
        if abs(sum(self.weights) - 1.0) > 1e-6:
            raise DamageError(f"weights {list(self.weights)}: must sum to 1")


@dataclass(frozen=True, eq=False)
class Dereverb:
    """Undo a room: convolution with a known impulse response ``rir``, or ``None`` (blind).

    ``rir`` is a file, or the samples themselves, ``(samples,)`` or ``(channels, samples)`` at
    ``rir_rate`` Hz (default: the audio's rate).
    """

    task: ClassVar[str] = "dereverb"
    rir: Path | np.ndarray | None = None
    rir_rate: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rir, str) and self.rir.lower() == "blind":  # as the CLI says it
            object.__setattr__(self, "rir", None)
        elif isinstance(self.rir, str | Path):
            object.__setattr__(self, "rir", Path(self.rir))
        elif self.rir is not None:
            samples = np.array(self.rir, dtype=np.float32)  # a copy nobody else can change
            if samples.ndim not in (1, 2) or samples.size == 0 or not np.isfinite(samples).all():
                raise DamageError(
                    "impulse response: expected finite samples shaped (samples,) or "
                    f"(channels, samples), got shape {samples.shape}"
                )
            samples.flags.writeable = False
            object.__setattr__(self, "rir", samples)
        if self.rir_rate is not None and not (
            isinstance(self.rir, np.ndarray)
            and isinstance(self.rir_rate, int)
            and self.rir_rate > 0
        ):
            raise DamageError(
                f"rir_rate {self.rir_rate!r}: a positive rate in Hz, only for an impulse response "
                "given as samples (a file has its own)"
            )

    @property
    def blind(self) -> bool:
        return self.rir is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dereverb):
            return NotImplemented
        if isinstance(self.rir, np.ndarray) and isinstance(other.rir, np.ndarray):
            return self.rir_rate == other.rir_rate and np.array_equal(self.rir, other.rir)
        return (
            not isinstance(self.rir, np.ndarray)
            and not isinstance(other.rir, np.ndarray)
            and (self.rir == other.rir)
        )

    def __hash__(self) -> int:
        if isinstance(self.rir, np.ndarray):
            return hash((self.task, self.rir.shape, self.rir_rate))
        return hash((self.task, self.rir))


CLICK_MODES = ("click", "crackle")
MAX_CLICK_S = 0.05  # a longer span is a dropout: inpaint fills it, a click repair leaves a hole


@dataclass(frozen=True)
class Declick:
    """Impulsive noise: clicks (``mode="click"``, 0.3-2 ms) or crackle (many sub-0.3 ms ones).

    ``clicks`` lists known spans (e.g. from ``diffmusic diagnose``); empty means detect them.
    ``rate`` (per second) and ``burst_db`` (the bursts' RMS relative to the audio's, dB) only
    shape what ``degrade`` injects; ``seed`` makes that repeatable. ``lossy``: the audio was
    decoded from a lossy codec (the input's, which ``restore(..., lossy=True)`` sets): the finds
    at the edges of a gate read through the codec's dips are left alone, as ``diagnose`` leaves
    them (:func:`diffmusic_engine.diagnose.clicks.off_edges`).
    """

    task: ClassVar[str] = "declick"
    degrade_only: ClassVar[tuple[str, ...]] = ("rate", "burst_db", "seed")  # no restore's
    # the input's, set by restore() alone: no field of a preset, a message or damage_to_dict
    from_input: ClassVar[tuple[str, ...]] = ("lossy",)
    mode: str = "click"
    clicks: tuple[Gap, ...] = ()
    rate: float = 4.0
    burst_db: float = 0.0
    seed: int = 0
    lossy: bool = False

    def __post_init__(self) -> None:
        if self.mode not in CLICK_MODES:
            raise DamageError(
                f"declick mode {self.mode!r}: expected one of {', '.join(CLICK_MODES)}"
            )
        object.__setattr__(self, "clicks", _spans("clicks", self.clicks))
        for gap in self.clicks:
            if not (math.isfinite(gap.start) and math.isfinite(gap.end)) or gap.start < 0:
                raise DamageError(f"click {gap}: expected finite times >= 0")
            if gap.end <= gap.start:
                raise DamageError(f"click {gap}: end must be after start")
            if gap.end - gap.start > MAX_CLICK_S + 1e-9:  # 1e-9: 1.05 - 1.0 in floating point
                raise DamageError(
                    f"click {gap}: {(gap.end - gap.start) * 1000:.0f} ms, longer than a click "
                    f"(at most {MAX_CLICK_S * 1000:.0f} ms); fill it as a dropout: --task "
                    f"inpaint --gap {gap.start:g}:{gap.end:g}"
                )
        if not (math.isfinite(self.rate) and 0 < self.rate <= 2000):
            raise DamageError(f"rate {self.rate:g}: expected 0 < clicks per second <= 2000")
        if not (math.isfinite(self.burst_db) and -60 <= self.burst_db <= 40):
            raise DamageError(f"burst_db {self.burst_db:g}: expected -60..40 dB")
        SEED.check("declick", "seed", self.seed)  # the rule every backend's seed follows
        if not isinstance(self.lossy, bool):
            raise DamageError(f"lossy {self.lossy!r}: expected true or false")


@dataclass(frozen=True)
class Declip:
    """Hard clipping ``y = clip(x, -level, level)``; ``"auto"`` finds ``level`` in the audio.

    ``sdr`` (dB) lets ``degrade`` choose the level that gives that input SDR instead.
    ``channel_levels`` (one per channel) is what ``"auto"`` resolves to where the channels
    were clipped at different levels (``level`` is then the highest); a given level is one.
    ``negative_levels`` (one per channel, with ``channel_levels``), where ``"auto"`` found a
    channel's sides clipped apart: its negative side's (``channel_levels`` its positive's).
    """

    task: ClassVar[str] = "declip"
    level: float | Literal["auto"] = "auto"
    sdr: float | None = None
    channel_levels: tuple[float, ...] | None = None
    negative_levels: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.negative_levels and len(self.negative_levels) != len(self.channel_levels or ()):
            raise DamageError("negative_levels: found by --level auto with channel_levels, one "
                              "a channel; give both, or leave them out")  # fmt: skip
        found = (*(self.channel_levels or ()), *(self.negative_levels or ()))
        for level in (self.level, *found):
            if level != "auto" and not (
                isinstance(level, int | float) and math.isfinite(level) and level > 0
            ):
                raise DamageError(f"level {level!r}: expected a positive amplitude or auto")
        if self.channel_levels and "auto" in (self.level, *found):
            raise DamageError(
                "channel_levels: amplitudes found by --level auto; give level as the highest of "
                "them, or leave channel_levels out (auto finds them again)"
            )
        if self.channel_levels and self.level != max(found):
            given = f"levels found {list(found)}: level {self.level:g}"
            raise DamageError(f"{given} must be the highest; give it, or leave them out")
        if self.sdr is not None and not (math.isfinite(self.sdr) and 0 < self.sdr <= 60):
            raise DamageError(f"sdr {self.sdr:g}: expected 0 < dB <= 60")

    @property
    def levels(self) -> Levels:
        """The level to declip at: one per channel where ``channel_levels`` holds them, one
        per side of each where ``negative_levels`` does too."""
        return levels_to_declip(self.level, self.channel_levels, self.negative_levels)


Damage = Inpaint | SuperResolution | PhaseRetrieval | Separate | Dereverb | Declick | Declip
DAMAGE_TYPES: dict[str, type[Damage]] = {cls.task: cls for cls in get_args(Damage)}
TASKS = tuple(DAMAGE_TYPES)
# The tasks whose restoration gives a recording's dropouts and pauses back as they were (both
# backends, and the batch across its chunks' seams: diffmusic_engine.silence), to be filled by
# inpaint. Declick and declip change only what they repair; inpaint fills dropouts.
KEEPS_SILENCE: tuple[type[Damage], ...] = (Dereverb, SuperResolution)
# The task each field belongs to (no field is shared by two): flags given without ``--task``
# name it (``--gap`` alone means inpaint).
TASK_OF_FIELD = {f.name: cls.task for cls in DAMAGE_TYPES.values() for f in fields(cls)}


# The CLI flag that gives each field a task cannot do without (named in the error when missing).
REQUIRED_FLAGS = {
    "gaps": "--gap START:END|auto",
    "cutoff": "--cutoff HZ|auto",
    "sources": "--sources N",
}


def damage_type(task: Any) -> type[Damage]:
    """The description class of ``task``; else :class:`DamageError` naming the tasks (a list, as
    a chain's ``restore = ["dereverb"]``, had raised TypeError: unhashable, a traceback)."""
    check_one_of("task", task, TASKS)
    return DAMAGE_TYPES[task]


def field_names_checked(data: Mapping[str, Any]) -> type[Damage]:
    """The description class of ``data``'s task, its other keys checked (:func:`names_checked`);
    a :class:`DamageError` names the first problem. A preset's are checked when it is read
    (:func:`~diffmusic_engine.preset_files.load_preset`)."""
    cls = damage_type(data.get("task"))
    names_checked(data, [cls])
    return cls


def names_checked(data: Mapping[str, Any], classes: Iterable[type[Damage]]) -> None:
    """``data``'s keys but its task checked to be fields of ``classes`` (a preset without a task:
    every task's), none the input's own; an unknown one said by :func:`options.field_said`."""
    task, classes = data.get("task"), list(classes)
    where = f"{task}: " if task is not None else ""
    if told := [name for cls in classes for name in getattr(cls, "from_input", ()) if name in data]:
        raise DamageError(
            f"{where}{told[0]} is the input's, not a field to give; say it with --lossy "
            '(restore, submit) or the request\'s "lossy": true'
        )
    known = {f.name for cls in classes for f in fields(cls)}
    if unknown := set(data) - known - {"task"}:  # a preset's or a message's typo: its nearest
        said = functools.partial(field_said, task=task, known=known)
        raise DamageError(f"{where}{unknown_names('field', unknown, sorted(known), said)}")


def damage_from_dict(data: Mapping[str, Any]) -> Damage:
    """Build a description from ``{"task": ..., field: value, ...}`` (a preset or a message)."""
    cls = field_names_checked(data)
    data = dict(data)
    task = data.pop("task")
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        flags = ", ".join(REQUIRED_FLAGS.get(name, name) for name in missing)
        raise DamageError(f"{task} needs {flags} (or the field {missing[0]!r} in a preset)")
    try:
        if "weights" in data:
            data["weights"] = tuple(_real("weights", w) for w in data["weights"])
        rir = data.pop("rir", None)
        if isinstance(rir, str | Path) and rir != "blind":
            data["rir"] = Path(rir)
        elif rir is not None and not isinstance(rir, str):  # samples: a list (JSON) or an array
            data["rir"] = np.asarray(rir, dtype=np.float32)
        if data.get("rir_rate") is not None:
            data["rir_rate"] = _integer("rir_rate", data["rir_rate"])
        for name in ("n_fft", "hop", "sources", "seed"):
            if name in data:
                data[name] = _integer(name, data[name])
        for name in ("channel_levels", "negative_levels"):
            if data.get(name) is not None:
                data[name] = _channel_levels(name, data[name])
        for name in ("crossfade", "rate", "burst_db", "cutoff", "level", "sdr"):
            if data.get(name) not in (None, "auto"):  # cutoff and level may be "auto"
                data[name] = _real(name, data[name])
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise DamageError(f"{task}: {exc}") from None


def _channel_levels(name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise DamageError(f"{name} {value!r}: expected a list of amplitudes, one a channel")
    return tuple(_real(name, v) for v in value)


def _spans(name: str, value: Any) -> tuple[Gap, ...]:
    """``gaps`` or ``clicks``: a list of spans, or one span's ``"START:END"`` (the CLI's form,
    in a preset: it had been read one character at a time)."""
    if isinstance(value, str):
        return (Gap.parse(value),)
    if not isinstance(value, list | tuple | np.ndarray):
        raise DamageError(f"{name} {reprlib.repr(value)}: expected a list of [start, end] in "
                          'seconds, or "START:END"')  # fmt: skip
    return tuple(_gap(span) for span in value)


def _gap(value: Any) -> Gap:
    """One span: a Gap, ``"START:END"``, ``{"start", "end"}`` or ``[start, end]`` in seconds;
    anything else is one line naming it (a Python message had been, "not enough values to
    unpack"), and a boolean is no number."""
    if isinstance(value, Gap):
        return value
    if isinstance(value, str):
        return Gap.parse(value)
    if isinstance(value, Mapping):
        if set(value) != {"start", "end"}:
            raise DamageError(f"span {dict(value)}: expected start and end (seconds)")
        pair: Any = (value["start"], value["end"])
    elif isinstance(value, list | tuple | np.ndarray) and len(value) == 2:
        pair = value
    else:
        raise DamageError(f"span {reprlib.repr(value)}: expected [start, end] in seconds")
    start, end = (_real("span", v) for v in pair)
    return Gap(start, end)


def _real(name: str, value: Any) -> float:
    """A number field: a number, or its text (the CLI's --cutoff 8000); not a boolean."""
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise DamageError(f"{name} {value!r}: expected a number") from None


def _integer(name: str, value: Any) -> int:
    number = _real(name, value)
    if not number.is_integer():
        raise DamageError(f"{name} {value!r}: expected a whole number")
    return int(number)


def damage_to_dict(damage: Damage) -> dict[str, Any]:
    """The JSON-ready form of ``damage``; :func:`damage_from_dict` reads it back."""
    data: dict[str, Any] = {"task": damage.task, **asdict(damage)}
    for name in getattr(damage, "from_input", ()):  # the input's (restore() sets it): no field
        data.pop(name)
    if isinstance(damage, Inpaint) and damage.gaps != "auto":
        data["gaps"] = [[g.start, g.end] for g in damage.gaps]
    if isinstance(damage, Declick):
        data["clicks"] = [[g.start, g.end] for g in damage.clicks]
    if isinstance(damage, Declip):  # TOML has no null
        data = {key: value for key, value in data.items() if value is not None}
    if isinstance(damage, Separate):
        data["weights"] = list(damage.weights)
    if isinstance(damage, Dereverb):
        if isinstance(damage.rir, np.ndarray):
            data["rir"] = damage.rir.tolist()
        else:
            data["rir"] = "blind" if damage.rir is None else str(damage.rir)
            data.pop("rir_rate")
    return data
