"""``diffmusic diagnose FILE [--json]``: what damage a recording shows (reverb, band limit,
dropouts). A readable table by default; ``--json``: one object, docs/protocol.md's contract."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bridge.cli.common import (
    add_lossy_argument,
    add_output_arguments,
    lossy_input,
    progress_reporter,
    refuse_overwriting,
    resolved,
)
from bridge.cli.picture import check_picture_path, write_findings_picture
from bridge.notes import (
    LOSSY_DIP,
    gates_line,
    levels_text,
    pauses_line,
    spans_text,
)
from diffmusic_engine.atomic import check_target
from diffmusic_engine.audio import read_audio
from diffmusic_engine.backends import CHANNEL_LEVELS, NEGATIVE_LEVELS
from diffmusic_engine.diagnose import DETECTORS, cut_ends, dead_channels
from diffmusic_engine.diagnose.spans import seconds_text
from diffmusic_engine.errors import Cancelled, DamageError, OutputError
from diffmusic_engine.progress import Progress, ProgressCallback

NAME_WIDTH = max(map(len, DETECTORS))  # the readable table's first column


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("diagnose", help="report the damage a recording shows")
    parser.add_argument("input", type=Path, metavar="FILE")
    parser.add_argument(
        "--preset-out", type=Path, metavar="FILE",
        help="write the damage found as a preset for restore --preset (.json, else TOML)",
    )  # fmt: skip
    parser.add_argument(
        "--spectrogram", type=Path, metavar="PNG",
        help="also draw the file (a log-frequency spectrogram) with what was found dashed",
    )  # fmt: skip
    parser.add_argument(
        "--stop-file", type=Path, metavar="PATH",
        help="stop (exit 130) once PATH exists: a cancel for callers without signals (REAPER)",
    )  # fmt: skip
    add_lossy_argument(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from diffmusic_engine.diagnose import diagnose

    outputs = [path for path in (args.preset_out, args.spectrogram) if path is not None]
    refuse_overwriting(outputs, [args.input])  # before the work, as every output is
    if args.preset_out is not None:
        check_target(args.preset_out)
    if args.spectrogram is not None:
        check_picture_path(args.spectrogram)
    if len(outputs) == 2 and resolved(outputs[0]) == resolved(outputs[1]):
        raise OutputError(f"{args.preset_out}: given as both --preset-out and --spectrogram")
    audio, info = read_audio(args.input)
    with progress_reporter(_quiet(args), "diagnose") as callback:
        stoppable = _stoppable(callback, args.stop_file)
        lossy = lossy_input(args, info.lossy)
        findings = diagnose(audio, info.sample_rate, callback=stoppable, lossy=lossy)
    if args.json:
        print(json.dumps({"event": "diagnosis", **findings}), flush=True)
    else:
        for name, value in findings.items():
            print(f"{name:{NAME_WIDTH}s} {describe(name, value, audio.shape[0])}", flush=True)
    if args.spectrogram is not None:
        write_findings_picture(args.spectrogram, audio, info.sample_rate, findings, args.input)
    if args.preset_out is not None:  # after the findings: they say why there is no preset
        from diffmusic_engine.diagnose.preset import (
            caution,
            leaves,
            no_preset_reason,
            preset_from_findings,
            write_preset,
        )

        preset = preset_from_findings(findings)
        if preset is None:
            raise DamageError(f"{no_preset_reason(findings)}: no preset written (--preset-out)")
        write_preset(preset, args.preset_out)
        if line := caution(preset, findings):
            print(f"warning: {line}", file=sys.stderr)
        if line := leaves(preset):
            print(f"note: {args.preset_out}: {line}", file=sys.stderr)
    return 0


def _stoppable(callback: ProgressCallback, stop_file: Path | None) -> ProgressCallback:
    """``callback``, raising :class:`Cancelled` at a report once ``stop_file`` exists (each
    detector reports before and after its work)."""
    if stop_file is None:
        return callback

    def checked(progress: Progress) -> None:
        if stop_file.exists():
            raise Cancelled(f"stopped: {stop_file} exists")
        callback(progress)

    return checked


def _quiet(args: argparse.Namespace) -> argparse.Namespace:
    """With ``--json`` no progress lines: stdout holds the one diagnosis object."""
    return argparse.Namespace(quiet=args.quiet or args.json, json=False)


def describe(name: str, value: Any, channels: int = 0) -> str:
    """One readable line for a detector's finding in audio of ``channels`` channels."""
    if name == "reverb":
        if value is None:
            return "no room to measure (too short, silent, or a steady sound)"
        bands = ", ".join(f"{f} Hz {t:.2f}" for f, t in value["rt60_bands"].items())
        regression = value.get("regression_rt60_s")  # where the free decays read shorter
        told = f"; dereverb is told {regression:.2f} s" if regression else ""
        return (f"RT60 {value['rt60_s']:.2f} s, DRR {value['drr_db']:+.1f} dB, confidence "
                f"{value['confidence']:.2f} (per band: {bands}){told}")  # fmt: skip
    if name == "bandwidth":
        cutoff = value["cutoff_hz"]
        if cutoff is None:
            return "no band limit"
        dark = " (too dark below it for the dsp extension)" if value.get("too_dark") else ""
        return f"band-limited: nothing above {cutoff} Hz{dark}"
    if name == "dead_channels":  # a channel lost whole: no detector below reads it
        return dead_channels.line(value) if value else "none"
    if name == "dropouts":
        if not value:
            return "none"
        shown = ", ".join(_dropout(d, channels) for d in value[:10])
        return f"{len(value)} dropout(s): {shown}" + (", ..." if len(value) > 10 else "")
    if name == "pauses":  # silent runs --gap auto leaves alone
        spans = [[p["start"], p["end"]] for p in value]
        return pauses_line(len(spans), spans_text(spans)) if value else "none"
    if name == "cut_ends":  # digital silence at the file's ends, the music cut off
        return cut_ends.line(value, channels) if value else "none"
    if name == "gates":  # trains of a codec's dips or silent runs --gap auto leaves alone
        gates = [[[dip["start"], dip["end"]] for dip in gate["dips"]] for gate in value]
        return gates_line(gates) if value else "none"
    if name == "clicks":
        shown = ", ".join(f"{c['start']:.4f} s" for c in value[:10])
        return (
            f"{len(value)} click(s): {shown}" + (", ..." if len(value) > 10 else "")
            if value
            else "none"
        )
    if name == "clipping":
        if value is None:
            return "none"
        levels = value.get(CHANNEL_LEVELS)
        negative = value.get(NEGATIVE_LEVELS)
        where = levels_text(levels, negative) if levels else f"{value['level']:.4f}"
        share = value["fraction"] * 100
        share_text = f"{share:.3g}" if share >= 0.001 else "<0.001"
        return (f"clipped at {where} ({share_text} % of the time, in "
                f"{len(value['regions'])} region(s))")  # fmt: skip
    return json.dumps(value)


def _dropout(finding: dict[str, Any], channels: int) -> str:
    """``1.0000-1.1000 s``, and ``(channel 1 of 2)`` for a dropout on some channels only, or
    ``(a dip through the codec)`` for one found by the rule for lossy coded input alone."""
    span = seconds_text(finding["start"], finding["end"])
    if finding.get("lossy"):
        return f"{span} ({LOSSY_DIP})"
    dropped = finding.get("channels", [])
    if not dropped or len(dropped) >= channels:
        return span
    return f"{span} (channel {', '.join(map(str, dropped))} of {channels})"
