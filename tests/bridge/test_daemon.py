"""A real daemon on loopback: round trips, concurrency, progress, cancel, OSC, idempotency."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from bridge.client import AsyncClient, RequestRejected
from bridge.osc import DONE
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.backends import FOUND_GAPS
from diffmusic_engine.damage import (
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.errors import Cancelled, DiffMusicError, ModelError
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.synth import music_excerpt

RATE = 16000  # the clip fixture's rate

SLOW = {"iterations": 10000}  # phase retrieval that runs for minutes unless cancelled


def in_process(audio, damage, options=None):
    return restore(audio, RATE, damage, backend="dsp", options=options or {}).tracks


def assert_same_tracks(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def wait_running(client, job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status(job_id)
        if status["state"] == "running" and status["step"] > 0:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ran: {client.status(job_id)}")


def cases(tmp_path, clip):
    ir = synthetic_rir(0.25, RATE, seed=1)
    ir_path = write_audio(tmp_path / "room.wav", ir[None, :], RATE)
    reverberant = degrade(clip, RATE, Dereverb(), impulse_response=ir)
    holed = clip.copy()
    holed[:, int(0.6 * RATE) : int(0.62 * RATE)] = 0.0  # a dropout for gaps="auto" to find
    return {
        "inpaint": (clip, Inpaint((Gap(0.40, 0.41),)), {}),
        "inpaint-auto": (holed, Inpaint("auto"), {}),
        "super-resolution": (
            degrade(clip, RATE, SuperResolution(3000.0)), SuperResolution("auto"), {}),
        "phase-retrieval": (clip, PhaseRetrieval(256, 64), {"iterations": 4}),
        "separate": (clip, Separate(2), {"masks": "harmonic-percussive"}),
        "dereverb-blind": (reverberant, Dereverb(), {}),
        "dereverb-ir": (reverberant, Dereverb(ir_path), {}),
        "dereverb-samples": (reverberant, Dereverb(rir=ir, rir_rate=RATE), {}),
    }  # fmt: skip


def test_round_trip_every_task_equals_in_process(daemon, clip, tmp_path, osc_listener):
    jobs, whys = {}, {}  # whys: the in-process restoration's "unchanged" where it has one
    found = {}  # the dropouts gaps="auto" found, per job
    with daemon.client() as client:
        for name, (audio, damage, options) in cases(tmp_path, clip).items():
            job_id = client.submit(audio, RATE, damage, options=options, job_id=f"rt-{name}")
            jobs[name] = (job_id, audio, damage, options)
        for job_id, audio, damage, options in jobs.values():
            final = client.wait(job_id, timeout=120)
            assert final["state"] == "finished", final
            result = client.fetch(job_id)
            assert result.sample_rate == RATE
            expected = restore(audio, RATE, damage, backend="dsp", options=options)
            assert_same_tracks(result.tracks, expected.tracks)
            assert result.details.get(FOUND_GAPS) == expected.details.get(FOUND_GAPS)
            if FOUND_GAPS in expected.details:
                found[job_id] = expected.details[FOUND_GAPS]
            if expected.unchanged:
                whys[job_id] = (expected.unchanged,)
    # Every finished job was announced over OSC with a WAV of its result, then the action; a
    # why only where the output is the input (blind dereverb finds no room in 1 s).
    assert list(whys) == [jobs["dereverb-blind"][0]]
    assert found == {jobs["inpaint-auto"][0]: [[0.6, 0.62]]}
    ids = {job_id for job_id, *_ in jobs.values()}  # announced in the order they finish
    messages = osc_listener.wait_for(
        lambda ms: ids <= {args[0] for address, args in ms if address == DONE}
    )
    done = {args[0]: args[1:] for address, args in messages if address == DONE and args[0] in ids}
    assert {job_id: args[1:] for job_id, args in done.items() if args[1:]} == whys
    exported, _ = read_audio(done[jobs["inpaint"][0]][0])
    assert_same_tracks((exported,), in_process(*jobs["inpaint"][1:]))
    index = [m for m, _ in messages].index(DONE)
    assert ("/action/" + daemon.reaper_action, ()) in messages[index:]
    progress = [args for address, args in messages if address == "/diffmusic/progress"]
    assert any(job == jobs["phase-retrieval"][0] and 0 < f <= 1 for job, f in progress)


def test_progress_events_arrive_in_order(daemon, clip):
    events = []
    with daemon.client() as client:
        job_id = client.submit(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 30})
        final = client.wait(job_id, on_event=lambda kind, c: events.append((kind, c)))
    assert final["state"] == "finished"
    kinds = [kind for kind, _ in events]
    seqs = [c["seq"] for _, c in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Subscribed (and confirmed) before submitting: the stream is complete, in order.
    assert kinds[:2] == ["accepted", "started"] and kinds[2:-1] == ["progress"] * (len(kinds) - 3)
    assert kinds[-1] == "finished"
    steps = [c["step"] for kind, c in events if kind == "progress"]
    fractions = [c["fraction"] for kind, c in events if kind == "progress"]
    assert steps == sorted(steps) and fractions == sorted(fractions)
    assert steps[-1] == 30 and fractions[-1] == 1.0  # the last step is always published
    assert all(c["total"] == 30 for kind, c in events if kind == "progress")


def test_two_concurrent_clients(daemon, clip):
    results = {}
    damage = PhaseRetrieval(256, 64)

    def work(seed):
        audio = np.ascontiguousarray(np.roll(clip, 1000 * seed, axis=1))
        with daemon.client() as client:
            job_id = client.submit(audio, RATE, damage, options={"iterations": 3, "seed": seed})
            client.wait(job_id)
            results[seed] = (audio, client.fetch(job_id))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(results) == {1, 2}
    for seed, (audio, result) in results.items():
        assert_same_tracks(
            result.tracks, in_process(audio, damage, {"iterations": 3, "seed": seed})
        )


def test_asyncio_client(daemon, clip):
    async def main():
        async with AsyncClient(daemon.connection) as client:
            pong = await client.ping()
            job_id = await client.submit(clip, RATE, PhaseRetrieval(256, 64),
                                         options={"iterations": 2})  # fmt: skip
            final = await client.wait(job_id)
            return pong, final, await client.fetch(job_id)

    pong, final, result = asyncio.run(main())
    assert pong["daemon"]["executor"] == "local" and final["state"] == "finished"
    expected = in_process(clip, PhaseRetrieval(256, 64), {"iterations": 2})
    assert_same_tracks(result.tracks, expected)


def test_cancel_from_the_cli_while_running_and_ping_answers(daemon, clip, cli_command, tmp_path):
    import json
    import subprocess

    with daemon.client() as client:
        job_id = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW)
        wait_running(client, job_id)
        rtts = [client.ping()["rtt_ms"] for _ in range(5)]  # heartbeat while the job computes
        assert max(rtts) < 1000, rtts
        out = subprocess.run(
            [*cli_command, "cancel", job_id, "--connection-file", str(daemon.connection), "--json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        line = json.loads(out.stdout.splitlines()[-1])
        assert line["event"] == "cancelled" and line["job"] == job_id
        assert line["state"] in ("running", "cancelled")
        final = client.wait(job_id, timeout=30)
        assert final["state"] == "cancelled" and final["fraction"] < 0.5
        with pytest.raises(RequestRejected, match="cancelled") as info:
            client.fetch(job_id)
        assert info.value.code == "not-finished"
        out = subprocess.run(
            [*cli_command, "fetch", job_id, "-o", str(tmp_path / "r.wav"),
             "--connection-file", str(daemon.connection)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (out.returncode, out.stderr.splitlines()) == (1, [
            f"error: daemon: not-finished: job {job_id} was cancelled, so it has no result; "
            "submit it again, under a new job id (a job id runs once)"  # had said "is cancelled"
        ])  # fmt: skip
        assert not (tmp_path / "r.wav").exists()
        # the readable line: a running job's "running" had read as not cancelled
        second = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW)
        wait_running(client, second)
        with pytest.raises(RequestRejected) as info:
            client.fetch(second)
        assert str(info.value) == (
            f"daemon: not-finished: job {second} is running: it has no result yet; fetch it once "
            "it is finished (its status says when)"
        )
        out = subprocess.run(
            [*cli_command, "cancel", second, "--connection-file", str(daemon.connection)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.stdout in (f"{second}  stopping: cancelled at its next step\n",
                              f"{second}  cancelled\n"), out.stdout  # fmt: skip
        assert client.wait(second, timeout=30)["state"] == "cancelled"


def test_cancel_and_ping_over_osc(daemon, clip, osc_listener):
    with daemon.client() as client:
        running = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW, priority=5)
        queued = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW)
        wait_running(client, running)
        assert client.status(queued)["state"] == "queued"
        osc = SimpleUDPClient("127.0.0.1", daemon.osc_port)
        osc.send_message("/diffmusic/cancel", queued)  # a queued job: removed at once
        osc.send_message("/diffmusic/cancel", running)  # the running job: stops at its next step
        assert client.wait(queued, timeout=30)["state"] == "cancelled"
        assert client.wait(running, timeout=30)["state"] == "cancelled"
    # listeners are told (they had seen the progress stop, and nothing more)
    cancelled = {("/diffmusic/cancelled", (job,)) for job in (queued, running)}
    osc_listener.wait_for(lambda messages: cancelled <= set(messages))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        builder = OscMessageBuilder("/diffmusic/ping")
        builder.add_arg("hello")
        sock.sendto(builder.build().dgram, ("127.0.0.1", daemon.osc_port))
        pong = OscMessage(sock.recvfrom(1024)[0])
    assert pong.address == "/diffmusic/pong" and pong.params == ["hello"]


def test_resubmitted_job_id_is_idempotent_and_a_different_request_conflicts(daemon, clip):
    options = {"iterations": 2}
    with daemon.client() as client:
        first = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=options, job_id="same")
        again = client.request("submit", *_submit_content(clip, options, "same"))
        assert first == "same" and again.content["job"] == "same"
        assert again.content["new"] is False
        client.wait("same")
        assert [j["job"] for j in client.jobs()].count("same") == 1
        other = np.ascontiguousarray(clip[:, ::-1])
        with pytest.raises(RequestRejected, match="already used") as info:
            client.submit(other, RATE, PhaseRetrieval(256, 64), options=options, job_id="same")
        assert info.value.code == "conflict"


def test_big_audio_is_staged_and_journalled_as_np_save_writes_it(daemon, tmp_path):
    """Audio over 1 MiB is written to the journal while its message is checked (staged); the
    job, its stored input and its result are what an unstaged submission gives."""
    audio = music_excerpt(5.0, 48000, 2, seed=3)  # 1.92 MB: staged
    damage = Inpaint((Gap(2.0, 2.03),))
    with daemon.client() as client:
        job = client.submit(audio, 48000, damage, job_id="staged-big")
        assert client.wait(job, timeout=60)["state"] == "finished"
        result = client.fetch(job)
    np.testing.assert_array_equal(result.audio, restore(audio, 48000, damage).audio)
    folders = [p for p in (daemon.journal / "blobs").iterdir() if p.name.startswith("incoming-")]
    stored = [f for folder in folders for f in folder.glob("in*.npy")]
    np.save(tmp_path / "expected.npy", audio, allow_pickle=False)
    assert any(f.read_bytes() == (tmp_path / "expected.npy").read_bytes() for f in stored)


def _submit_content(audio, options, job_id):
    from bridge.client import submit_message

    content, buffers = submit_message(
        audio, RATE, PhaseRetrieval(256, 64), options=options, job_id=job_id
    )
    return content, buffers


def test_model_requests(daemon, tmp_path):
    missing = tmp_path / "no-such-model"
    with daemon.client() as client:
        listing = client.models()
        assert listing["backends"] == ["dsp", "diffusion"] and listing["devices"] == ["cpu"]
        assert listing["models"] == []
        with pytest.raises(ModelError, match="no-such-model"):
            client.load_model(str(missing), wait=120)
        assert client.unload_model(str(missing)) is False
        assert client.ping()["capacity"]["running"] == 0  # still serving


def test_a_running_dsp_job_is_cancelled_and_ping_answers_meanwhile(daemon, clip):
    """The dsp job runs in a child process that a cancel kills (bridge.daemon.dsp_process);
    the request thread answers while it runs. How fast (a cancel within one 50 ms poll, pings
    under 100 ms) is measured by bench/responsiveness.py, not asserted here."""
    with daemon.client() as client:
        job_id = client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW)
        fractions = [wait_running(client, job_id)["fraction"]]
        while len(fractions) < 3:  # progress moves while it runs
            time.sleep(0.2)
            fractions.append(client.status(job_id)["fraction"])
        assert fractions == sorted(fractions) and fractions[-1] > fractions[0], fractions
        assert all(client.ping()["capacity"]["running"] == 1 for _ in range(5))
        assert client.cancel(job_id) in ("running", "cancelled")
        final = client.wait(job_id, timeout=60)
        assert final["state"] == "cancelled" and final["fraction"] < 1.0, final


def test_asyncio_client_waits_as_the_sync_one(daemon, clip):
    """Parity with Client.wait: timeout, on_status, other jobs' events kept for later, and the
    job cancelled when the progress callback raises Cancelled."""

    def stop(progress):
        raise Cancelled("enough")

    async def main():
        async with AsyncClient(daemon.connection) as client:
            slow = await client.submit(clip, RATE, PhaseRetrieval(256, 64), options=SLOW)
            quick = await client.submit(clip, RATE, PhaseRetrieval(256, 64),
                                        options={"iterations": 2})  # fmt: skip
            statuses, slow_events = [], []
            with pytest.raises(DiffMusicError, match="still running after"):
                await client.wait(quick, timeout=1.5, on_status=statuses.append)
            with pytest.raises(Cancelled):  # read while waiting for quick: kept for this wait
                await client.wait(slow, callback=stop, on_event=lambda k, _: slow_events.append(k))
            final_quick = await client.wait(quick, timeout=60)
            return statuses, slow_events, final_quick, await client.wait(slow, timeout=30)

    statuses, slow_events, final_quick, final_slow = asyncio.run(main())
    assert statuses and statuses[0]["state"] == "queued"  # silent while the slow job runs
    assert slow_events[0] == "accepted", slow_events  # published before its wait began
    assert final_quick["state"] == "finished" and final_slow["state"] == "cancelled"


def test_diagnose_through_the_daemon_equals_in_process(daemon, clip):
    """The daemon's diagnose reply is the engine's diagnosis of the same audio, and a request
    without audio is refused with a line naming what is missing."""
    from diffmusic_engine.diagnose import diagnose

    audio = clip.copy()
    audio[:, int(0.5 * RATE) : int(0.6 * RATE)] = 0.0  # one interior dropout
    dipped = clip.copy()  # and one as a lossy codec leaves it: 10 ms 40 dB down
    dipped[:, int(0.5 * RATE) : int(0.51 * RATE)] *= 0.01
    with daemon.client(timeout=60) as client:
        found = client.diagnose(audio, RATE)
        through = client.diagnose(dipped, RATE, lossy=True)
        with pytest.raises(RequestRejected, match="one buffer, named 'audio'"):
            client.request("diagnose", {"buffers": []})
    assert found == json.loads(json.dumps(diagnose(audio, RATE)))
    assert found["dropouts"] == [{"start": 0.5, "end": 0.6, "channels": [1, 2]}]
    assert through == json.loads(json.dumps(diagnose(dipped, RATE, lossy=True)))
    assert [finding.get("lossy") for finding in through["dropouts"]] == [True]
    assert diagnose(dipped, RATE)["dropouts"] == []  # not lossy coded: a gate's dip
