"""``diffmusic restore IN -o OUT --task TASK ...``: restore a file in-process or via the daemon."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.cli.common import (
    ON_THE_COMMAND_LINE,
    add_backend_arguments,
    add_bit_depth_argument,
    add_damage_arguments,
    add_lossy_argument,
    add_output_arguments,
    check_bit_depth,
    damage_from_args,
    emit,
    lossy_input,
    option_flags,
    progress_reporter,
    refuse_overwriting,
    tell_outcome,
    told_in_json,
    written_dtype,
)
from bridge.cli.picture import check_picture_path, write_picture
from diffmusic_engine.audio import (
    AudioReader,
    bit_depth_for,
    check_headroom,
    check_writable,
    float_remedy,
    over_full_scale,
    read_audio,
    write_tracks,
)
from diffmusic_engine.containers import is_lossy
from diffmusic_engine.damage import Damage
from diffmusic_engine.diffusion.options import with_model_keys
from diffmusic_engine.errors import DamageError, OutputError
from diffmusic_engine.metadata import carried_note, read_tags
from diffmusic_engine.options import resolve_backend, resolve_options

if TYPE_CHECKING:
    from diffmusic_engine.api import Restoration
from diffmusic_engine.backends import OUTPUT_GAIN_DB


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("restore", help="restore a damaged file")
    parser.add_argument("input", type=Path, metavar="IN")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT",
        help="output file (a folder for --task separate: one file per source)",
    )  # fmt: skip
    add_damage_arguments(parser)
    add_lossy_argument(parser)
    add_backend_arguments(parser)
    parser.add_argument(
        "--connect", action="store_true", help="run through the daemon instead of in-process"
    )
    parser.add_argument(
        "--connection-file", type=Path, metavar="PATH", help="daemon connection file"
    )
    parser.add_argument(
        "--spectrogram", type=Path, metavar="PNG",
        help="also draw the input and the result (log-frequency spectrograms, zoomed on the "
        "gaps or clicks restored and the pauses left alone, each marked) to this PNG",
    )  # fmt: skip
    add_bit_depth_argument(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def backend_from_args(args: argparse.Namespace, preset_options: dict[str, Any]) -> tuple[str, dict]:
    """The backend and its options: the preset's, then the given flags (``resolve_options``)."""
    backend = resolve_backend(args.backend, preset_options)
    options = resolve_options(backend, preset_options, option_flags(args))
    return backend, with_model_keys(options)  # a local folder named from here


def _is_folder(path: Path) -> bool:
    """``path.is_dir()``, false for a name the system refuses (the write check names it)."""
    try:
        return path.is_dir()
    except OSError:  # a name too long
        return False


def removed_path(output: Path) -> Path:
    """Where declick writes what it removed, beside ``output`` (a file name)."""
    return output.with_name(f"{output.stem}_removed{output.suffix}")


def output_paths(output: Path, input_path: Path, n_tracks: int, task: str = "") -> list[Path]:
    """Where each track goes: ``OUT`` itself; for declick also ``<OUT stem>_removed<suffix>``
    (what was removed, to audition); ``OUT/<stem>_source<i><suffix>`` for sources."""
    if n_tracks == 1 or task == "declick":
        if _is_folder(output) or output.name in ("", ".", ".."):  # with_name raised on "-o ."
            example = output / f"{input_path.stem}_restored{input_path.suffix or '.wav'}"
            raise OutputError(f"{output} is a folder; give a file name to write, e.g. {example}")
    if n_tracks == 1:
        return [output]
    if task == "declick":
        return [output, removed_path(output)]
    suffix = input_path.suffix or ".wav"
    return [output / f"{input_path.stem}_source{i + 1}{suffix}" for i in range(n_tracks)]


def write_restoration(
    restoration: Restoration, paths: list[Path], file_dtype: str, source: Path | None = None
) -> list[Path]:
    """Write every track (all or none) at the source's rate and sample format (``file_dtype``,
    the source file's) with the ``source`` file's text tags; a track over full scale in integer
    samples is written clipped (refusing it would lose the work) and said, but declip's, which
    clipped again would be its input, is written lower (:func:`_lowered`). A lossy output, and
    what of the source is not written (:func:`_said_of_format`), are said. Every command that
    writes a restoration writes it here."""
    tracks = list(restoration.tracks)
    for index, (path, track) in enumerate(zip(paths, tracks, strict=True)):
        clipped = over_full_scale(path, track, file_dtype)
        if clipped and restoration.details.get("task") == "declip":
            tracks[index] = _lowered(track, restoration.details)
        elif clipped:
            peak_db = 20 * np.log10(np.max(np.abs(track)))
            print(f"warning: {path}: {clipped}; lower the input {peak_db:.1f} dB first, or "
                  f"{float_remedy(path)}", file=sys.stderr)  # fmt: skip
    _said_of_format(paths, file_dtype, source)
    tags = read_tags(source) if source is not None else {}  # none from a file not here
    return write_tracks(paths, tracks, restoration.sample_rate, source_dtype=file_dtype, tags=tags)


def _said_of_format(paths: list[Path], file_dtype: str, source: Path | None) -> None:
    """Warn of a lossy output (every sample re-encoded, what was not repaired too: an
    "unchanged" MP3 had differed in 881,998 of 882,000 samples), and note 64-bit float written
    as 32-bit and the WAV chunks an output does not carry (a BWF's time reference)."""
    for path in paths:
        if is_lossy(path.suffix):
            print(f"warning: {path}: {path.suffix} is re-encoded lossily, every sample with it, "
                  "not only what was repaired; write a .flac or .wav to keep the rest as it "
                  "was", file=sys.stderr)  # fmt: skip
        if file_dtype == "float64" and bit_depth_for(path, file_dtype) == 32:
            print(f"note: {path}: the input's 64-bit float samples are written as 32-bit float "
                  "(the engine's precision)", file=sys.stderr)  # fmt: skip
        if said := carried_note(source, path):
            print(f"note: {said}", file=sys.stderr)


def _lowered(track: np.ndarray, details: dict[str, Any]) -> np.ndarray:
    """A declipped ``track`` over the full scale of the integer samples it is written in,
    lowered by its peak so that the rebuilt peaks are kept; the gain goes in ``details``
    (:data:`OUTPUT_GAIN_DB`), which the notes tell the user (:func:`bridge.notes.notes_of`)."""
    peak_db = float(20 * np.log10(np.max(np.abs(track))))
    details[OUTPUT_GAIN_DB] = round(-peak_db, 2)
    return np.clip(track * np.float32(10 ** (-peak_db / 20)), -1.0, 1.0)


def check_output(args: argparse.Namespace, damage: Damage) -> None:
    """Refuse, before any work, an output that would overwrite the input, a file where a folder
    is needed, or a file in a format that cannot be written or cannot hold the input's rate and
    channels (an output has the input's)."""
    separate = damage.task == "separate"
    # declick also writes what it removed (OUT_removed): checked like OUT
    tracks = damage.sources if separate else 2 if damage.task == "declick" else 1
    paths = output_paths(args.output, args.input, tracks, damage.task)
    picture = getattr(args, "spectrogram", None)  # restore's; submit -o and fetch have none
    if picture:
        check_picture_path(picture)
    refuse_overwriting([args.output, *paths, *([picture] if picture else [])], [args.input])
    if separate and args.output.exists() and not args.output.is_dir():
        raise DamageError(
            f"{args.output}: separate writes a folder (one file per source), but this is a file; "
            "give a folder, or a name not yet taken (created as one)"
        )
    with AudioReader(args.input) as reader:
        info = reader.info
    check_bit_depth(args, paths)
    for path in paths:
        check_writable(path, info.sample_rate, info.channels, written_dtype(args, info.file_dtype))


def run(args: argparse.Namespace) -> int:
    damage, preset_options = damage_from_args(args)
    backend, options = backend_from_args(args, preset_options)
    if not args.connect or preset_options:  # else the daemon's submit check does (the same)
        from diffmusic_engine.options import check_options

        check_options(backend, damage, options, args.preset, preset_options, ON_THE_COMMAND_LINE)
    check_output(args, damage)
    audio, info = read_audio(args.input)
    dtype = written_dtype(args, info.file_dtype)  # the outputs' (--bit-depth, or the input's)
    check_headroom(args.output, audio, dtype)  # an input over full scale: before work
    lossy = lossy_input(args, info.lossy)  # --gap auto: the codec's dips too
    with progress_reporter(args, f"restore {damage.task}") as callback:
        if args.connect:
            from bridge.client import restore_via_daemon

            restoration = restore_via_daemon(
                audio, info.sample_rate, damage, backend=backend, options=options,
                callback=callback, connection_file=args.connection_file, lossy=lossy,
            )  # fmt: skip
        else:
            from diffmusic_engine.api import restore

            restoration = restore(
                audio, info.sample_rate, damage, backend=backend, options=options,
                callback=callback, lossy=lossy,
            )  # fmt: skip
    paths = output_paths(args.output, args.input, len(restoration.tracks), damage.task)
    outputs = [str(p) for p in write_restoration(restoration, paths, dtype, args.input)]
    told = told_in_json(restoration.details)
    if args.spectrogram:  # beside the outputs, which clients read as the audio written
        told["spectrogram"] = str(
            write_picture(args.spectrogram, audio, restoration, damage, args.input)
        )
    emit(args, "done", outputs=outputs, details=restoration.details, **told)  # as submit's
    tell_outcome(args, restoration, outputs)
    return 0
