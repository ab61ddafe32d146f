"""``diffmusic corpus build OUTDIR`` and ``diffmusic bench-quality CORPUS``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import add_backend_arguments, add_output_arguments, emit
from bridge.cli.restore import backend_from_args
from diffmusic_engine.damage import TASKS
from diffmusic_engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    corpus = subparsers.add_parser("corpus", help="build the offline evaluation corpus")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", required=True)
    build = corpus_commands.add_parser(
        "build", help="real excerpts (shipped), rendered chorales, synth clips and rooms"
    )
    build.set_defaults(usage=build)  # its own usage for a flag it lacks
    build.add_argument("outdir", type=Path, metavar="OUTDIR")
    build.add_argument(
        "--real-songs", nargs="*", metavar="SONG",
        help="shipped real excerpts with stems (default all four; none with no name)",
    )  # fmt: skip
    build.add_argument("--chorales", type=int, default=2, help="Bach chorales (default 2)")
    build.add_argument("--synth-clips", type=int, default=1, help="synthesised clips (default 1)")
    build.add_argument("--duration", type=float, default=5.0, help="seconds per clip (default 5)")
    build.add_argument("--seed", type=int, default=0)
    add_output_arguments(build)
    build.set_defaults(func=run_build)

    bench = subparsers.add_parser("bench-quality", help="degrade, restore and score a corpus")
    bench.add_argument("corpus", type=Path, metavar="CORPUS")
    bench.add_argument(
        "-o", "--output", type=Path, default=Path("bench-output/quality"),
        help="folder for results.json, results.md and PNGs (default ./bench-output/quality)",
    )  # fmt: skip
    bench.add_argument("--tasks", nargs="+", choices=TASKS, metavar="TASK", help="default: all")
    bench.add_argument(
        "--fad-embedding", default="mel-stats", help="mel-stats (no weights), vggish, clap, none"
    )
    bench.add_argument("--limit", type=int, help="use only the first N clips")
    add_backend_arguments(bench)
    add_output_arguments(bench)
    bench.set_defaults(func=run_bench)


def run_build(args: argparse.Namespace) -> int:
    from diffmusic_engine.evaluation.corpus import (
        DEFAULT_CHORALES,
        REAL_SONGS,
        CorpusSpec,
        build_corpus,
    )

    if not args.duration > 0:
        raise InputError(f"--duration {args.duration:g}: expected seconds > 0")
    if not 0 <= args.chorales <= len(DEFAULT_CHORALES):
        raise InputError(f"--chorales {args.chorales}: expected 0..{len(DEFAULT_CHORALES)}")
    if args.synth_clips < 0:
        raise InputError(f"--synth-clips {args.synth_clips}: expected 0 or more")
    spec = CorpusSpec(
        real_songs=REAL_SONGS if args.real_songs is None else tuple(args.real_songs),
        chorales=DEFAULT_CHORALES[: args.chorales], synth_clips=args.synth_clips,
        duration=args.duration, seed=args.seed,
    )  # fmt: skip
    quiet = args.quiet or args.json
    manifest = build_corpus(args.outdir, spec, None if quiet else lambda clip: print(f"  {clip}"))
    emit(args, "done", manifest=str(args.outdir / "manifest.json"), clips=len(manifest["clips"]))
    if not quiet:
        print(f"{len(manifest['clips'])} clips, {len(manifest['rooms'])} rooms in {args.outdir}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.limit is not None and args.limit < 1:  # 0 had run every clip, -1 all but one
        raise InputError(f"--limit {args.limit}: expected 1 or more clips")

    from diffmusic_engine.evaluation.quality import run_quality_bench

    backend, options = backend_from_args(args, {})
    if not args.json:
        print(f"bench-quality: writing results.json, results.md and PNGs to {args.output}/")
    quiet = args.quiet or args.json  # and tqdm's rule (disable=None): no bar into a log file
    bar = None if quiet else tqdm(desc="bench-quality", unit="case", disable=None)

    def progress(done: int, total: int, what: str) -> None:
        if bar is not None:
            bar.total = total
            bar.set_postfix_str(what, refresh=False)
            bar.update(done - bar.n)

    try:
        result = run_quality_bench(
            args.corpus, args.output, backend=backend, options=options,
            tasks=args.tasks or TASKS,
            fad_embedding=None if args.fad_embedding == "none" else args.fad_embedding,
            limit=args.limit, progress=progress,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(
            json.dumps({"event": "done", "output": str(args.output), "summary": result["summary"]})
        )
    else:
        print((args.output / "results.md").read_text())
    return 0
