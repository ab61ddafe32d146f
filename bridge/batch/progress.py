"""Progress bars for a batch: one for the whole batch, one for each file being rendered.

Workers (in-process or in other processes) send small events; the main process draws:
``("progress", index, name, frames_done, frames_total)`` as a file's output grows (a chain's
``"auto"`` tail makes ``frames_total`` grow as the tail is found). Events from
worker processes come through a queue drained by a thread here.
"""

from __future__ import annotations

import threading
from typing import Any

from tqdm import tqdm

from bridge.batch.report import FAILED, FileResult

Event = tuple[Any, ...]


class BatchProgress:
    """tqdm bars: always, never, or (``enabled`` None) when stderr is a terminal (tqdm's
    rule: redirected to a log, their carriage returns and cursor moves are noise there)."""

    def __init__(self, files: int, *, enabled: bool | None = None) -> None:
        self.lock = threading.Lock()
        self.bars: dict[int, tqdm] = {}
        self.positions: dict[int, int] = {}  # file index -> screen line of its bar
        self.finished: set[int] = set()  # a worker's last events can arrive after its result
        self.failed = 0
        self.overall = tqdm(total=files, desc="batch", unit="file",
                            disable=None if enabled is None else not enabled)  # fmt: skip
        self.enabled = not self.overall.disable

    def handle(self, event: Event) -> None:
        """A worker's event (see module doc)."""
        kind, index, name, done, total = event
        if kind != "progress" or not self.enabled:
            return
        with self.lock:
            if index in self.finished:
                return
            bar = self.bars.get(index)
            if bar is None:
                used = set(self.positions.values())
                position = next(p for p in range(1, len(used) + 2) if p not in used)
                self.positions[index] = position
                bar = tqdm(total=total, desc=name, unit="frame", unit_scale=True,
                           position=position, leave=False)  # fmt: skip
                self.bars[index] = bar
            if bar.total != total:  # an "auto" tail: the output's length is found as it goes
                bar.total = total
            bar.update(done - bar.n)

    def file_done(self, index: int, result: FileResult) -> None:
        """Close the file's bar and advance the overall one."""
        with self.lock:
            self.finished.add(index)
            bar = self.bars.pop(index, None)
            self.positions.pop(index, None)
            if bar is not None:
                bar.close()
            self.failed += result.status == FAILED
            if self.failed:
                self.overall.set_postfix(failed=self.failed, refresh=False)
            self.overall.update(1)

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.overall.close()
