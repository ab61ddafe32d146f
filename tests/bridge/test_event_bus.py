"""The daemon's event bus: events from several threads leave in sequence order."""

from __future__ import annotations

import threading

import pytest
import zmq

from bridge.daemon.events import EventBus
from bridge.protocol import decode

KEY = b"k" * 32


@pytest.fixture
def pub_sub():
    context = zmq.Context()
    pub, sub = context.socket(zmq.PUB), context.socket(zmq.SUB)
    for sock in (pub, sub):
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    yield pub, sub
    pub.close(0)
    sub.close(0)
    context.term()


def test_events_published_from_many_threads_arrive_in_seq_order(pub_sub):
    """Clients drop an event whose seq is not newer than the last one seen. Seq numbers used to
    be taken under the lock but queued after it, so concurrent publishers (worker progress,
    request-thread probes and cancels) could send them out of order: events silently lost."""
    pub, sub = pub_sub
    bus = EventBus(pub, KEY, "session")
    try:
        while True:  # until the subscription has reached the PUB socket
            bus.publish("warm-up", "probe")
            if sub.poll(50):
                break
        while sub.poll(100):
            sub.recv_multipart()
        threads, per_thread = 4, 3000

        def publish() -> None:
            for step in range(per_thread):
                bus.publish("job", "progress", step=step)

        workers = [threading.Thread(target=publish) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seqs = []
        while len(seqs) < threads * per_thread and sub.poll(5000):
            seqs.append(decode(sub.recv_multipart()[1:], KEY).content["seq"])
    finally:
        bus.close()
    assert len(seqs) == threads * per_thread
    late = [(a, b) for a, b in zip(seqs, seqs[1:], strict=False) if b <= a]
    assert not late, f"{len(late)} events behind an already sent newer one"
