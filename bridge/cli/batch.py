"""``diffmusic batch INPUTS... -o OUTDIR --chain FILE``: render many files through a chain.

Exit status: 0 when every file was rendered (or skipped by ``--resume``); 1 when nothing could
start (a bad chain file, no inputs, clashing outputs: nothing is touched); 3 when the batch ran
but at least one file failed (each is in the report with its error; the others are finished).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.batch.inputs import FORMATS, BatchItem
from bridge.batch.report import (
    DONE,
    FAILED,
    REPAIR_COUNTS,
    REPORT_NAME,
    SKIPPED,
    FileResult,
    summarize,
)
from bridge.cli.common import (
    add_bit_depth_argument,
    add_output_arguments,
    emit,
    whole_number,
    written_dtype,
)
from bridge.cli.signals import TERMINATING, signals_raise
from diffmusic_engine.atomic import check_target

EXIT_FILES_FAILED = 3

EPILOG = """\
Inputs are files, folders (searched recursively for audio) and glob patterns. Outputs keep each
file's name (and its path inside a given folder) under OUTDIR, at the source's sample rate and
bit depth unless --format, --bit-depth or the chain's sample_rate says otherwise, and each
input's length unless the chain's tail (seconds, or "auto") lets effects ring out past it.
Chain files: see presets/chains/. Exit status: 0 all files done or skipped; 1 nothing started
(bad chain, no inputs); 3 some files failed (listed in the report, the others finished)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="render files through an effect/restoration chain", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    parser.add_argument("-o", "--outdir", type=Path, required=True, metavar="OUTDIR")
    parser.add_argument("--chain", type=Path, required=True, metavar="FILE",
                        help="chain file (TOML or JSON)")  # fmt: skip
    parser.add_argument("--jobs", "-j", type=whole_number(1), default=1, metavar="N",
                        help="files rendered at once, in worker processes (default 1)")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="skip outputs a previous run of this chain finished")  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, help="output format (default: the input's)")
    add_bit_depth_argument(parser)
    parser.add_argument(
        "--report", type=Path, metavar="PATH",
        help="report file: CSV if it ends in .csv, else JSON (default OUTDIR/batch-report.json)",
    )  # fmt: skip
    parser.add_argument("--connect", action="store_true",
                        help="run restoration steps through the daemon")  # fmt: skip
    parser.add_argument(
        "--connection-file", type=Path, metavar="PATH", help="daemon connection file"
    )
    add_output_arguments(parser, "one per file, then the summary; no bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bridge.batch import load_chain, plan_items, run_batch, write_report

    chain = load_chain(args.chain)  # validated before any audio is touched
    depth = written_dtype(args, "") or None  # None: each input's own
    items = plan_items(args.inputs, args.outdir, args.format, depth)
    report = args.report or args.outdir / REPORT_NAME
    check_target(report)  # before the work, not after it (an unwritable one lost the run's)
    overrides = {}
    if args.connect:
        _check_daemon(args.connection_file)
        overrides = {"connect": True, "connection_file": args.connection_file}
    quiet = args.quiet or args.json

    ended: list[FileResult] = []  # the files done, skipped or failed when an interrupt comes
    signalled: list[int] = []  # each interrupt, one a callback in C code dropped too

    def on_result(result: FileResult) -> None:
        ended.append(result)
        emit(args, "file", **vars(result))
        if signalled:  # an interrupt came and was dropped (interrupt): stop here, not at the end
            raise KeyboardInterrupt

    def interrupt(signum: int) -> KeyboardInterrupt:
        """Noted as well as raised: one that lands in a callback C code makes (llvmlite's
        object-cache notice while numba compiles librosa's kernels, early in the first file)
        is dropped there ("Exception ignored on calling ctypes callback function"), and the
        batch had rendered every file and exited 0."""
        signalled.append(signum)
        return KeyboardInterrupt()

    described = {"chain": str(args.chain), "outdir": str(args.outdir)}
    # Ctrl-C, SIGTERM and SIGHUP stop the batch and its workers alike (no partial output, 130)
    try:
        with signals_raise(interrupt, ("SIGINT", *TERMINATING)):
            results = run_batch(
                items, chain, args.outdir, jobs=args.jobs, resume=args.resume, on_result=on_result,
                show_progress=False if quiet else None, restorer_overrides=overrides,
            )  # fmt: skip
    except KeyboardInterrupt:  # the line had said "interrupted" alone: what is kept, what next
        raise _interrupted(args.outdir, report, items, ended, described) from None
    write_report(report, results, described)
    summary = summarize(results)
    emit(args, "done", report=str(report), **summary)
    if not args.json:
        for result in results:
            if result.status == FAILED:
                error = result.error or ""
                where = "" if error.startswith(result.input) else f"{result.input}: "
                print(f"failed: {where}{error}")
            elif result.note:
                print(f"note: {result.input}: {result.note}")
        repairs = "".join(
            f"{name.replace('_', ' ')} {summary[name]}; "
            for name in REPAIR_COUNTS.values()
            if name in summary
        )
        print(
            f"{summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed; "
            f"{repairs}report: {report}"
        )
    return EXIT_FILES_FAILED if summary["failed"] else 0


def _interrupted(
    outdir: Path,
    report: Path,
    items: list[BatchItem],
    ended: list[FileResult],
    described: dict[str, str],
) -> KeyboardInterrupt:
    """The interrupt to raise, its one line saying what is kept and what next, after writing
    this run's report of the files ``ended``: an earlier run's (another chain's, the outputs it
    names since rendered anew) had stayed, and a first run left none, so its folder was no
    batch's output to a later batch searching the folder above it."""
    from bridge.batch import write_report

    order = {str(item.source): item.index for item in items}
    ended = sorted(ended, key=lambda result: order[result.input])
    listed = ""
    # Not written where nothing was (no output folder, no report's folder): interrupted
    # before the first output; a --report in a folder of its own is made, as at the end.
    if report.parent.is_dir() or outdir.is_dir():
        write_report(report, ended, {**described, "interrupted": True,
                                     "not_rendered": len(items) - len(ended)})  # fmt: skip
        listed = f" (report: {report})"
    kept = sum(result.status in (DONE, SKIPPED) for result in ended)
    return KeyboardInterrupt(
        f"interrupted: {kept} of {len(items)} file(s) written to {outdir} and kept, "
        f"none half-written{listed}; the same command with --resume renders the rest"
    )


def _check_daemon(connection_file: Path | None) -> None:
    """Raise ``DaemonUnavailable`` (nothing started) unless the daemon answers one ping: every
    file would otherwise spend the client's three tries on it before failing alone."""
    from bridge.client import Client

    with Client(connection_file, retries=1) as client:
        client.ping()
