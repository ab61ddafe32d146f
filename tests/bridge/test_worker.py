"""The local executor's parts: the priority queue and the model cache (no daemon needed)."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from bridge.daemon.models import ModelCache, model_bytes
from bridge.daemon.worker import JobQueue


def test_queue_runs_higher_priority_first_then_first_come():
    queue = JobQueue()
    for job, priority in (("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)):
        queue.put(job, priority)
    assert queue.remove("c") and not queue.remove("c")
    assert len(queue) == 4
    assert [queue.get() for _ in range(4)] == ["b", "d", "a", "e"]
    waiting = []
    thread = threading.Thread(target=lambda: waiting.append(queue.get()))
    thread.start()
    queue.close()
    thread.join(timeout=5)
    assert waiting == [None]


class Adapter:
    """Stands for a model adapter: holds a torch module of known size."""

    def __init__(self, n: int) -> None:
        self.net = torch.nn.Linear(n, n)  # n*n weights + n biases, float32


def test_model_bytes_counts_parameters():
    assert model_bytes(Adapter(10)) == (10 * 10 + 10) * 4


def test_cache_evicts_least_recently_used_beyond_the_budget():
    loads, unloads = [], []

    def loader(model, device):
        loads.append(model)
        return Adapter(10)  # 440 bytes each

    cache = ModelCache(1000, loader, lambda model, device: unloads.append(model))
    a = cache.get("a")
    cache.get("b")
    assert cache.get("a") is a and loads == ["a", "b"]  # resident: not loaded again
    cache.get("c")  # 1320 > 1000: "b" is the least recently used
    assert unloads == ["b"]
    assert [m["id"] for m in cache.list()] == ["a", "c"]
    assert cache.unload("a") and not cache.unload("a")
    assert unloads == ["b", "a"] and cache.total_bytes() == 440


def test_a_model_bigger_than_the_budget_still_loads_alone():
    cache = ModelCache(100, lambda m, d: Adapter(10), lambda m, d: None)
    cache.get("x")
    cache.get("y")
    assert [m["id"] for m in cache.list()] == ["y"]


def test_loader_errors_propagate_and_nothing_is_cached():
    def loader(model, device):
        raise RuntimeError("no such model")

    cache = ModelCache(0, loader, lambda m, d: None)
    with pytest.raises(RuntimeError, match="no such model"):
        cache.get("missing")
    assert cache.list() == []


def test_listing_models_does_not_wait_for_an_eviction_in_progress():
    """An eviction's unloader waits for the backend's model lock, which a load elsewhere may
    hold for minutes; the cache's own lock used to be held meanwhile, so ``list()`` (the
    daemon's request thread, ``list-models``) hung with it."""
    backend_lock_free = threading.Event()
    cache = ModelCache(
        1000, lambda m, d: Adapter(10), lambda m, d: backend_lock_free.wait(timeout=30)
    )
    cache.get("a")
    cache.get("b")
    loading = threading.Thread(target=cache.get, args=("c",))  # evicts "a": its unload waits
    loading.start()
    try:
        listed = []
        lister = threading.Thread(target=lambda: listed.append(cache.list()))
        deadline = time.monotonic() + 5
        while loading.is_alive() and cache.total_bytes() < 880 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # the loader thread is now inside the unloader
        lister.start()
        lister.join(timeout=2)
        assert listed and [m["id"] for m in listed[0]] == ["b", "c"]
    finally:
        backend_lock_free.set()
        loading.join(timeout=10)
        lister.join(timeout=10)
    assert not loading.is_alive()


def test_a_device_named_with_or_without_its_index_is_the_same_worker():
    """A daemon serving ``cuda`` (the default on a GPU) refused a job, and a load, for
    ``cuda:0``: the same GPU. Devices are compared as torch runs them."""
    from bridge.daemon.worker import LocalExecutor

    assert LocalExecutor(("cuda",)).worker_device("cuda:0") == "cuda"
    assert LocalExecutor(("cuda:0", "cuda:1")).worker_device("cuda") == "cuda:0"
    assert LocalExecutor(("cuda:0", "cuda:1")).worker_device("cuda:1") == "cuda:1"
    assert LocalExecutor(("cpu",)).worker_device("cuda:3") is None
    assert LocalExecutor(("cpu",)).worker_device("cpu") == "cpu"


def test_a_job_for_one_worker_waits_for_it_and_others_pass_over_it():
    queue = JobQueue()
    queue.put("a", 5, "cuda:1")
    queue.put("b", 0)
    assert queue.get("cuda:0") == "b"  # "a" comes first, but is not this worker's
    taken = []
    waiting = threading.Thread(target=lambda: taken.append(queue.get("cuda:0")))
    waiting.start()  # nothing for cuda:0 now: it waits
    time.sleep(0.1)
    assert taken == [] and queue.get("cuda:1") == "a"
    queue.put("c", 0, "cuda:0")
    waiting.join(timeout=5)
    assert taken == ["c"] and len(queue) == 0


class StartsOnly:
    """A strict job host: says which worker thread started each job, runs none of them
    (``started`` is False), and holds the start of the jobs in ``held`` until ``release``."""

    def __init__(self, devices: dict[str, str], held: set[str]) -> None:
        self.devices, self.held = devices, held
        self.started_on: dict[str, str] = {}
        self.release = threading.Event()

    def request(self, job_id):
        device = self.devices[job_id]
        return {"backend": "diffusion", "options": {"device": device} if device else {}}

    def started(self, job_id):
        self.started_on[job_id] = threading.current_thread().name
        if job_id in self.held:
            assert self.release.wait(timeout=10)
        return False

    def __getattr__(self, name):  # nothing else may be called for a job never run
        raise AssertionError(f"the executor called {name}")


def test_a_job_that_names_a_device_runs_on_that_devices_worker():
    """A two-GPU daemon ran a ``cuda:1`` job on whichever worker was free first."""
    from bridge.daemon.worker import LocalExecutor

    host = StartsOnly({"x": "cuda:1", "y": "cuda:1", "z": ""}, held={"x"})
    executor = LocalExecutor(("cuda:0", "cuda:1"))
    executor.start(host)
    try:
        executor.submit("x", 0)  # holds cuda:1's worker
        deadline = time.monotonic() + 5
        while "x" not in host.started_on and time.monotonic() < deadline:
            time.sleep(0.01)
        executor.submit("y", 0)
        executor.submit("z", 0)
        while "z" not in host.started_on and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert "y" not in host.started_on  # cuda:0 was free, and took "z" alone
        host.release.set()
        while "y" not in host.started_on and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        assert host.started_on == {
            "x": "worker-cuda:1", "y": "worker-cuda:1", "z": "worker-cuda:0"
        }  # fmt: skip
    finally:
        host.release.set()
        executor.stop()
