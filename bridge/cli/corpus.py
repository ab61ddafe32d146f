"""Placeholder: this module's commands are not written yet."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: ARG001
    return None
