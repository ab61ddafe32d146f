"""Fixtures shared by every test area."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parent.parent

# Test areas run with one torch and one BLAS thread: the daemon and Ray replicas run so
# (OMP_NUM_THREADS=1), and the in-process baselines they are compared with must too; the tiny
# models' and the samplers' small algebra is faster on one thread of a shared machine.
ONE_THREAD_AREAS = ("bridge", "models", "ray", "samplers")


@pytest.fixture(autouse=True)
def one_thread_where_the_area_runs_so(request: pytest.FixtureRequest) -> Iterator[None]:
    area = request.path.relative_to(REPO / "tests").parts[0]
    if area not in ONE_THREAD_AREAS:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def cli_command() -> list[str]:
    """How to run the ``diffmusic`` command in a subprocess."""
    return [sys.executable, "-m", "bridge"]
