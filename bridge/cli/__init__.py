"""The ``diffmusic`` command: one subcommand per module, each with a ``register`` function."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from bridge.cli.common import fail
from diffmusic_engine.errors import Cancelled, DiffMusicError

# Each module defines ``register(subparsers)``, which adds its commands with a ``func`` default.
COMMAND_MODULES = (
    "restore", "degrade", "evaluate", "diagnose", "serve", "daemon", "batch", "corpus",
)  # fmt: skip


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reads a value beginning with ``-`` and a digit as a value, not
    an unknown flag: argparse does so only for plain numbers (``-1``, ``-0.5``), so ``--gap
    -1:2``, ``--click -.5:1`` or ``--gamma -1e-3`` had ended in "expected one argument" instead
    of reaching the option's own check. No option of the CLI is named ``-`` and a digit."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # argparse's own (private) test for "a negative number, not an option"; subcommands'
        # parsers are made with this class too (add_subparsers' parser_class is the parent's)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        """One line, as every other error, naming where the options are listed (argparse
        printed the command's whole usage first: 17 lines over the one that says what is wrong).
        Exit 2, argparse's status for a usage error."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="diffmusic", description="Zero-shot music restoration: CLI, daemon and clients."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"bridge.cli.{name}").register(subparsers)
    for command in subparsers.choices.values():  # a nested command sets its own (corpus build)
        command.set_defaults(usage=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # the command's usage, not the top level's (a typo'd restore flag showed that)
        args.usage.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        return fail("cancelled", args, code=130)
    except DiffMusicError as exc:
        return fail(str(exc), args)
    except KeyboardInterrupt as exc:  # a command may say what the interrupt left (batch)
        return fail(str(exc) or "interrupted", args, code=130)
    except BrokenPipeError:  # the reader left (``diffmusic eval ... | head -1``): stop quietly
        # stdout's buffer would raise again when Python flushes it at exit: point it at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by the closed pipe
