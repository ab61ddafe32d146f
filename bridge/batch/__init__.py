"""Offline batch rendering: pedalboard chains with restoration steps, over many files.

* :class:`Restorer`: a restoration step with pedalboard's ``(audio, sample_rate) -> audio`` shape.
* :func:`load_chain`: a chain file (TOML/JSON) of plugins, VST3s and restorations, validated.
* :func:`render_file`: one file streamed through a chain, written atomically.
* :func:`run_batch`: many files, in parallel, resumable, with a report.
"""

from bridge.batch.chain import Chain, ChainError, chain_from_dict, load_chain
from bridge.batch.inputs import BatchItem, plan_items
from bridge.batch.report import FileResult, write_report
from bridge.batch.restorer import Restorer
from bridge.batch.runner import run_batch
from bridge.batch.stream import render_file

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
