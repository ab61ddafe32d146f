"""Recent audio kept in memory, so the hot path does not read back what it just wrote.

The journal stays the source of truth (everything here is also durable there); this only saves
re-reading a job's inputs when it starts and its outputs when they are fetched right after, and
remembers their frame digests so a fetch does not hash the same frames again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from bridge.protocol import frame_digest


class ArrayCache:
    """``key -> (arrays, digests)``, least recently used dropped beyond ``budget_bytes``."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[str, tuple[list[np.ndarray], list[bytes]]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: str, arrays: list[np.ndarray], digests: list[bytes] | None = None) -> None:
        size = sum(a.nbytes for a in arrays)
        if size > self.budget_bytes:
            return
        with self._lock:
            self._drop(key)
            self._items[key] = (arrays, list(digests or []))
            self._bytes += size
            while self._bytes > self.budget_bytes:
                self._drop(next(iter(self._items)))

    def get(self, key: str) -> tuple[list[np.ndarray], list[bytes]] | None:
        """The arrays and their digests (computed now if missing), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
        arrays, digests = item
        if len(digests) != len(arrays):
            digests[:] = [frame_digest(a) for a in arrays]
        return arrays, digests

    def pop(self, key: str) -> list[np.ndarray] | None:
        with self._lock:
            item = self._items.get(key)
            self._drop(key)
        return None if item is None else item[0]

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._bytes -= sum(a.nbytes for a in item[0])
