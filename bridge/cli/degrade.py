"""``diffmusic degrade CLEAN -o DAMAGED --task TASK ...``: synthesise damaged audio."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from bridge.cli.common import (
    add_bit_depth_argument,
    add_damage_arguments,
    add_output_arguments,
    check_bit_depth,
    damage_from_args,
    emit,
    refuse_overwriting,
    written_dtype,
)
from diffmusic_engine.audio import (
    check_writable,
    float_remedy,
    over_full_scale,
    read_audio,
    write_audio,
)
from diffmusic_engine.damage import Declick
from diffmusic_engine.errors import InputError

NORMALIZED_PEAK = 0.99  # --normalize: the peak a clipping result is scaled down to


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("degrade", help="damage clean audio (for tests and evaluation)")
    parser.add_argument(
        "clean", type=Path, nargs="+", metavar="CLEAN",
        help="clean file (for --task separate: one file per source)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DAMAGED")
    parser.add_argument("--seed", type=int, metavar="S", help="declick: where the bursts fall")
    parser.add_argument(
        "--normalize", action="store_true",
        help=f"if the damaged audio would clip, scale it down to peak {NORMALIZED_PEAK}",
    )  # fmt: skip
    add_damage_arguments(parser, degrade=True)
    add_bit_depth_argument(parser)
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def phase_round_trip(damaged: Path, clean: Path) -> str:
    """Why ``restore DAMAGED --task phase-retrieval`` cannot give back CLEAN (a user trial had
    restored it and found it as far from the clean file as before, unsaid)."""
    return (
        f"{damaged} holds the clean STFT magnitude under random phases; read back as audio, "
        "its magnitude is smeared by them and no longer the clean one, so restoring it cannot "
        f"bring {clean} back: phase retrieval is scored on the clean file's own magnitude "
        f"(diffmusic restore {clean} --task phase-retrieval, then eval --reference {clean})"
    )


def run(args: argparse.Namespace) -> int:
    damage, _ = damage_from_args(args)
    if damage.task == "dereverb" and damage.rir is None:
        raise InputError(
            "degrade --task dereverb needs --rir FILE (the room's impulse response to apply); "
            "'blind' is for restore only"
        )
    if args.seed is not None:
        if not isinstance(damage, Declick):
            raise InputError(f"--seed: only declick's degradation is random, not {damage.task}")
        damage = replace(damage, seed=args.seed)
    refuse_overwriting([args.output], args.clean)
    loaded = [read_audio(path) for path in args.clean]
    info = loaded[0][1]
    dtype = written_dtype(args, info.file_dtype)
    check_bit_depth(args, [args.output])
    check_writable(args.output, info.sample_rate, info.channels, dtype)
    for path, (audio, other) in zip(args.clean, loaded, strict=True):
        if other.sample_rate != info.sample_rate or audio.shape != loaded[0][0].shape:
            raise InputError(f"{path}: sources must share rate, channels and length")
    if damage.task == "separate":
        clean = np.stack([audio for audio, _ in loaded])
    elif len(loaded) > 1:
        raise InputError(f"{damage.task}: expected one clean file, got {len(loaded)}")
    else:
        clean = loaded[0][0]
    from diffmusic_engine.api import degrade

    damaged = degrade(clean, info.sample_rate, damage)
    peak = float(np.max(np.abs(damaged)))
    gain = 1.0
    if peak > 1.0 and args.normalize:
        gain = NORMALIZED_PEAK / peak
        damaged = (damaged * gain).astype(np.float32)
    elif over := over_full_scale(args.output, damaged, dtype):  # integers (FLAC: even float)
        raise InputError(
            f"degraded audio: {over}; pass --normalize to scale it down, or "
            f"{float_remedy(args.output)}"
        )
    write_audio(args.output, damaged, info.sample_rate, source_dtype=dtype)
    emit(args, "done", outputs=[str(args.output)], gain=gain)
    if damage.task == "phase-retrieval":
        print(f"note: {phase_round_trip(args.output, args.clean[0])}", file=sys.stderr)
    if gain != 1.0 and not (args.quiet or args.json):
        print(f"scaled by {gain:.4f} ({20 * np.log10(gain):.1f} dB) to peak {NORMALIZED_PEAK}")
    return 0
