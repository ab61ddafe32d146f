"""Bad messages are rejected (or, unauthenticated, dropped) and the daemon keeps serving."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import replace

import numpy as np
import pytest
import zmq
from bridge_helpers import free_port

from bridge.client import Client, RequestRejected, submit_message
from bridge.connection import DaemonUnavailable, read_connection_file, write_connection_file
from bridge.defaults import DEFAULT_LIMITS
from bridge.protocol import VERSION, Message, buffer_spec, decode, encode, sign
from diffmusic_engine.api import restore
from diffmusic_engine.damage import Dereverb, Gap, Inpaint, PhaseRetrieval
from diffmusic_engine.errors import DamageError, InputError

RATE = 16000


@pytest.fixture
def raw(daemon):
    """A bare DEALER socket to the daemon, and its key."""
    info = read_connection_file(daemon.connection)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(info.request_address)
    yield sock, info.key_bytes
    sock.close(0)
    context.term()


def receive(sock, key, timeout=10.0):
    """The next reply, decoded, or None if nothing comes within ``timeout``."""
    if not sock.poll(int(timeout * 1000)):
        return None
    return decode(sock.recv_multipart(), key)


def assert_job_still_completes(daemon, clip):
    with daemon.client() as client:
        job = client.submit(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 2})
        assert client.wait(job, timeout=60)["state"] == "finished"
        expected = restore(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 2})
        np.testing.assert_array_equal(client.fetch(job).audio, expected.audio)


def test_wrong_key_is_dropped_without_reply(daemon, clip, tmp_path):
    info = read_connection_file(daemon.connection)
    forged = tmp_path / "forged.json"
    write_connection_file(forged, info.__class__(**{**info.__dict__, "key": "00" * 32}))
    with Client(forged, timeout=1.0, retries=2) as client:
        with pytest.raises(DaemonUnavailable, match="no reply to ping"):
            client.ping()
    assert "dropped unauthenticated message" in daemon.log.read_text()
    assert_job_still_completes(daemon, clip)


def test_a_connection_file_whose_pid_another_program_has_is_refused_at_once(daemon, tmp_path):
    """A crash's connection file names a pid the system has since given to another program
    (here, this test's own process), at a port where nothing listens: three tries of the
    timeout had passed before an error that named no cure."""
    info = read_connection_file(daemon.connection)
    stale = tmp_path / "stale.json"
    port = free_port(socket.SOCK_STREAM)
    write_connection_file(stale, replace(info, pid=os.getpid(), request_port=port))
    with Client(stale, timeout=5.0) as client:  # (its tries had ended "no reply to ping")
        with pytest.raises(DaemonUnavailable, match="holds no socket there .*diffmusic serve"):
            client.ping()


def test_replayed_and_stale_messages_are_rejected(daemon, raw, clip):
    sock, key = raw
    frames = encode(Message("ping"), key)
    sock.send_multipart(frames)
    assert receive(sock, key).type == "ping-reply"
    sock.send_multipart(frames)  # the very same signed frames again
    reply = receive(sock, key)
    assert reply.type == "error" and reply.content["code"] == "replayed"
    sock.send_multipart(encode(Message("ping", time=time.time() - 120), key))
    reply = receive(sock, key)
    assert reply.type == "error" and reply.content["code"] == "stale"
    assert "120" in reply.content["message"] or "-12" in reply.content["message"]
    assert_job_still_completes(daemon, clip)


def test_malformed_header_and_unknown_type(daemon, raw):
    sock, key = raw
    header = json.dumps({"type": "ping", "time": time.time()}).encode()  # no msg_id
    sock.send_multipart([VERSION, sign(key, [VERSION, header, b"{}"]), header, b"{}"])
    reply = receive(sock, key)
    assert reply.content == {
        "status": "error",
        "code": "malformed-header",
        "message": "header field 'msg_id' missing or mistyped",
    }
    garbage = b"\xff not json"
    sock.send_multipart([VERSION, sign(key, [VERSION, garbage, b"{}"]), garbage, b"{}"])
    assert receive(sock, key).content["code"] == "malformed-header"
    message = Message("frobnicate")
    sock.send_multipart(encode(message, key))
    reply = receive(sock, key)
    assert reply.parent_id == message.msg_id and reply.content["code"] == "unknown-type"
    assert "frobnicate" in reply.content["message"]


def test_oversized_message_is_dropped_and_the_daemon_keeps_serving(daemon, raw, clip):
    sock, key = raw
    big = np.zeros((1, 600_000), np.float32)  # 2.4 MB > the daemon's --max-message-mb 2
    message = Message("submit", {"buffers": [buffer_spec("audio", big, RATE)]}, [big])
    sock.send_multipart(encode(message, key))
    assert receive(sock, key, timeout=2.0) is None  # ZeroMQ dropped the connection
    assert_job_still_completes(daemon, clip)


def staged_folders(daemon, timeout=10.0):
    """Staging folders still in the journal once the staging thread had time to remove them."""
    deadline = time.monotonic() + timeout
    while True:
        folders = [p for p in (daemon.journal / "blobs").glob("incoming-*")]
        unclaimed = [f for f in folders if unclaimed_folder(f)]
        if not unclaimed or time.monotonic() > deadline:
            return unclaimed
        time.sleep(0.05)


def unclaimed_folder(folder) -> bool:
    """A staging folder holding no .npy (a job's hold them); one the staging thread removed
    between the listing and this look is gone, not unclaimed (a CI run had raised there)."""
    try:
        return not any(folder.glob("*.npy"))
    except FileNotFoundError:
        return False


def test_big_audio_of_a_rejected_message_leaves_nothing_in_the_journal(daemon, raw, clip):
    """Audio over 1 MiB is staged to disk while its message is checked; a forged or invalid
    message must leave none of it behind."""
    sock, key = raw
    long = np.zeros((2, 200_000), np.float32)  # 1.6 MB, 12.5 s: over the daemon's 5 s limit
    content, buffers = submit_message(long, RATE, PhaseRetrieval(256, 64))
    message = Message("submit", content, buffers)
    sock.send_multipart(encode(message, b"forged key"))
    assert receive(sock, key, timeout=1.0) is None  # unauthenticated: dropped
    message = Message("submit", content, buffers)
    sock.send_multipart(encode(message, key))
    reply = receive(sock, key)
    assert reply.content["code"] == "too-large" and reply.parent_id == message.msg_id
    assert staged_folders(daemon) == []
    with Client(daemon.connection) as client:
        assert content["job"] not in [j["job"] for j in client.jobs()]
    assert_job_still_completes(daemon, clip)


def submit_error(client, audio, damage, **kwargs):
    with pytest.raises(RequestRejected) as info:
        client.submit(audio, RATE, damage, watch=False, **kwargs)
    return info.value.code, str(info.value)


def test_bad_jobs_get_clear_error_replies(daemon, clip):
    pr = PhaseRetrieval(256, 64)
    with daemon.client() as client:
        known = len(client.jobs())
        nan = clip.copy()
        nan[1, 100] = np.inf
        code, text = submit_error(client, nan, pr)
        assert (
            code == "invalid-audio"
            and "non-finite" in text
            and "channel 2 of 2 at sample 100" in text
        )
        code, text = submit_error(client, clip[None], pr)
        assert code == "invalid-audio" and "(channels, samples)" in text
        code, text = submit_error(client, np.zeros((2, 6 * RATE), np.float32), pr)
        assert code == "too-large" and "at most 5 s: send it in parts" in text
        code, text = submit_error(client, np.zeros((9, RATE), np.float32), pr)
        assert code == "too-large" and "9 channels" in text
        code, text = submit_error(client, clip, {"task": "denoise"})
        assert code == "invalid-damage" and "'denoise'" in text
        code, text = submit_error(client, clip, Inpaint((Gap(0.5, 1.5),)))
        assert code == "invalid-damage" and "ends after the audio" in text
        # an impulse response neither mono nor one per channel: refused, not journalled and
        # failed once it ran (the daemon had accepted it)
        three = Dereverb(rir=np.tile(np.r_[1.0, np.zeros(99)], (3, 1)), rir_rate=RATE)
        code, text = submit_error(client, clip, three)
        assert code == "invalid-damage"
        assert text.endswith("has 3 channels, the audio 2; give a mono impulse response (or one "
                             "per channel)")  # fmt: skip
        code, text = submit_error(client, clip, Dereverb(rir=np.zeros(100), rir_rate=RATE))
        assert code == "invalid-damage"  # a silent one too (it had been journalled, then failed)
        assert text.endswith("is silent (all zeros); give the room's measured one")
        code, text = submit_error(client, clip, pr, options={"iterations": -3})
        assert code == "invalid-options" and "iterations" in text
        code, text = submit_error(client, clip, pr, options={"wobble": 1})
        assert code == "invalid-options" and "wobble" in text
        code, text = submit_error(client, clip, pr, backend="diffusion", options={"steps": 0})
        assert code == "invalid-options" and "steps" in text
        code, text = submit_error(client, clip, pr, options={"guidance_dtype": "float16"})
        assert code == "invalid-options" and "guidance_dtype" in text
        code, text = submit_error(client, clip, pr, backend="magic")
        assert code == "invalid-options" and "magic" in text
        code, text = submit_error(client, clip, pr, backend=["dsp"])  # had been "internal"
        assert code == "invalid-options"
        assert text.endswith("backend ['dsp']: expected one of dsp, diffusion")
        code, text = submit_error(client, clip, pr, job_id="../etc/passwd")
        assert code == "bad-request"
        many = {"task": "declick", "clicks": [[0.1, 0.1005]] * (DEFAULT_LIMITS.max_spans + 1)}
        code, text = submit_error(client, clip, many)
        assert code == "too-large"
        assert f": {DEFAULT_LIMITS.max_spans + 1} clicks, at most 10000 in one job: send" in text
        content, buffers = submit_message(clip, RATE, pr)
        content["buffers"][0]["shape"] = [2, RATE + 1]
        with pytest.raises(RequestRejected, match="bytes"):
            client.request("submit", content, buffers)
        assert len(client.jobs()) == known  # nothing rejected was journalled


def test_a_missing_impulse_response_file_is_named_as_one_before_sending(clip, tmp_path):
    """submit reads the response to send it: a mistyped --rir (blnd) had said "blnd: no such
    file", where restore names the impulse response and what to give."""
    missing = tmp_path / "blnd"
    with pytest.raises(DamageError) as info:
        submit_message(clip, RATE, Dereverb(rir=missing))
    remedy = 'give the room\'s impulse-response file, or "blind" to estimate the room'
    assert str(info.value) == f"impulse response {missing}: no such file; {remedy}"


def test_a_non_finite_impulse_response_file_is_named_as_one(clip, tmp_path):
    """A NaN in the response's file had been said of the file alone ("ir.wav: 1 non-finite
    samples"): submit, which reads it to send it, and restore name the impulse response."""
    import soundfile as sf

    from diffmusic_engine.audio import NON_FINITE_FILE_REMEDY

    path = tmp_path / "ir.wav"
    samples = np.zeros(64, np.float32)
    samples[[0, 3]] = 1.0, np.nan
    sf.write(path, samples, RATE, subtype="FLOAT")
    said = (f"impulse response {path}: 1 non-finite samples (NaN/Inf), the first in channel 1 "
            f"of 1 at sample 3; {NON_FINITE_FILE_REMEDY}")  # fmt: skip
    with pytest.raises(InputError) as sent:
        submit_message(clip, RATE, Dereverb(rir=path))
    with pytest.raises(InputError) as restored:
        restore(clip, RATE, Dereverb(rir=path))
    assert str(sent.value) == str(restored.value) == said


def signed_raw(key, header: bytes, content: bytes = b"{}") -> list[bytes]:
    return [VERSION, sign(key, [VERSION, header, content]), header, content]


def test_signed_but_pathological_headers_are_rejected_and_the_daemon_survives(daemon, raw):
    """A huge integer time used to raise OverflowError out of the request loop (the daemon
    died); a NaN time passed every staleness check (so its id could be replayed once it left
    the replay memory); deeply nested JSON raised RecursionError (the daemon died)."""
    sock, key = raw
    for time_text in ("1" + "0" * 400, "NaN", "Infinity"):
        header = f'{{"msg_id":"{"ab" * 16}","type":"ping","time":{time_text}}}'.encode()
        sock.send_multipart(signed_raw(key, header))
        reply = receive(sock, key, timeout=5.0)
        assert reply is not None, f"no reply to time={time_text[:8]}: {daemon.log.read_text()}"
        assert reply.content["code"] in ("malformed-header", "stale"), reply.content
        assert reply.content["code"] == "malformed-header" or time_text == "Infinity"
    deep = b"[" * 100_000 + b"]" * 100_000
    header = json.dumps({"msg_id": "cd" * 16, "type": "ping", "time": time.time()}).encode()
    sock.send_multipart(signed_raw(key, header, deep))
    reply = receive(sock, key, timeout=5.0)
    assert reply is not None and reply.content["code"] == "malformed-header", daemon.log.read_text()
    assert daemon.process.poll() is None
    sock.send_multipart(encode(Message("ping"), key))
    assert receive(sock, key).type == "ping-reply"
