"""Pieces every subcommand shares: damage flags, output modes, progress bars, error exits."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge.notes import notes_of
from diffmusic_engine.backends import BACKENDS, UNCHANGED, Restoration
from diffmusic_engine.containers import BIT_DEPTHS, no_bit_depth
from diffmusic_engine.damage import (
    CLICK_MODES,
    TASK_OF_FIELD,
    TASKS,
    Damage,
    Gap,
    damage_from_dict,
)
from diffmusic_engine.diffusion.options import (
    DEFAULT_INIT_STRENGTH,
    DEFAULT_ROOM_STEPS,
    GUIDANCE_DTYPES,
    INITS,
    SAMPLERS,
    STEREO_MODES,
)
from diffmusic_engine.diffusion.options import OPTIONS as DIFFUSION_OPTIONS
from diffmusic_engine.errors import DamageError, InputError
from diffmusic_engine.options import task_of_option
from diffmusic_engine.preset_files import load_preset, with_fields
from diffmusic_engine.progress import Progress, ProgressCallback


def refuse_overwriting(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Raise :class:`InputError` if any file a command would write is one of its inputs
    (links and ``..`` resolved): every command checks this before any work."""
    sources = {resolved(source): Path(source) for source in inputs}
    for output in outputs:
        source = sources.get(resolved(output))
        if source is not None:
            raise InputError(
                f"{output}: output would overwrite the input {source}; choose another name"
            )


def resolved(path: Path) -> Path:
    """``path`` with links and ``..`` resolved, to tell whether two names are one file."""
    try:
        return Path(path).resolve()
    except OSError:  # a name too long, a loop of links: not an input; the write check names it
        return Path(path).absolute()


MAX_WAIT_SECONDS = 86400.0  # a client's --timeout: ZeroMQ's poll overflows at about 2.1e6 s


def whole_number(low: int, high: int | None = None) -> Any:
    """An argparse ``type``: a whole number in ``low..high`` (usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text}: expected a whole number {span}")
        return value

    return parse


def positive_number(low: float, high: float = math.inf, *, above: bool = True) -> Any:
    """An argparse ``type``: a finite number (seconds, MB, GB) over ``low`` (at least it
    without ``above``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if above else value >= low)
                and value <= high):  # fmt: skip
            bound = f"more than {low:g}" if above else f"at least {low:g}"
            most = f" and at most {high:g}" if math.isfinite(high) else ""
            raise argparse.ArgumentTypeError(f"{text}: expected {bound}{most}")
        return value

    return parse


def add_output_arguments(
    parser: argparse.ArgumentParser, json_lines: str = "progress, result"
) -> None:
    """``--quiet`` (no progress bar) and ``--json`` (machine-readable lines on stdout: the
    command's ``json_lines``)."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--json", action="store_true", help=f"print JSON lines ({json_lines}) on stdout"
    )


def add_bit_depth_argument(parser: argparse.ArgumentParser) -> None:
    """``--bit-depth``: the outputs' sample format (:func:`written_dtype`)."""
    parser.add_argument(
        "--bit-depth", choices=tuple(BIT_DEPTHS), metavar="|".join(BIT_DEPTHS),
        help="the outputs' samples: 16- or 24-bit integers or 32-bit float (FLAC: 24-bit); "
        "default: the input's",
    )  # fmt: skip


def written_dtype(args: argparse.Namespace, source_dtype: str) -> str:
    """The sample format an output is written like: ``--bit-depth``'s, or the input's."""
    depth = getattr(args, "bit_depth", None)
    return BIT_DEPTHS[depth] if depth else source_dtype


def check_bit_depth(args: argparse.Namespace, outputs: Iterable[Path]) -> None:
    """Raise :class:`InputError` if ``--bit-depth`` was asked for an output whose format has
    none (:func:`~diffmusic_engine.containers.no_bit_depth`: an MP3 had been written at its
    codec's own, the 24 bits asked dropped unsaid). Before any work, with the other checks. A
    file in the folder ``-o`` names (separated sources) takes the input's format, not one the
    user chose: its remedy is another input ("write a .flac" had named no way to)."""
    depth = getattr(args, "bit_depth", None)
    for output in outputs if depth else ():
        if why := no_bit_depth(output.suffix):
            dtype = BIT_DEPTHS[depth]
            float_samples = dtype.startswith("float")  # FLAC holds none: a .wav only
            bits = dtype.removeprefix("float").removeprefix("int")
            samples = f"{bits}-bit float" if float_samples else f"{bits}-bit"
            formats = ".wav" if float_samples else ".flac or .wav"
            remedy = f"write a {formats}"
            if output.parent == Path(args.output):
                remedy = (
                    f"convert the input to a {formats} (the files in {args.output} take its format)"
                )
            raise InputError(
                f"{output}: --bit-depth {depth}, but {why}; drop --bit-depth, or {remedy} to "
                f"have {samples} samples"
            )


def add_lossy_argument(parser: argparse.ArgumentParser) -> None:
    """``--lossy``: the file was decoded from a lossy codec although its format does not say so
    (an MP3 exported as WAV by a DAW); :func:`lossy_input` ORs it with the file's own format."""
    parser.add_argument(
        "--lossy", action="store_true",
        help="the audio was decoded from a lossy codec (an MP3 exported as WAV): also find the "
        "short dropouts the codec filled, and fill a gap over one channel's dip on that channel "
        "alone (the file's own format counts without it)",
    )  # fmt: skip


def lossy_input(args: argparse.Namespace, file_lossy: bool) -> bool:
    """Whether the dropout rule for lossy coded input reads a file: its format's
    ``file_lossy`` (``AudioInfo.lossy``) or ``--lossy``."""
    return file_lossy or bool(getattr(args, "lossy", False))


def add_damage_arguments(parser: argparse.ArgumentParser, *, degrade: bool = False) -> None:
    """The task and its flags; each overrides the same field of ``--preset``. ``degrade``: also
    the flags that only say how to make damage (``--rate``, ``--burst-db``, ``--sdr``), which
    restore and submit refuse as unknown rather than ignore."""
    group = parser.add_argument_group("damage")
    group.add_argument(
        "--task", choices=TASKS,
        help="what damage to undo (or from --preset, or the flags given: --gap alone is inpaint, "
        "--sensitivity alone declick)",
    )  # fmt: skip
    group.add_argument("--preset", metavar="NAME|FILE", help="a preset from presets/ or a file")
    group.add_argument(
        "--gap",
        action="append",
        metavar="START:END|auto",
        help="inpaint: gap in seconds (repeatable), or auto: the dropouts diagnose finds",
    )
    group.add_argument("--crossfade", type=float, metavar="S", help="inpaint: edge blend (s)")
    group.add_argument("--cutoff", metavar="HZ|auto", help="super-resolution: missing band start")
    group.add_argument("--n-fft", type=int, metavar="N", help="phase-retrieval: STFT size")
    group.add_argument("--hop", type=int, metavar="H", help="phase-retrieval: STFT hop")
    group.add_argument("--sources", type=int, metavar="N", help="separate: number of sources")
    group.add_argument("--weights", metavar="W1,W2,...", help="separate: mixing weights (sum 1)")
    group.add_argument("--rir", metavar="FILE|blind", help="dereverb: impulse response or blind")
    group.add_argument("--mode", choices=CLICK_MODES, help="declick: clicks or crackle")
    group.add_argument(
        "--click", action="append", metavar="START:END",
        help="declick: a known click in seconds (repeatable; default: detect them)",
    )  # fmt: skip
    group.add_argument("--level", metavar="AMP|auto", help="declip: clipping level (full scale)")
    if degrade:
        group.add_argument("--rate", type=float, metavar="N", help="declick: clicks per s")
        group.add_argument(
            "--burst-db", type=float, metavar="DB", help="declick: burst RMS re the audio's"
        )
        group.add_argument("--sdr", type=float, metavar="DB", help="declip: clip to this SDR")


def damage_from_args(args: argparse.Namespace) -> tuple[Damage, dict[str, Any]]:
    """The damage description and backend options from ``--preset`` plus task flags."""
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if args.preset:
        preset = load_preset(args.preset)
        fields.update(preset.damage)
        options.update(preset.options)
    if args.task:
        if fields.get("task") not in (None, args.task):
            # a preset for another task contributes nothing, its options neither (REAPER sends
            # its preset setting with every action's --task)
            fields, options = {}, {}
        fields["task"] = args.task
    flags = _task_flags(args)
    if "task" not in fields:  # a preset's options name a task as option flags do
        fields["task"] = _task_of_flags(flags, {**options, **option_flags(args)}, args.preset)
    given = {k: v for k, v in flags.items() if v is not None}
    if foreign := [name for name in given if TASK_OF_FIELD[name] != fields["task"]]:
        raise DamageError(_foreign_flags(foreign, fields["task"]))
    return damage_from_dict(with_fields(fields, given)), options


def _foreign_flags(foreign: list[str], task: str) -> str:
    """The error for damage fields ``foreign`` given to ``task``, said as the flags typed (the
    damage's own check names fields: "declip: unknown field(s) gaps")."""
    owners = {TASK_OF_FIELD[name] for name in foreign}
    if len(owners) > 1:
        named = ", ".join(f"{_flag(name)} ({TASK_OF_FIELD[name]})" for name in foreign)
        return f"{named}: not {task}'s; drop them, or give the task they belong to"
    owner, them = owners.pop(), "it" if len(foreign) == 1 else "them"
    flags = ", ".join(map(_flag, foreign))
    return f"{flags}: {owner}'s, not {task}'s; drop {them}, or give --task {owner}"


def _flag(field: str) -> str:
    """The CLI flag of a damage field (:func:`_task_flags`: ``gaps`` is ``--gap``)."""
    return "--" + {"gaps": "gap", "clicks": "click"}.get(field, field).replace("_", "-")


def _task_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The task flags as damage fields (``None``: not given)."""
    return {
        "gaps": _gaps(args.gap) if args.gap else None,
        "crossfade": args.crossfade,
        "cutoff": args.cutoff,
        "n_fft": args.n_fft,
        "hop": args.hop,
        "sources": args.sources,
        "weights": _weights(args.weights) if args.weights else None,
        "rir": args.rir,
        "mode": getattr(args, "mode", None),
        "clicks": _spans(args.click) if getattr(args, "click", None) else None,
        "rate": getattr(args, "rate", None),
        "burst_db": getattr(args, "burst_db", None),
        "level": getattr(args, "level", None),
        "sdr": getattr(args, "sdr", None),
    }


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and the diffusion backend's options."""
    group = parser.add_argument_group("backend")
    group.add_argument("--backend", choices=tuple(BACKENDS), help="default: dsp (or the preset's)")
    group.add_argument("--model", metavar="ID_OR_PATH", help="diffusion: hub id or local folder")
    group.add_argument("--sampler", choices=SAMPLERS, help="diffusion: sampler")
    group.add_argument(
        "--no-vmc", dest="vmc", action="store_false", default=None,
        help="diffusion: guide on the decoder output, not the vocoder mel",
    )  # fmt: skip
    group.add_argument("--steps", type=int, metavar="N", help="diffusion: DDIM steps")
    group.add_argument("--gamma", type=float, metavar="G", help="diffusion: guidance step size")
    group.add_argument(
        "--eta", type=float, metavar="0..1",
        help="diffusion: DDIM noise (default: the sampler's own, irs 0, dps and dsg 1)",
    )  # fmt: skip
    group.add_argument(
        "--stereo", choices=STEREO_MODES,
        help=f"diffusion: solve a stereo track as (default {DIFFUSION_OPTIONS['stereo'].default})",
    )  # fmt: skip
    group.add_argument(
        "--batch-size", type=int, metavar="N",
        help="diffusion: windows per model call "
        f"(default {DIFFUSION_OPTIONS['batch_size'].default})",
    )  # fmt: skip
    group.add_argument(
        "--room-steps", type=int, metavar="K",
        help="diffusion blind dereverb: optimiser steps on the room per diffusion step "
        f"(default {DEFAULT_ROOM_STEPS})",
    )  # fmt: skip
    group.add_argument("--seed", type=int, metavar="S", help="random seed")
    group.add_argument(
        "--sensitivity", type=float, metavar="0..1", help="dsp declick: 1 finds fainter clicks"
    )
    group.add_argument("--prompt", metavar="TEXT", help="diffusion: optional text prompt")
    group.add_argument("--device", metavar="cpu|cuda[:N]|mps", help="diffusion: device")
    group.add_argument(
        "--guidance-dtype", choices=GUIDANCE_DTYPES,
        help="diffusion: precision of the decoder and vocoder while they carry the guidance "
        f"gradient (default {DIFFUSION_OPTIONS['guidance_dtype'].default}; bfloat16 about halves "
        "their cost, see README)",
    )  # fmt: skip
    group.add_argument(
        "--init", choices=INITS,
        help=f"diffusion inpaint: start from {DIFFUSION_OPTIONS['init'].default} (default) or from "
        "the dsp pattern fill "
        "(SDEdit)",
    )  # fmt: skip
    group.add_argument(
        "--init-strength", type=float, metavar="0..1",
        help="diffusion --init pattern: fraction of the steps run from the fill "
        f"(default {DEFAULT_INIT_STRENGTH:g})",
    )  # fmt: skip


# The backend options the flags above give (restore's, submit's and bench-quality's), by name.
FLAG_OPTIONS = (
    "model", "sampler", "vmc", "steps", "gamma", "eta", "stereo", "batch_size", "room_steps",
    "seed", "prompt", "device", "guidance_dtype", "sensitivity", "init", "init_strength",
)  # fmt: skip

# Where an option error says a flag's unknown option came from, beside a preset's
# (options.check_options' given_from).
ON_THE_COMMAND_LINE = "on the command line"


def option_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The backend option flags given, by option name (a command without them: none)."""
    given = {name: getattr(args, name, None) for name in FLAG_OPTIONS}
    return {name: value for name, value in given.items() if value is not None}


def _task_of_flags(flags: dict[str, Any], options: dict[str, Any], preset: str | None) -> str:
    """The one task the flags given belong to, for a command given neither ``--task`` nor a
    ``--preset`` that names one: a damage field's (``--gap`` alone: inpaint), or a backend
    option's (flag or the preset's) that one task alone takes (``--sensitivity`` alone: declick;
    :func:`task_of_option`)."""
    named = {TASK_OF_FIELD[name] for name, value in flags.items() if value is not None}
    if not named:  # only then: the option tables import every dsp task module
        named = {task for name in options if (task := task_of_option(name))}
    tasks = sorted(named)
    if len(tasks) == 1:
        return tasks[0]
    if not tasks and preset:
        raise DamageError(f"no task: the preset {preset} names none; give --task, or set "
                          "task = \"...\" in the preset")  # fmt: skip
    if not tasks:
        raise DamageError("no task: give --task or --preset")
    raise DamageError(f"no task, and the flags given belong to {' and '.join(tasks)}: give --task")


def _spans(texts: list[str]) -> list[list[float]]:
    """``START:END`` texts as ``[start, end]`` pairs, every digit kept (gaps past 100 s)."""
    return [[gap.start, gap.end] for gap in map(Gap.parse, texts)]


def _gaps(texts: list[str]) -> list[list[float]] | str:
    """``--gap`` values: gaps ``START:END``, or ``auto`` alone (the dropouts the audio shows)."""
    if "auto" not in texts:
        return _spans(texts)
    if len(texts) > 1:
        raise DamageError("--gap auto finds the dropouts itself: give it alone, or only START:END")
    return "auto"


def _weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise DamageError(f"weights {text!r}: expected numbers separated by commas") from None


def emit(args: argparse.Namespace, event: str, **content: Any) -> None:
    """One JSON line on stdout when ``--json`` is on (the documented, stable CLI output)."""
    if getattr(args, "json", False):
        print(json.dumps({"event": event, **content}), flush=True)


# Percent, elapsed and remaining time: a fraction has no unit to count per second.
BAR_FORMAT = "{l_bar}{bar}| [{elapsed}<{remaining}{postfix}]"


@contextmanager
def progress_reporter(args: argparse.Namespace, description: str) -> Iterator[ProgressCallback]:
    """A progress callback: a tqdm bar (shown after 1 s) on a terminal unless ``--quiet`` /
    ``--json`` (tqdm's rule: stderr redirected to a log takes no carriage returns)."""
    bar = None
    quiet = getattr(args, "quiet", False) or getattr(args, "json", False)
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=1000, desc=description, delay=1.0, bar_format=BAR_FORMAT, leave=False,
                   disable=None)  # fmt: skip

    said: list[Progress] = []  # the last report sent: the same again is not a new line

    def callback(progress: Progress) -> None:
        if bar is not None:
            bar.set_postfix_str(progress.stage, refresh=False)
            bar.update(int(progress.fraction * 1000) - bar.n)
        if said[-1:] != [progress]:  # a declip had printed 181 of its 319 lines twice
            said[:] = [progress]
            emit(args, "progress", fraction=round(progress.fraction, 4), step=progress.step,
                 total=progress.total, stage=progress.stage)  # fmt: skip

    try:
        yield callback
    finally:
        if bar is not None:
            bar.close()


def tell_outcome(args: argparse.Namespace, restoration: Restoration, outputs: list[str]) -> None:
    """:func:`tell_details` of a restoration written to ``outputs`` (the first one named)."""
    tell_details(args, restoration.details, outputs[0])


def told_in_json(details: dict[str, Any]) -> dict[str, Any]:
    """What a ``--json`` done line adds of a restoration's ``details``, each key only when it
    has something to say: ``unchanged`` (why the output is the input) and ``notes``
    (:func:`notes_of`, without the unchanged one)."""
    told: dict[str, Any] = {"unchanged": details[UNCHANGED]} if details.get(UNCHANGED) else {}
    if notes := notes_of(details):
        told["notes"] = notes
    return told


def tell_details(args: argparse.Namespace, details: dict[str, Any], result: str) -> None:
    """On stderr, what a restoration decided that the user did not give (:func:`notes_of`): why
    ``result`` is the input unchanged (``Restoration.unchanged``), so that it is never silent,
    which dropouts ``--gap auto`` found and filled or left alone as pauses, and which given gaps
    were extended, kept some channels or replaced music; a line each, ``note: ...`` or
    ``warning: ...``. With ``--json`` the result's own line carries them instead."""
    if getattr(args, "json", False):
        return
    for note in notes_of(details, result):
        print(f"{note['level']}: {note['text']}", file=sys.stderr)


def fail(message: str, args: argparse.Namespace | None = None, code: int = 1) -> int:
    """Print ``error: message`` on stderr (and a JSON error line if asked); return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    if args is not None:
        emit(args, "error", message=message)
    return code
