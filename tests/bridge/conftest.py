"""A real daemon process on loopback, a real OSC listener, and short music clips."""

from __future__ import annotations

import numpy as np
import pytest
from bridge_helpers import RATE, REAPER_ACTION, Daemon, OscListener, free_port

from diffmusic_engine.synth import music_excerpt


@pytest.fixture(scope="session")
def osc_listener():
    listener = OscListener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, osc_listener):
    """One daemon for most tests: OSC in and out, small limits to test them cheaply."""
    process = Daemon(
        tmp_path_factory.mktemp("daemon"),
        "--osc-port", str(free_port()),
        "--notify-osc", f"127.0.0.1:{osc_listener.port}",
        "--reaper-action", REAPER_ACTION,
        "--max-duration", "5",
        "--max-message-mb", "2",
    )  # fmt: skip
    process.osc_port = int(process.extra[1])
    process.reaper_action = REAPER_ACTION
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def clip() -> np.ndarray:
    """One second of synthetic stereo music at 16 kHz."""
    return music_excerpt(duration=1.0, sample_rate=RATE, channels=2, seed=3)
