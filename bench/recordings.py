"""The recordings of the folders a real-music benchmark is given: one reader for all of them."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf


def read_folders(folders: list[Path]) -> list[tuple[str, np.ndarray, int]]:
    """``(file name, (channels, samples) float32 audio, sample rate)`` for every .flac and .wav
    file of ``folders``, in name order per folder."""
    recordings = []
    for folder in folders:
        for path in sorted([*folder.glob("*.flac"), *folder.glob("*.wav")]):
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            recordings.append((path.name, np.ascontiguousarray(audio.T), rate))
    return recordings


def recordings_from_command_line(doc: str) -> list[tuple[str, np.ndarray, int]]:
    """The recordings of the folders given on the command line (``DIRS...``) of a benchmark
    whose module docstring is ``doc`` (its first line the help's description)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of .flac/.wav recordings")
    return read_folders(parser.parse_args().dirs)


def read_excerpts(
    folders: list[Path], seconds: float, count: int
) -> list[tuple[str, np.ndarray, int]]:
    """Like :func:`read_folders`, but ``count`` excerpts of ``seconds`` from each file, spread
    evenly over it (at ``i / (count + 1)`` of its length; a file too short for that gives its
    first ``seconds`` once), named ``file@start_seconds``."""
    excerpts = []
    for folder in folders:
        for path in sorted([*folder.glob("*.flac"), *folder.glob("*.wav")]):
            info = sf.info(path)
            length = int(seconds * info.samplerate)
            starts = [info.frames * (i + 1) // (count + 1) for i in range(count)]
            if count == 1 or starts[-1] + length > info.frames:
                starts = [0]
            for start in starts:
                audio, rate = sf.read(
                    path, start=start, frames=length, dtype="float32", always_2d=True
                )
                name = f"{path.name}@{start / rate:.0f}"
                excerpts.append((name, np.ascontiguousarray(audio.T), rate))
    return excerpts
