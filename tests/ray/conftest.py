"""One local Ray instance for the whole session, and a daemon using it with ``--executor ray``.

Ray starts slowly on a loaded 2-core box (20-35 s), so every test here shares ONE instance,
started in this process (which can then inspect and kill replicas), and ONE daemon process that
joins it. The cluster declares 4 logical CPUs: the daemon's 2 replicas and one test-only
deployment get one each (a declaration, not a reservation of real cores).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

BRIDGE_TESTS = Path(__file__).resolve().parents[1] / "bridge"
sys.path.insert(0, str(BRIDGE_TESTS))  # the daemon's test helpers (and tests reused from there)

from bridge_helpers import RATE, REAPER_ACTION, Daemon, OscListener, free_port  # noqa: E402

from diffmusic_engine.synth import music_excerpt  # noqa: E402

REPLICAS = 2
MAX_QUEUED = 6


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray instance; yields its address for daemons to join."""
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    context = ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        namespace="diffmusic-tests",
    )
    yield context.address_info["gcs_address"]
    ray.shutdown()  # this process started the instance: Serve and its replicas go with it


@pytest.fixture(scope="session")
def osc_listener():
    listener = OscListener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, osc_listener, ray_cluster):
    """``diffmusic serve --executor ray`` with two replicas, OSC in and out, small limits."""
    process = Daemon(
        tmp_path_factory.mktemp("ray-daemon"),
        "--osc-port", str(free_port()),
        "--notify-osc", f"127.0.0.1:{osc_listener.port}",
        "--reaper-action", REAPER_ACTION,
        "--max-duration", "5",
        "--max-message-mb", "2",
        "--executor", "ray",
        "--ray-address", ray_cluster,
        "--replicas", str(REPLICAS),
        "--max-queued", str(MAX_QUEUED),
    )  # fmt: skip
    process.osc_port = int(process.extra[1])
    process.reaper_action = REAPER_ACTION
    process.start(timeout=180)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def clip() -> np.ndarray:
    """One second of synthetic stereo music at 16 kHz (the bridge tests' clip)."""
    return music_excerpt(duration=1.0, sample_rate=RATE, channels=2, seed=3)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random-weight AudioLDM2 pipeline saved to disk (the real loader reads it)."""
    from diffmusic_engine.models.testing import save_tiny_pipeline

    return save_tiny_pipeline("audioldm2", tmp_path_factory.mktemp("models") / "tiny-audioldm2")
