"""The wire format and the connection file, without a daemon."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from bridge.connection import (
    ConnectionInfo,
    DaemonUnavailable,
    default_connection_path,
    read_connection_file,
    write_connection_file,
)
from bridge.protocol import (
    VERSION,
    ErrorCode,
    Message,
    ProtocolError,
    ReplayGuard,
    Unauthenticated,
    buffer_spec,
    decode,
    encode,
    frame_digest,
    no_result,
    read_buffers,
)

KEY = b"0123456789abcdef" * 4


def audio_message() -> tuple[Message, np.ndarray]:
    audio = np.arange(12, dtype=np.float32).reshape(2, 6) / 10
    message = Message("submit", {"buffers": [buffer_spec("audio", audio, 16000)]}, [audio])
    return message, audio


def test_signature_is_hmac_sha256_over_length_and_digest_of_each_frame():
    message, audio = audio_message()
    frames = [bytes(f) for f in encode(message, KEY)]
    # Recompute by the formula of docs/protocol.md, independently of bridge.protocol.sign.
    body = [frames[0], frames[2], frames[3], frames[4]]
    text = b"".join(len(f).to_bytes(8, "big") + hashlib.sha256(f).digest() for f in body)
    assert frames[0] == VERSION
    assert frames[1] == hmac.new(KEY, text, hashlib.sha256).hexdigest().encode()
    assert frames[4] == audio.astype("<f4").tobytes()
    decoded = decode(frames, KEY)
    assert decoded.type == "submit" and decoded.msg_id == message.msg_id
    arrays = read_buffers(decoded)
    np.testing.assert_array_equal(arrays["audio"][0], audio)
    assert arrays["audio"][1] == 16000


def test_long_frames_are_digested_piecewise():
    audio = np.random.default_rng(0).standard_normal((2, 300_000)).astype(np.float32)  # 2.4 MB
    data = audio.tobytes()
    pieces = [data[i : i + 2**20] for i in range(0, len(data), 2**20)]
    assert len(pieces) == 3
    expected = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in pieces)).digest()
    assert frame_digest(audio) == frame_digest(data) == expected
    message = Message("submit", {"buffers": [buffer_spec("audio", audio, 48000)]}, [audio])
    frames = [bytes(f) for f in encode(message, KEY)]
    body = [frames[0], frames[2], frames[3]]
    text = b"".join(len(f).to_bytes(8, "big") + hashlib.sha256(f).digest() for f in body)
    text += len(data).to_bytes(8, "big") + expected
    assert frames[1] == hmac.new(KEY, text, hashlib.sha256).hexdigest().encode()
    assert decode(frames, KEY).digests == [expected]


@pytest.mark.parametrize("frame", [0, 2, 3, 4])
def test_any_altered_frame_fails_authentication(frame):
    frames = [bytearray(f) for f in encode(audio_message()[0], KEY)]
    frames[frame][-1] ^= 1  # one bit, in the version tag, header, content or audio
    with pytest.raises(Unauthenticated):
        decode([bytes(f) for f in frames], KEY)


def test_wrong_key_dropped_missing_frames_dropped():
    frames = encode(audio_message()[0], KEY)
    with pytest.raises(Unauthenticated, match="signature"):
        decode(frames, b"another key")
    with pytest.raises(Unauthenticated, match="frames"):
        decode(frames[:3], KEY)
    with pytest.raises(Unauthenticated):
        decode(frames[:4], KEY)  # a buffer removed: the signature covered it


def test_signed_but_malformed_header_is_a_protocol_error():
    header = json.dumps({"type": "ping", "time": 1.0}).encode()  # no msg_id
    body = [VERSION, header, b"{}"]
    text = b"".join(len(f).to_bytes(8, "big") + hashlib.sha256(f).digest() for f in body)
    signature = hmac.new(KEY, text, hashlib.sha256).hexdigest().encode()
    with pytest.raises(ProtocolError, match="msg_id") as info:
        decode([VERSION, signature, header, b"{}"], KEY)
    assert info.value.code == "malformed-header"


def test_replay_guard_rejects_duplicates_and_stale_times():
    guard = ReplayGuard(max_skew=30)
    message = Message("ping", time=1000.0)
    guard.check(message, now=1000.0)
    with pytest.raises(ProtocolError) as info:
        guard.check(message, now=1001.0)
    assert info.value.code == "replayed"
    with pytest.raises(ProtocolError) as info:
        guard.check(Message("ping", time=1000.0), now=1031.0)
    assert info.value.code == "stale"
    guard.check(Message("ping", time=1100.0), now=1100.0)  # old ids are forgotten
    assert message.msg_id not in guard._seen


def test_replay_guard_rejects_messages_signed_before_it_started():
    guard = ReplayGuard(max_skew=30, not_before=1000.0)
    with pytest.raises(ProtocolError, match="0.001 s before this daemon started") as info:
        guard.check(Message("ping", time=999.999), now=1000.5)  # within the skew window
    assert info.value.code == "stale"
    guard.check(Message("ping", time=1000.0), now=1000.5)


@pytest.mark.parametrize("shape", [[2, 7], [2**32, 2**32], [0, 6]])
def test_buffer_size_must_match_its_shape(shape):
    """[2**32, 2**32] has 2**64 samples, which int64 wraps to 0 (it reached reshape, and the
    daemon answered "internal"); [0, 6] says no bytes for a frame of 48."""
    message, _ = audio_message()
    message.content["buffers"][0]["shape"] = shape
    decoded = decode(encode(message, KEY), KEY)
    needed = f"needs {4 * shape[0] * shape[1]} bytes, frame has 48"
    with pytest.raises(ProtocolError, match=needed) as info:
        read_buffers(decoded)
    assert info.value.code == "bad-request"


def test_a_buffer_name_listed_twice_is_refused():
    message, audio = audio_message()
    message.content["buffers"] *= 2
    message.buffers.append(audio)
    with pytest.raises(ProtocolError, match="'audio' is listed twice") as info:
        read_buffers(decode(encode(message, KEY), KEY))
    assert info.value.code == "bad-request"


def test_connection_file_is_private_and_refuses_an_empty_key(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "connection.json"
    info = ConnectionInfo("127.0.0.1", 5001, 5002, "ab" * 32, pid=42)
    write_connection_file(path, info)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_connection_file(path) == info
    with pytest.raises(DaemonUnavailable, match="empty key"):
        write_connection_file(path, ConnectionInfo("127.0.0.1", 1, 2, ""))
    path.write_text(json.dumps({"host": "127.0.0.1", "request_port": 1, "event_port": 2,
                                "key": ""}))  # fmt: skip
    with pytest.raises(DaemonUnavailable, match="empty key"):
        read_connection_file(path)
    with pytest.raises(DaemonUnavailable, match="no connection file"):
        read_connection_file(tmp_path / "missing.json")
    monkeypatch.setenv("DIFFMUSIC_CONNECTION", str(path))
    assert default_connection_path() == path
    monkeypatch.delenv("DIFFMUSIC_CONNECTION")
    assert default_connection_path().parts[-3:] == (".config", "diffmusic", "connection.json")


def test_the_error_codes_the_daemon_sends_are_the_ones_the_protocol_documents():
    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    table = text[text.index("**Error codes.**") : text.index("## Events (PUB)")]
    documented = set(re.findall(r"`([a-z-]+)`", table))
    sent = {code.value for code in ErrorCode} - {ErrorCode.UNAUTHENTICATED}
    assert documented == sent


def test_a_job_without_a_result_says_why_and_what_to_do():
    """fetch's not-finished line and a waiting submit's: a failed job's own error (it names
    what went wrong), a cancelled one's reason; never "is cancelled" and no more."""
    again = "so it has no result; submit it again, under a new job id (a job id runs once)"
    assert no_result("j", "failed", "model x: not found; give a local folder") == (
        "job j failed, so it has no result: model x: not found; give a local folder"
    )
    assert no_result("j", "failed") == f"job j failed, {again}"
    assert no_result("j", "cancelled") == f"job j was cancelled, {again}"
    said = no_result("j", "cancelled", "interrupted")
    assert said == f"job j was cancelled (interrupted), {again}"
    assert no_result("j", "queued") == (
        "job j is queued: it has no result yet; fetch it once it is finished (its status says when)"
    )
