"""What a batch has finished, so that ``--resume`` does no finished file twice.

The manifest (``OUTDIR/.diffmusic-batch.json``) records, for each output written, the input's
size and modification time, the chain's digest and the output's size, and what the file's
report said (``reported``: duration, rate, channels, note, tail, the repairs counted), which a
resumed run's report gives again for the files it skips (their notes had been lost, an
interrupted run writing no report). It is rewritten atomically (temporary file, then rename)
after every finished file, by the main process only.
An output counts as finished only if its entry matches the input and chain of this run and the
file on disk still has the recorded size: a half-written temporary file never has an entry, and
an output written but not yet recorded (a kill between the two) is simply rendered again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge.batch.inputs import BatchItem
from diffmusic_engine.atomic import write_text_atomic

MANIFEST_NAME = ".diffmusic-batch.json"


class Manifest:
    """The finished outputs of one output folder."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / MANIFEST_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text())
            self.entries = dict(data.get("files", {}))
        except (OSError, ValueError, AttributeError):
            self.entries = {}  # none yet, or unreadable: nothing counts as finished

    def finished(self, item: BatchItem, chain_digest: str) -> bool:
        """Whether ``item``'s output is complete for this input and chain."""
        entry = self.entries.get(str(item.output))
        if entry is None or entry.get("chain") != chain_digest:
            return False
        if entry.get("written_dtype") != item.written_dtype:  # another --bit-depth asked for
            return False
        if entry.get("input") != _signature(item.source):
            return False
        try:
            return item.output.stat().st_size == entry.get("output_size")
        except OSError:
            return False

    def record(self, item: BatchItem, chain_digest: str, reported: dict[str, Any]) -> None:
        """Mark ``item`` finished (after its output was renamed into place) with what its
        report said, and save."""
        self.entries[str(item.output)] = {
            "source": str(item.source),
            "input": _signature(item.source),
            "chain": chain_digest,
            "written_dtype": item.written_dtype,
            "output_size": item.output.stat().st_size,
            "reported": reported,
        }
        self._save()

    def reported(self, item: BatchItem) -> dict[str, Any]:
        """What the report said of ``item`` when it was finished (``{}``: not recorded)."""
        return dict(self.entries.get(str(item.output), {}).get("reported", {}))

    def _save(self) -> None:
        text = json.dumps({"version": 1, "files": self.entries}, indent=1)
        write_text_atomic(self.path, text, durable=True)


def _signature(path: Path) -> list[Any]:
    """The input as far as resuming cares: its resolved path, size and modification time."""
    try:
        stat = path.stat()
    except OSError:
        return [str(path.resolve()), None, None]
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
