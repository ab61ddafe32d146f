"""Replay protection across a daemon restart (same connection file, same key)."""

from __future__ import annotations

import threading

import zmq
from bridge_helpers import Daemon

from bridge.connection import read_connection_file
from bridge.protocol import Message, decode, encode


def send_frames(daemon: Daemon, frames: list[bytes]) -> Message:
    """Send already signed frames to the daemon and return its (checked) reply."""
    info = read_connection_file(daemon.connection)
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(info.request_address)
        sock.send_multipart(frames)
        assert sock.poll(5000), "no reply"
        return decode(sock.recv_multipart(), info.key_bytes)
    finally:
        sock.close(0)
        context.term()


def test_a_message_captured_before_a_restart_is_stale_after_it(tmp_path):
    daemon = Daemon(tmp_path)
    try:
        daemon.start()
        key = read_connection_file(daemon.connection).key_bytes
        captured = [bytes(f) for f in encode(Message("status", {}), key)]
        assert send_frames(daemon, captured).type == "status-reply"
        assert send_frames(daemon, captured).content["code"] == "replayed"
        daemon.kill()  # the connection file stays: the next daemon reuses its key and ports

        daemon.start()  # well within the 30 s skew window of the captured message
        assert read_connection_file(daemon.connection).key_bytes == key
        reply = send_frames(daemon, captured)
        assert reply.type == "error" and reply.content["code"] == "stale"
        assert "before this daemon started" in reply.content["message"]
        fresh = [bytes(f) for f in encode(Message("status", {}), key)]
        assert send_frames(daemon, fresh).type == "status-reply"
    finally:
        daemon.stop()


def test_a_request_queued_during_a_restart_is_resent_by_the_client(tmp_path):
    """The client's socket holds a request sent while no daemon ran and delivers it to the new
    daemon, signed before that one started: ``stale``, and the client sends it again."""
    daemon = Daemon(tmp_path)
    try:
        daemon.start()
        with daemon.client(timeout=15.0, retries=2) as client:
            client.ping()
            daemon.kill()
            replies: list[dict] = []
            pinging = threading.Thread(target=lambda: replies.append(client.ping()))
            pinging.start()
            daemon.start()
            pinging.join(timeout=30)
        assert replies and replies[0]["daemon"]["pid"] == daemon.process.pid
        rejected = [line for line in daemon.log.read_text().splitlines() if "rejected" in line]
        assert len(rejected) == 1 and "ping" in rejected[0], rejected
        assert "before this daemon started" in rejected[0]
    finally:
        daemon.stop()
