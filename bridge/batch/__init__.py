"""Offline batch rendering: pedalboard chains with restoration steps, over many files.

* :class:`Restorer`: a restoration step with pedalboard's ``(audio, sample_rate) -> audio`` shape.
* :func:`load_chain`: a chain file (TOML/JSON) of plugins, VST3s and restorations, validated.
* :func:`render_file`: one file streamed through a chain, written atomically.
* :func:`run_batch`: many files, in parallel, resumable, with a report.
"""

import importlib
from typing import Any

# name -> module; imported on first use (PEP 562) so that the CLI can parse flags without torch
_MODULE_OF = {
    "Chain": "chain", "ChainError": "chain", "chain_from_dict": "chain", "load_chain": "chain",
    "BatchItem": "inputs", "plan_items": "inputs", "FileResult": "report",
    "write_report": "report", "Restorer": "restorer", "run_batch": "runner",
    "render_file": "stream",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'bridge.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bridge.batch.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BatchItem",
    "Chain",
    "ChainError",
    "FileResult",
    "Restorer",
    "chain_from_dict",
    "load_chain",
    "plan_items",
    "render_file",
    "run_batch",
    "write_report",
]
