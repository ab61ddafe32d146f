"""Which files a batch works on, and where each output goes.

Inputs are files, folders (searched recursively for audio files) and glob patterns. An output
keeps the input's path relative to the folder it was found in (or just its name), under the
output folder, with the asked format's suffix or else the input's own (lossy and unknown formats
become WAV: re-encoding restored audio lossily would throw away what was restored).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.batch.report import REPORT_NAME
from diffmusic_engine.containers import AUDIO_SUFFIXES, LOSSY_SUBTYPES
from diffmusic_engine.errors import InputError

# lossy containers become WAV: re-encoding restored audio lossily would lose what was restored
WRITABLE_SUFFIXES = AUDIO_SUFFIXES - set(LOSSY_SUBTYPES)
FORMATS = ("wav", "flac")


@dataclass(frozen=True)
class BatchItem:
    """One file to render: its number in the batch, where it is read and where it is written."""

    index: int
    source: Path
    output: Path
    written_dtype: str | None = None  # the sample format written like (None: the input's)


def plan_items(
    inputs: Sequence[str | Path],
    outdir: Path,
    output_format: str | None = None,
    written_dtype: str | None = None,
) -> list[BatchItem]:
    """Each input with its output path (and the sample format asked for every output, if
    one is: ``containers.BIT_DEPTHS``' values); raises :class:`InputError` on clashes."""
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir} is a file; -o takes the folder the outputs go to")
    items: list[BatchItem] = []
    claimed: dict[Path, Path] = {}
    for index, (source, relative) in enumerate(_collect(inputs, outdir)):
        suffix = f".{output_format}" if output_format else relative.suffix.lower()
        if suffix not in WRITABLE_SUFFIXES:
            suffix = ".wav"
        output = outdir / relative.with_suffix(suffix)
        if output.resolve() == source.resolve():
            raise InputError(f"{output}: output would overwrite its input")
        if output in claimed:
            raise InputError(
                f"{claimed[output]} and {source} would both be written to {output}; "
                "put them in separate folders or batches"
            )
        claimed[output] = source
        items.append(BatchItem(index, source, output, written_dtype))
    return items


def _collect(inputs: Sequence[str | Path], outdir: Path | None) -> list[tuple[Path, Path]]:
    """``(file, path relative to where it was found)`` of every input, each once. A folder's or
    a pattern's files under the output folder are earlier outputs and are left out, as are a
    folder's files in a subfolder holding a batch report (another batch's output: a run into
    ``in/out2`` had rendered ``in/out``'s renders again); a folder that is the output folder (or
    inside it) is refused, as is a batch left with nothing."""
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    excluded = outdir.resolve() if outdir is not None else None
    left_out = 0

    def inside_output(resolved: Path) -> bool:
        return excluded is not None and resolved.is_relative_to(excluded)

    def add(path: Path, relative: Path, searched: bool) -> None:
        nonlocal left_out
        resolved = path.resolve()
        if searched and inside_output(resolved):
            left_out += 1
        elif resolved not in seen:
            seen.add(resolved)
            found.append((path, relative))

    for entry in inputs:
        path = Path(entry)
        if path.is_file():
            add(path, Path(path.name), searched=False)
        elif path.is_dir():
            if inside_output(path.resolve()):
                raise InputError(
                    f"{path}: the output folder {outdir} holds this folder's files; "
                    "choose an -o outside the inputs"
                )
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            if not files:
                raise InputError(f"{path}: folder holds no audio files")
            for file in files:
                if _in_earlier_output(file, path):
                    left_out += 1
                else:
                    add(file, file.relative_to(path), searched=True)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(entry), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputError(f"{entry}: no such file, folder or matching files")
            for file in files:
                add(file, Path(file.name), searched=True)
    if not found and left_out:
        raise InputError(
            f"every input ({left_out} file(s)) is an earlier batch's output (inside the output "
            f"folder {outdir}, or a folder with a {REPORT_NAME}); choose an -o outside the "
            "inputs, or give that folder itself as the input"
        )
    return found


def _in_earlier_output(file: Path, searched: Path) -> bool:
    """Whether ``file``, found in the folder ``searched``, sits in one of its subfolders that
    holds a batch report (:data:`~bridge.batch.report.REPORT_NAME`)."""
    folder = file.parent
    while folder != searched and folder != folder.parent:
        if (folder / REPORT_NAME).is_file():
            return True
        folder = folder.parent
    return False
