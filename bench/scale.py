"""Scale-out: the daemon's gateway in front of Ray Serve versus the local executor.

Starts one local Ray instance, then three daemons one after another (``--executor local``,
``--executor ray --replicas 1``, ``--executor ray --replicas 2``) and prints for each, for short
dsp jobs:
  * the round trip of one job at a time (submit + wait + fetch), median, and that round trip
    minus the job's own compute time (what the gateway, and Ray, add);
  * jobs per second with many jobs in flight (all submitted, then collected);
and finally the Ray gateway's added latency versus the local executor.

Two short jobs: "pr10" (phase retrieval, 10 iterations, 1 s stereo 16 kHz: compute-bound, tens
of ms) and "inpaint" (0.25 s mono, one 5 ms gap: a few ms, so overhead-bound).

Usage: .venv/bin/python bench/scale.py [--jobs 40] [--repeats 10]
The figures depend on the machine's load: a shared 2-core box cannot show two replicas doubling
the throughput of one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "bridge"))
sys.path.insert(0, str(REPO))

from bridge_helpers import Daemon  # noqa: E402

from diffmusic_engine.damage import Gap, Inpaint, PhaseRetrieval  # noqa: E402
from diffmusic_engine.synth import music_excerpt  # noqa: E402

RATE = 16000


def jobs() -> dict[str, tuple[np.ndarray, object, dict]]:
    clip = music_excerpt(duration=1.0, sample_rate=RATE, channels=2, seed=3)
    short = np.ascontiguousarray(clip[:1, : RATE // 4])
    return {
        "pr10": (clip, PhaseRetrieval(256, 64), {"iterations": 10}),
        "inpaint": (short, Inpaint((Gap(0.1, 0.105),)), {}),
    }


def round_trip(client, audio, damage, options) -> tuple[float, float]:
    start = time.perf_counter()
    job = client.submit(audio, RATE, damage, options=options)
    final = client.wait(job, timeout=120)
    result = client.fetch(job)
    total = time.perf_counter() - start
    assert final["state"] == "finished", final
    return total, float(result.details.get("seconds", 0.0))


def throughput(client, audio, damage, options, n: int) -> float:
    start = time.perf_counter()
    ids = [client.submit(audio, RATE, damage, options=options) for _ in range(n)]
    for job in ids:
        assert client.wait(job, timeout=300)["state"] == "finished"
    return n / (time.perf_counter() - start)


def bench(name: str, extra: list[str], args, results: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        started = time.perf_counter()
        daemon = Daemon(Path(folder), "--max-queued", str(args.jobs + 10), *extra)
        daemon.start(timeout=300)
        ready = time.perf_counter() - started
        try:
            with daemon.client(timeout=60) as client:
                print(f"\n{name}: ready in {ready:.1f} s")
                for job_name, (audio, damage, options) in jobs().items():
                    round_trip(client, audio, damage, options)  # warm-up (imports, routes)
                    runs = [round_trip(client, audio, damage, options) for _ in range(args.repeats)]
                    rtt = statistics.median(t for t, _ in runs)
                    added = statistics.median(t - c for t, c in runs)
                    rate = throughput(client, audio, damage, options, args.jobs)
                    results[name, job_name] = (rtt, added, rate)
                    print(f"  {job_name:8s} round trip {rtt * 1000:7.1f} ms (minus compute "
                          f"{added * 1000:6.1f} ms);  {rate:6.1f} jobs/s with {args.jobs} "
                          f"in flight")  # fmt: skip
        finally:
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help="jobs in flight for jobs/s")
    parser.add_argument("--repeats", type=int, default=10, help="one-at-a-time round trips")
    args = parser.parse_args()

    import ray

    started = time.perf_counter()
    context = ray.init(
        address="local", num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False,
        log_to_driver=False,
    )  # fmt: skip
    address = context.address_info["gcs_address"]
    print(f"Ray {ray.__version__} started in {time.perf_counter() - started:.1f} s "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    results: dict = {}
    try:
        bench("local executor", [], args, results)
        for replicas in (1, 2):
            bench(f"ray executor, {replicas} replica(s)",
                  ["--executor", "ray", "--ray-address", address, "--replicas", str(replicas)],
                  args, results)  # fmt: skip
    finally:
        ray.shutdown()
    print("\nRay gateway's added latency versus the local executor (one job at a time):")
    for job_name in jobs():
        local = results["local executor", job_name]
        for replicas in (1, 2):
            ray_run = results[f"ray executor, {replicas} replica(s)", job_name]
            print(f"  {job_name:8s} {replicas} replica(s): round trip "
                  f"{(ray_run[0] - local[0]) * 1000:+7.1f} ms, minus compute "
                  f"{(ray_run[1] - local[1]) * 1000:+7.1f} ms; jobs/s x{ray_run[2] / local[2]:.2f}"
                  )  # fmt: skip
    print(f"(load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
