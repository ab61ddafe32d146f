"""Per-file results of a batch, and the report file (JSON or CSV) that lists them."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from diffmusic_engine.atomic import write_text_atomic

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
# the report in its output folder unless --report says otherwise; it marks the folder as a
# batch's output, which a later batch searching a folder above it leaves out
REPORT_NAME = "batch-report.json"
# The field that counts what a restoration step of each task repaired in a file (its pieces'
# spans, each once: declick's clicks repaired, an inpaint's gaps filled, the dropouts
# gaps="auto" found or the gaps given); null where the chain has no such step
REPAIR_COUNTS = {"declick": "clicks_repaired", "inpaint": "gaps_filled"}


@dataclass(frozen=True)
class FileResult:
    """One file's outcome: ``status`` is done, skipped (finished by an earlier run) or failed."""

    input: str
    output: str
    status: str
    duration: float | None = None  # seconds of audio written (the tail included)
    seconds: float = 0.0  # wall-clock time taken
    sample_rate: int | None = None
    channels: int | None = None
    error: str | None = None
    # done, but a restoration step left pieces unchanged (and why) or extended a given gap
    note: str | None = None
    tail: float | None = None  # seconds written past the input's end (a chain with a tail)
    clicks_repaired: int | None = None  # REPAIR_COUNTS: by the chain's declick steps
    gaps_filled: int | None = None  # by its inpaint steps


# What a finished file's report says of its output, kept in the manifest and said again for it
# when a resumed run skips it
REPORTED = ("duration", "sample_rate", "channels", "note", "tail", *REPAIR_COUNTS.values())


def summarize(results: list[FileResult]) -> dict[str, Any]:
    """Counts per status, the total time taken, and the repairs the outputs hold
    (:data:`REPAIR_COUNTS`, summed over the files done or skipped; only where the chain counts
    them)."""
    repairs = {
        name: sum(counts) for name in REPAIR_COUNTS.values()
        if (counts := [n for r in results if (n := getattr(r, name)) is not None])
    }  # fmt: skip
    return {
        "files": len(results),
        **{status: sum(r.status == status for r in results) for status in (DONE, SKIPPED, FAILED)},
        "seconds": round(sum(r.seconds for r in results), 3),
        **repairs,
    }


def write_report(path: Path, results: list[FileResult], extra: dict[str, Any]) -> Path:
    """Write the report atomically: CSV if ``path`` ends in ``.csv``, else JSON.

    JSON holds ``extra`` (chain, options), a ``summary`` and the ``files``; CSV one row a file.
    """
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(FileResult)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
        text = buffer.getvalue()
    else:
        payload = {**extra, "summary": summarize(results), "files": [asdict(r) for r in results]}
        text = json.dumps(payload, indent=2) + "\n"
    return write_text_atomic(path, text)
