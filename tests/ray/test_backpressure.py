"""Ray Serve pushes back (its queue is full): the gateway keeps the job and answers "busy".

The gateway here runs in this process (a real Server on loopback, a real client), with a Ray
executor configured to keep more requests in flight (3) than its deployment accepts: one
replica running one job plus one queued (``max_queued_requests=1``). The third request gets
Serve's ``BackPressureError`` at once; the job must stay queued in the journal (not failed, not
lost) and a new submission must get the ``busy`` reply with a retry time.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("ray")

from bridge_helpers import RATE  # noqa: E402

from bridge.client import Client, RequestRejected  # noqa: E402
from bridge.daemon import Limits, Server, ServerConfig  # noqa: E402
from bridge.daemon.ray_executor import RayConfig, RayExecutor  # noqa: E402
from diffmusic_engine.damage import PhaseRetrieval  # noqa: E402

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pydantic, inside Ray Serve
]

SLOW = {"iterations": 10000}
APP = "diffmusic-backpressure"


@pytest.fixture
def gateway(ray_cluster, tmp_path):
    config = RayConfig(replicas=1, max_ongoing=1, max_queued=1, inflight=3, app_name=APP)
    executor = RayExecutor(config)
    server = Server(
        ServerConfig(connection_file=tmp_path / "connection.json", journal_dir=tmp_path / "j",
                     limits=Limits(max_duration=5)),
        executor,
    )  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, executor
    server.stop()
    thread.join(timeout=30)
    from ray import serve

    serve.delete(APP)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_full_ray_queue_gives_busy_reply_and_keeps_the_job(gateway, clip):
    server, executor = gateway
    damage = PhaseRetrieval(256, 64)
    with Client(server.connection_path, timeout=30) as client:
        jobs = [client.submit(clip, RATE, damage, options=SLOW, job_id="bp0")]
        wait_for(lambda: client.status("bp0")["state"] == "running", what="the first job")
        jobs += [client.submit(clip, RATE, damage, options=SLOW, job_id=f"bp{i}") for i in (1, 2)]
        wait_for(lambda: executor.retry_after() > 0.3, what="Ray's back-pressure")
        with pytest.raises(RequestRejected, match=r"busy: retry after \d") as info:
            client.submit(clip, RATE, damage, options=SLOW, job_id="bp-rejected")
        assert info.value.code == "busy"
        states = {j: client.status(j)["state"] for j in jobs}
        assert sorted(states.values()) == ["queued", "queued", "running"], states
        with pytest.raises(RequestRejected) as missing:
            client.status("bp-rejected")
        assert missing.value.code == "not-found"  # a busy reply stored nothing
        # Nothing was lost: as the replica frees up, each waiting job runs in turn.
        remaining = list(jobs)
        while remaining:
            wait_for(
                lambda: any(client.status(j)["state"] == "running" for j in remaining),
                what="the next job to run",
            )
            running = [j for j in remaining if client.status(j)["state"] == "running"]
            assert len(running) == 1, running
            client.cancel(running[0])
            assert client.wait(running[0], timeout=60)["state"] == "cancelled"
            remaining.remove(running[0])
