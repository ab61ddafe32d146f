"""The ``diffmusic`` command: one subcommand per module, each with a ``register`` function."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bridge.cli.common import fail
from diffmusic_engine.errors import Cancelled, DiffMusicError

# Each module defines ``register(subparsers)``, which adds its commands with a ``func`` default.
COMMAND_MODULES = ("restore", "degrade", "evaluate", "diagnose", "daemon", "batch", "corpus")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffmusic", description="Zero-shot music restoration: CLI, daemon and clients."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"bridge.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        return fail("cancelled", args, code=130)
    except DiffMusicError as exc:
        return fail(str(exc), args)
    except KeyboardInterrupt:
        return fail("interrupted", args, code=130)


if __name__ == "__main__":
    sys.exit(main())
