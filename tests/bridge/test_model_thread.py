"""``load-model`` and ``unload-model`` never hold up the daemon's request thread."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zmq
from bridge_helpers import Daemon

from bridge.client import Client
from bridge.protocol import Message, decode, event_topic

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None, reason="needs the diffusion extras"
)


class SlowFile:
    """A file whose reader waits until the test lets it through (a FIFO): a model folder on a
    slow disk, so that a load is in progress for as long as the test needs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.content = path.read_bytes()
        path.unlink()
        os.mkfifo(path)
        self.opened = threading.Event()  # a reader (the daemon's loader) is waiting for it
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with open(self.path, "wb") as fifo:  # returns once a reader has opened the FIFO
            self.opened.set()
            self.release.wait()
            fifo.write(self.content)

    def close(self) -> None:
        self.release.set()
        if not self.opened.is_set():  # nobody read it: a reader of our own lets the writer end
            reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.thread.join(timeout=5)
            os.close(reader)
        self.thread.join(timeout=5)


def subscribe_model_events(daemon: Daemon, context: zmq.Context) -> zmq.Socket:
    """A SUB socket that surely receives the model events from now on (confirmed by a probe)."""
    client = daemon.client()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(client.info.event_address)
    for topic in (event_topic(None), event_topic("model-probe")):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    try:
        deadline = time.monotonic() + 10
        while not sub.poll(20):
            assert time.monotonic() < deadline, "the subscription never reached the daemon"
            client.request("ping", {"probe": "model-probe"})
        return sub
    finally:
        client.close()


def next_event(sub: zmq.Socket, key: bytes, timeout: float = 30.0) -> Message:
    """The next event other than a probe (several pings may have asked for one)."""
    while True:
        assert sub.poll(int(timeout * 1000)), "no event"
        event = decode(sub.recv_multipart()[1:], key)
        if event.type != "probe":
            return event


def models_listed(client: Client) -> list[str]:
    return [m["id"] for m in client.models()["models"]]


def tiny_pipelines(folder: Path) -> tuple[str, str]:
    """Two copies of a tiny random-weight pipeline (two model ids)."""
    from diffmusic_engine.models.testing import save_tiny_pipeline

    resident = save_tiny_pipeline("musicldm", folder / "resident")
    return str(resident), str(shutil.copytree(resident, folder / "loading"))


def test_ping_and_unload_answer_at_once_while_a_model_loads(tmp_path, monkeypatch):
    # Seconds go to importing diffusers, here to build the pipelines and in the daemon to load
    # them: both at once. Preloading a pipeline without weights makes the daemon import it.
    stub = tmp_path / "stub"
    stub.mkdir()
    index = {"_class_name": "MusicLDMPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}
    (stub / "model_index.json").write_text(json.dumps(index))
    daemon = Daemon(tmp_path, "--preload", str(stub))
    context = zmq.Context()
    slow = None
    try:
        with ThreadPoolExecutor(1) as builder:
            pipelines = builder.submit(tiny_pipelines, tmp_path)
            daemon.start()
            resident, loading = pipelines.result()
        slow = SlowFile(Path(loading) / "scheduler" / "scheduler_config.json")
        with daemon.client(timeout=5.0, retries=1) as client:
            client.load_model(resident, wait=60)
            events = subscribe_model_events(daemon, context)
            client.load_model(loading)
            assert slow.opened.wait(timeout=30)  # the load is in progress, holding the backend
            # lock (diffmusic_engine.diffusion._models_lock) until the file is let through
            # answered while the load cannot finish (the FIFO holds it until released): a
            # request thread waiting on it would time out (5 s, one retry) instead
            assert client.unload_model(resident) is True  # queued behind the load
            for _ in range(3):
                client.ping()
            assert models_listed(client) == [resident]  # the load and the unload are pending
            slow.release.set()
            key = client.info.key_bytes
            loaded, unloaded = next_event(events, key), next_event(events, key)
            assert (loaded.type, loaded.content["model"]) == ("model-loaded", loading)
            assert (unloaded.type, unloaded.content["model"]) == ("model-unloaded", resident)
            assert models_listed(client) == [loading]
            assert client.unload_model("never-loaded") is False
            # a folder named from the client's own folder, with a trailing slash, is the model
            # the daemon holds under its absolute path (the daemon runs in another folder)
            monkeypatch.chdir(tmp_path)
            assert client.unload_model("loading/") is True
            assert client.load_model("resident/", wait=60)["id"] == resident
            assert models_listed(client) == [resident]
    finally:
        if slow is not None:
            slow.close()
        context.destroy(linger=0)
        daemon.stop()
