"""Loaded diffusion models of one worker: an LRU cache with a memory budget.

Loading AudioLDM2 takes far longer than a short restoration, so a worker keeps pipelines
resident. When the budget is exceeded the least recently used models are dropped (never the one
being returned). Sizes are the bytes of the torch parameters and buffers the adapter holds.
The adapters themselves live in the diffusion backend's own table (``diffusion.get_model``,
which a job then finds loaded); this cache decides when they are loaded and forgotten.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diffmusic_engine.diffusion.options import model_key

Loader = Callable[[str, str | None], Any]
Unloader = Callable[[str, str | None], None]


def default_loader(model: str, device: str | None) -> Any:
    """The diffusion backend's ``get_model``: the adapter a diffusion job will then find loaded.

    Imported on first use (dsp jobs never need diffusers).
    """
    from diffmusic_engine.diffusion import get_model

    return get_model(model, device)


def default_unloader(model: str, device: str | None) -> None:
    """Make the diffusion backend forget ``model`` so that its memory can be freed."""
    from diffmusic_engine.diffusion import forget_model

    forget_model(model, device)


def model_bytes(adapter: Any) -> int:
    """Bytes of torch parameters and buffers reachable from ``adapter``'s attributes."""
    import torch

    seen: set[int] = set()
    total = 0
    modules = [v for v in vars(adapter).values() if isinstance(v, torch.nn.Module)]
    for value in vars(adapter).values():  # a diffusers pipeline holds its modules as components
        components = getattr(value, "components", None)
        if isinstance(components, dict):
            modules += [m for m in components.values() if isinstance(m, torch.nn.Module)]
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


@dataclass
class Entry:
    adapter: Any
    device: str | None
    bytes: int
    last_used: float


class ModelCache:
    """``model id -> adapter`` with least-recently-used eviction beyond ``budget_bytes``; a
    model is named by its :func:`~diffmusic_engine.diffusion.options.model_key`."""

    def __init__(
        self,
        budget_bytes: int = 0,
        loader: Loader = default_loader,
        unloader: Unloader = default_unloader,
    ) -> None:
        self.budget_bytes = budget_bytes  # 0: no limit
        self._loader = loader
        self._unloader = unloader
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str, device: str | None = None) -> Any:
        """The loaded adapter for ``model``, loading it (and evicting others) if needed."""
        model = model_key(model)
        with self._lock:
            entry = self._entries.get(model)
            if entry is not None:
                self._entries.move_to_end(model)
                entry.last_used = time.time()
                return entry.adapter
        adapter = self._loader(model, device)  # slow: outside the lock
        size = model_bytes(adapter)
        with self._lock:
            self._entries[model] = Entry(adapter, device, size, time.time())
            self._entries.move_to_end(model)
            evicted = self._evict(keep=model)
        # Outside the lock: the unloader may wait for a model another thread is loading, and
        # list() (answered by the daemon's request thread) must not wait with it.
        for name, entry in evicted:
            self._unloader(name, entry.device)
        return adapter

    def holds(self, model: str) -> bool:
        """Whether ``model`` is loaded here now."""
        model = model_key(model)
        with self._lock:
            return model in self._entries

    def unload(self, model: str) -> bool:
        """Drop ``model``; a job still using it keeps its own reference until it ends."""
        model = model_key(model)
        with self._lock:
            entry = self._entries.pop(model, None)
        if entry is None:
            return False
        self._unloader(model, entry.device)
        del entry
        gc.collect()
        return True

    def _evict(self, keep: str) -> list[tuple[str, Entry]]:
        """Drop least recently used entries beyond the budget; the caller unloads them."""
        evicted: list[tuple[str, Entry]] = []
        while self.budget_bytes and self.total_bytes() > self.budget_bytes:
            oldest = next((m for m in self._entries if m != keep), None)
            if oldest is None:
                break
            evicted.append((oldest, self._entries.pop(oldest)))
        return evicted

    def total_bytes(self) -> int:
        return sum(e.bytes for e in self._entries.values())

    def list(self) -> list[dict[str, Any]]:
        """The loaded models, least recently used first."""
        with self._lock:
            return [
                {"id": m, "device": e.device, "bytes": e.bytes, "last_used": e.last_used}
                for m, e in self._entries.items()
            ]
