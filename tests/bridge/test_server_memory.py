"""What the daemon keeps in memory per job is dropped when the job ends, however it ends.

The server runs in this process (in a thread) so that its memory can be inspected; the client
still talks to it over real sockets on loopback.
"""

from __future__ import annotations

import threading

import pytest
from bridge_helpers import RATE

from bridge.client import Client
from bridge.daemon import LocalExecutor, Server, ServerConfig
from diffmusic_engine.damage import PhaseRetrieval


@pytest.fixture
def server(tmp_path):
    config = ServerConfig(connection_file=tmp_path / "c.json", journal_dir=tmp_path / "journal")
    server = Server(config, LocalExecutor(("cpu",)))
    thread = threading.Thread(target=server.serve_forever, name="test-daemon", daemon=True)
    thread.start()
    yield server
    server.stop()
    thread.join(timeout=20)


def test_a_job_failing_before_it_takes_its_inputs_leaves_nothing_in_memory(server, clip, tmp_path):
    """A diffusion job whose model cannot be loaded fails before it reads its inputs; their
    cached arrays and names used to stay in the daemon's memory for good (one entry per job)."""
    missing = str(tmp_path / "no-such-model")
    with Client(server.connection_path) as client:
        job = client.submit(
            clip, RATE, PhaseRetrieval(256, 64), backend="diffusion", options={"model": missing}
        )
        final = client.wait(job, timeout=60)
    assert final["state"] == "failed" and "no-such-model" in final["error"], final
    assert job not in server.host._input_names
    assert server.host._inputs.get(job) is None
