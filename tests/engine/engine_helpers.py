"""Helpers of the engine's tests: a backend the engine imports by name, and the CLI run in
this process."""

from __future__ import annotations

from diffmusic_engine.api import Restoration
from diffmusic_engine.damage import gap_samples


def marking_backend(audio, sample_rate, damage, *, options, callback) -> Restoration:
    """Marks each gap it is asked to fill with 1.0, on every channel (the engine keeps the
    channels it does not fill, so a 1.0 shows where it asked)."""
    out = audio.copy()
    for gap in damage.gaps:
        first, stop = gap_samples(gap, sample_rate)
        out[:, first:stop] = 1.0
    return Restoration((out,), sample_rate)


def run_cli(capsys, argv: list[str]) -> tuple[int, list[str]]:
    """``bridge.cli.main(argv)`` in this process: its exit code and the lines it wrote on stderr."""
    from bridge.cli import main  # here: the engine imports this module for marking_backend

    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()
