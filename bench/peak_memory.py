"""Peak memory of work done in a fresh process: what the memory benchmarks share.

A benchmark runs itself as a child (``run_child(__file__, "--child-...", ...)``) so that one
measurement's peak does not colour the next; the child does the work and ends with
``report(**fields)``, one JSON line holding its peak resident set size in MiB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def peak_mib() -> float:
    """This process's peak resident set size so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def report(**fields: Any) -> None:
    """The child's last line: ``{"peak_mib": ..., **fields}``."""
    print(json.dumps({"peak_mib": peak_mib(), **fields}))


def run_child(script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh interpreter; its :func:`report`, parsed."""
    done = subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
