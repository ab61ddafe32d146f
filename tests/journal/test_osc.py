"""OSC on real loopback UDP: notifications reach a python-osc server; control messages work."""

from __future__ import annotations

import logging
import queue
import socket
import threading

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from bridge.osc import DONE, OscControl, OscNotifier
from diffmusic_engine.errors import DiffMusicError

TIMEOUT = 5.0


class Receiver:
    """A python-osc UDP server on loopback that queues every (address, args) it receives."""

    def __init__(self) -> None:
        self.messages: queue.Queue = queue.Queue()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.put((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.start()

    def until(self, address: str) -> list[tuple[str, tuple]]:
        """Everything received up to and including the first message to ``address``."""
        received = []
        while not received or received[-1][0] != address:
            received.append(self.messages.get(timeout=TIMEOUT))
        return received

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


@pytest.fixture
def receiver():
    opened = Receiver()
    yield opened
    opened.close()


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_notifier_sends_rate_limited_progress_then_done_and_reaper_action(receiver):
    ticks = Ticks()
    notifier = OscNotifier([("127.0.0.1", receiver.port)], reaper_action="_RS1234abcd", clock=ticks)
    notifier.progress("job-1", 0.25)
    notifier.progress("job-1", 0.375)  # same instant: over 10/s, dropped
    notifier.progress("job-2", 0.5)  # the limit is per job
    ticks.now += 0.05
    notifier.progress("job-1", 0.4375)  # 50 ms later: still dropped
    ticks.now += 0.06
    notifier.progress("job-1", 0.625)  # 110 ms after the last sent one
    notifier.progress("job-1", 1.0)  # the end always goes
    notifier.done("job-1", "/music/take 1_restored.wav")
    assert receiver.until("/action/_RS1234abcd") == [
        ("/diffmusic/progress", ("job-1", 0.25)),
        ("/diffmusic/progress", ("job-2", 0.5)),
        ("/diffmusic/progress", ("job-1", 0.625)),
        ("/diffmusic/progress", ("job-1", 1.0)),
        ("/diffmusic/done", ("job-1", "/music/take 1_restored.wav")),
        ("/action/_RS1234abcd", ()),
    ]
    notifier.close()


def test_notifier_numeric_action_and_several_targets(receiver):
    second = Receiver()
    try:
        targets = [("127.0.0.1", receiver.port), ("127.0.0.1", second.port)]
        notifier = OscNotifier(targets, reaper_action="40044")
        notifier.done("j", "/out.wav")
        for each in (receiver, second):
            assert each.until("/action/40044") == [
                ("/diffmusic/done", ("j", "/out.wav")),
                ("/action/40044", ()),
            ]
        notifier.close()
    finally:
        second.close()


def test_done_says_why_when_the_output_is_the_input(receiver):
    notifier = OscNotifier([("127.0.0.1", receiver.port)])
    notifier.done("j", "/out.wav", "nothing found\n  to restore")
    why = "no band limit found: " + "é" * 3000
    notifier.done("k", "/k.wav", why)
    notifier.close()
    assert receiver.until(DONE)[-1] == (DONE, ("j", "/out.wav", "nothing found to restore"))
    ((_, (job, path, cut)),) = receiver.until(DONE)
    # What is left of the datagram after the job id and path, at most 512 bytes of text.
    assert (job, path) == ("k", "/k.wav") and cut == why[: (512 - 3 - 21) // 2 + 21] + "..."


def test_failed_message_is_cut_to_a_small_datagram():
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.settimeout(TIMEOUT)
    try:
        notifier = OscNotifier([("127.0.0.1", raw.getsockname()[1])])
        message = "model not found: " + "é" * 3000 + "\nsecond line"
        notifier.failed("job-9", message)
        datagram = raw.recv(65536)
        notifier.close()
    finally:
        raw.close()
    assert len(datagram) < 1024
    parsed = OscMessage(datagram)
    assert parsed.address == "/diffmusic/failed"
    job, text = parsed.params
    assert job == "job-9" and text.startswith("model not found: éé") and text.endswith("...")
    assert len(text.encode("utf-8")) <= 512


def test_notifier_never_raises_on_send_failure(receiver, caplog):
    notifier = OscNotifier([("127.0.0.1", receiver.port)])
    for client in notifier._clients:
        client.close()  # every send now fails with an OSError
    with caplog.at_level(logging.WARNING, logger="bridge.osc"):
        notifier.progress("j", 0.5)
        notifier.done("j", "/x.wav")
        notifier.failed("j", "boom")
    assert sum("failed" in r.getMessage() for r in caplog.records) == 3


def test_notifier_rejects_bad_configuration():
    with pytest.raises(DiffMusicError, match="REAPER action"):
        OscNotifier([("127.0.0.1", 9000)], reaper_action="/action/40044; rm")
    with pytest.raises(DiffMusicError, match="port"):
        OscNotifier([("127.0.0.1", 70000)])


def test_control_cancel_ping_and_unknown(caplog):
    cancelled: queue.Queue = queue.Queue()
    pings: list[bool] = []

    def on_cancel(job: str) -> None:
        if job == "explode":
            raise RuntimeError("callback bug")
        cancelled.put(job)

    control = OscControl(0, on_cancel=on_cancel, on_ping=lambda: pings.append(True))
    assert control.port > 0
    control.start()
    client = SimpleUDPClient("127.0.0.1", control.port)
    try:
        with caplog.at_level(logging.INFO, logger="bridge.osc"):
            client.send_message("/diffmusic/unknown", 1)  # logged, ignored
            client.send_message("/diffmusic/cancel", 42)  # not a job id: ignored
            client.send_message("/diffmusic/cancel", "explode")  # the server survives
            client.send_message("/diffmusic/cancel", "job-7")
            assert cancelled.get(timeout=TIMEOUT) == "job-7"
            client.send_message("/diffmusic/ping", 99)
            reply = OscMessage(client.receive(timeout=TIMEOUT))
        assert cancelled.empty()
        assert (reply.address, reply.params) == ("/diffmusic/pong", [99])
        assert pings == [True]
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "/diffmusic/unknown" in logged and "ignored" in logged
    finally:
        client.close()
        control.stop()
    # Stopped: the port is free again.
    rebound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rebound.bind(("127.0.0.1", control.port))
    rebound.close()


def osc_message(address: str, typed_args: list[tuple[object, str]]) -> OscMessage:
    builder = OscMessageBuilder(address)
    for value, osc_type in typed_args:
        builder.add_arg(value, osc_type)
    return builder.build()


def test_ping_is_echoed_with_each_argument_of_its_own_osc_type():
    """A float64 ('d') timestamp had come back as float32 ('f'), rounded (1733389200.123456 ->
    1733389184.0: a round trip timed 16 s off), a small int64 ('h') as int32 ('i')."""
    stamp = 1733389200.123456
    typed = [(stamp, "d"), (7, "h"), (0.5, "f"), ("tag", "s"), (3, "i"), (True, "T"),
             (b"\x01\x02", "b")]  # fmt: skip
    ping = osc_message("/diffmusic/ping", typed)
    bundled = osc_message("/diffmusic/ping", [(2.0**-40, "d")])
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(bundled)
    control = OscControl(0, on_cancel=lambda job: None)
    control.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(TIMEOUT)
    try:
        replies = []
        for datagram in (ping.dgram, bundle.build().dgram, b"/diffmusic/ping\x00"):
            client.sendto(datagram, ("127.0.0.1", control.port))
            replies.append(OscMessage(client.recv(2048)))
    finally:
        client.close()
        control.stop()
    pong, bundled_pong, bare_pong = replies
    assert pong.address == "/diffmusic/pong"
    assert pong.dgram.split(b",", 1)[1] == ping.dgram.split(b",", 1)[1]  # tags and bytes
    assert pong.params == [stamp, 7, 0.5, "tag", 3, True, b"\x01\x02"]
    assert pong.params[0] == 1733389200.123456  # float32 would hold 1733389184.0
    assert bundled_pong.params == [2.0**-40] and bundled_pong.address == "/diffmusic/pong"
    assert (bare_pong.address, bare_pong.params) == ("/diffmusic/pong", [])


def test_control_reports_a_busy_port():
    first = OscControl(0, on_cancel=lambda job: None)
    try:
        with pytest.raises(DiffMusicError, match="cannot listen for OSC"):
            OscControl(first.port, on_cancel=lambda job: None)
    finally:
        first.stop()


def test_a_daemon_whose_osc_port_is_taken_leaves_no_connection_file(tmp_path):
    """The OSC port is bound before the connection file is written: a clients' file naming a
    daemon that never started (a dead pid, a fresh key) used to stay behind."""
    from bridge.daemon import LocalExecutor, Server, ServerConfig

    taken = OscControl(0, on_cancel=lambda job: None)
    connection = tmp_path / "connection.json"
    config = ServerConfig(connection_file=connection, journal_dir=tmp_path / "journal",
                          osc_port=taken.port)  # fmt: skip
    try:
        busy = f"cannot listen for OSC on 127.0.0.1:{taken.port}"
        with pytest.raises(DiffMusicError, match=busy):
            Server(config, LocalExecutor(("cpu",)))
    finally:
        taken.stop()
    assert not connection.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
