"""The daemon's protocol with ``--executor ray``: the bridge tests, unchanged, plus Ray's failures.

The first tests are the daemon engineer's own (imported from tests/bridge/test_daemon.py and
test_rejections.py and run here against a daemon whose jobs run on two Ray Serve replicas).
Left out: the asyncio test (it asserts the executor is "local"), the OSC cancel test (it
assumes one worker, so that a second job stays queued; with two replicas both run), the model
listing test (it asserts the local devices), and the rejections that never reach a job.
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from bridge_helpers import RATE  # noqa: E402 - tests/bridge, on sys.path via conftest


def _load_bridge_tests(name: str):
    """tests/bridge/<name>.py under a module name of its own (other areas reuse basenames)."""
    path = Path(__file__).resolve().parents[1] / "bridge" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"ray_reuses_bridge_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bridge_tests = _load_bridge_tests("test_daemon")
rejections = _load_bridge_tests("test_rejections")

from diffmusic_engine.damage import PhaseRetrieval  # noqa: E402

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # pydantic, inside Ray Serve
]

test_round_trip_every_task_equals_in_process = (
    bridge_tests.test_round_trip_every_task_equals_in_process
)
test_progress_events_arrive_in_order = bridge_tests.test_progress_events_arrive_in_order
test_two_concurrent_clients = bridge_tests.test_two_concurrent_clients
test_cancel_from_the_cli_while_running_and_ping_answers = (
    bridge_tests.test_cancel_from_the_cli_while_running_and_ping_answers
)
test_resubmitted_job_id_is_idempotent_and_a_different_request_conflicts = (
    bridge_tests.test_resubmitted_job_id_is_idempotent_and_a_different_request_conflicts
)
# Rejections are the gateway's, but the job "still completes" afterwards runs on Ray.
raw = rejections.raw  # their fixture: a bare DEALER socket to the daemon
test_replayed_and_stale_messages_are_rejected = (
    rejections.test_replayed_and_stale_messages_are_rejected
)
test_oversized_message_is_dropped_and_the_daemon_keeps_serving = (
    rejections.test_oversized_message_is_dropped_and_the_daemon_keeps_serving
)
test_bad_jobs_get_clear_error_replies = rejections.test_bad_jobs_get_clear_error_replies

wait_running = bridge_tests.wait_running
SLOW = bridge_tests.SLOW  # phase retrieval that runs for minutes unless cancelled


def test_ping_names_the_ray_executor(daemon):
    with daemon.client() as client:
        pong = client.ping()
    assert pong["daemon"]["executor"] == "ray"
    assert pong["capacity"]["workers"] == 2  # two replicas, one job each


def replicas_of(daemon, job_id):
    """The replicas a job ran on, in order, from the gateway's log."""
    pattern = rf"job {re.escape(job_id)} running on replica (\S+) \(\S+\), attempt (\d+)"
    return [(name, int(n)) for name, n in re.findall(pattern, daemon.log.read_text())]


def wait_log(daemon, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not in the daemon log:\n{daemon.log.read_text()[-3000:]}")


def test_replica_killed_mid_job_the_job_completes_on_the_other(daemon, clip):
    import ray

    damage, options = PhaseRetrieval(256, 64), {"iterations": 600, "seed": 7}
    with daemon.client() as client:
        job_id = client.submit(clip, RATE, damage, options=options, job_id="killed-replica")
        wait_running(client, job_id, timeout=60)
        wait_log(daemon, lambda: replicas_of(daemon, job_id))
        (victim, attempt), = replicas_of(daemon, job_id)  # fmt: skip
        assert attempt == 1
        ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
        final = client.wait(job_id, timeout=120)
        assert final["state"] == "finished", final
        runs = replicas_of(daemon, job_id)
        assert [n for _, n in runs] == [1, 2] and runs[1][0] != victim, runs
        # The re-run result is the result of an uninterrupted run (the job is deterministic).
        bridge_tests.assert_same_tracks(
            client.fetch(job_id).tracks, bridge_tests.in_process(clip, damage, options)
        )
        assert [j["job"] for j in client.jobs()].count(job_id) == 1


def test_cancel_reaches_the_running_solves(daemon, clip):
    """Both replicas busy with minutes-long solves; cancelled; a short job then runs at once.

    If a cancel only ended the gateway's wait and not the replica's work, the short job would
    wait minutes behind a solve still computing.
    """
    with daemon.client() as client:
        slow = [client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW) for _ in "ab"]
        for job_id in slow:
            wait_running(client, job_id, timeout=60)
        for job_id in slow:
            assert client.cancel(job_id) in ("running", "cancelled")
        for job_id in slow:
            final = client.wait(job_id, timeout=30)
            assert final["state"] == "cancelled" and final["fraction"] < 0.5, final
        quick = client.submit(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 5})
        assert client.wait(quick, timeout=60)["state"] == "finished"


def test_diffusion_job_runs_on_a_replica_with_its_model_resident(daemon, clip, tiny_model):
    from diffmusic_engine.api import restore
    from diffmusic_engine.damage import Gap, Inpaint

    model = str(tiny_model)
    damage, options = Inpaint((Gap(0.40, 0.45),)), {"model": model, "steps": 3, "seed": 1}
    with daemon.client() as client:
        entry = client.load_model(model, wait=180)  # loaded on a replica by Serve's multiplexing
        assert entry["id"] == model and entry["bytes"] > 0
        job_id = client.submit(clip, RATE, damage, backend="diffusion", options=options)
        final = client.wait(job_id, timeout=180)
        assert final["state"] == "finished", final
        result = client.fetch(job_id)
    expected = restore(clip, RATE, damage, backend="diffusion", options=options)
    bridge_tests.assert_same_tracks(result.tracks, expected.tracks)
