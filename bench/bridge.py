"""Daemon overhead: a round trip through ``diffmusic serve`` versus an in-process ``restore()``.

Prints, for 60 s of stereo 48 kHz music and each of three dsp jobs (inpaint, super-resolution,
separation; from a tenth of a second to seconds of compute):
  * the in-process time and the daemon round-trip time (submit + wait + fetch), medians;
  * the overhead (round trip minus in-process) in ms and as a share of the job time
    (targets: < 50 ms and < 5 %), and the same overhead measured against the job's own compute
    time inside the daemon (less sensitive to a noisy machine);
  * where the time goes: submit (sign, send, verify, durable journal write), fetch;
  * jobs per second for short jobs, one at a time and pipelined (all submitted, then collected);
  * with a tiny random-weight diffusion pipeline: a job's latency when it loads the model, then
    with the model resident in the worker (full mode only).

Usage: .venv/bin/python bench/bridge.py [--quick] [--seconds 60] [--repeats 5] [--short-jobs 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the daemon and this process compute alike

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "bridge"))
sys.path.insert(0, str(REPO))

from bridge_helpers import Daemon  # noqa: E402

from diffmusic_engine.api import restore  # noqa: E402
from diffmusic_engine.audio import read_audio  # noqa: E402
from diffmusic_engine.damage import Gap, Inpaint, Separate, SuperResolution  # noqa: E402
from diffmusic_engine.rates import resample  # noqa: E402

SHARED = REPO.parent / "shared" / "audio" / "armygeddon_mix.flac"
RATE = 48000


def music(seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of stereo 48 kHz music: the shared recording if present, else synthesised."""
    if SHARED.is_file():
        audio, info = read_audio(SHARED)
        audio = resample(audio, info.sample_rate, RATE)
        if audio.shape[0] == 1:
            audio = np.repeat(audio, 2, axis=0)
        reps = int(np.ceil(seconds * RATE / audio.shape[1]))
        audio = np.tile(audio[:2], reps)[:, : int(seconds * RATE)]
        return np.ascontiguousarray(audio, np.float32), SHARED.name
    from diffmusic_engine.synth import music_excerpt

    return music_excerpt(seconds, RATE, 2, seed=0), "music_excerpt (synth)"


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def round_trip(client, audio, damage, options) -> dict[str, float]:
    start = time.perf_counter()
    job = client.submit(audio, RATE, damage, options=options)
    submitted = time.perf_counter()
    final = client.wait(job)
    waited = time.perf_counter()
    result = client.fetch(job)
    fetched = time.perf_counter()
    assert final["state"] == "finished", final
    return {
        "total": fetched - start,
        "submit": submitted - start,
        "wait": waited - submitted,
        "fetch": fetched - waited,
        "compute": float(result.details["seconds"]),
        "result": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--short-jobs", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 30 short jobs")
    parser.add_argument(
        "--no-diffusion", dest="diffusion", action="store_false",
        help="skip the resident-model figure (a tiny random-weight pipeline)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.short_jobs, args.diffusion = 3, 30, False
    torch.set_num_threads(1)

    audio, source = music(args.seconds)
    print(f"audio: {args.seconds:g} s stereo {RATE} Hz ({audio.nbytes / 1e6:.1f} MB) from {source}")
    tasks = {
        "inpaint (one 20 ms gap)": (Inpaint((Gap(args.seconds / 2, args.seconds / 2 + 0.02),)), {}),
        "super-resolution (8 kHz)": (SuperResolution(8000.0), {}),
        "separate (2 sources: twice the audio back)": (
            Separate(2),
            {"masks": "harmonic-percussive"},
        ),
    }
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        daemon = Daemon(Path(folder), "--max-duration", str(args.seconds + 10)).start()
        try:
            with daemon.client(timeout=60) as client:
                for damage, options in tasks.values():  # warm-up: first imports, first fsync
                    round_trip(client, audio, damage, options)
                for name, (damage, options) in tasks.items():
                    bench_task(client, name, audio, damage, options, args.repeats)
                bench_short_jobs(client, args.short_jobs)
                if args.diffusion:
                    bench_resident_model(client, Path(folder))
                rtts = [client.ping()["rtt_ms"] for _ in range(50)]
                print(f"ping round trip: median {statistics.median(rtts):.2f} ms")
        finally:
            daemon.stop()


def bench_task(client, name, audio, damage, options, repeats) -> None:
    local, runs = [], []
    for _ in range(repeats):  # interleaved, so that a change of the machine's load hits both
        expected, seconds = timed(restore, audio, RATE, damage, options=options)
        local.append(seconds)
        runs.append(round_trip(client, audio, damage, options))
    for ours, theirs in zip(runs[-1]["result"].tracks, expected.tracks, strict=True):
        np.testing.assert_array_equal(ours, theirs)  # the same result
    t_local = statistics.median(local)
    t_daemon = statistics.median(r["total"] for r in runs)
    over_wall = t_daemon - t_local
    over_compute = statistics.median(r["total"] - r["compute"] for r in runs)
    compute = statistics.median(r["compute"] for r in runs)
    print(f"\n{name}, median of {repeats}:")
    print(f"  in-process restore()        {t_local * 1000:9.1f} ms")
    print(f"  daemon round trip           {t_daemon * 1000:9.1f} ms  (job compute inside "
          f"the daemon {compute * 1000:.1f} ms)")  # fmt: skip
    print(f"  overhead vs in-process      {over_wall * 1000:9.1f} ms = "
          f"{100 * over_wall / t_local:5.2f} % of the job")  # fmt: skip
    print(f"  overhead vs daemon compute  {over_compute * 1000:9.1f} ms = "
          f"{100 * over_compute / compute:5.2f} % of the job   "
          f"[targets: < 50 ms: {'met' if over_compute < 0.05 else 'MISSED'}, "
          f"< 5 %: {'met' if over_compute < 0.05 * compute else 'MISSED'}]")  # fmt: skip
    for phase in ("submit", "fetch"):
        value = statistics.median(r[phase] for r in runs)
        print(f"  {phase:27s} {value * 1000:9.1f} ms")
    rest = statistics.median(r["wait"] - r["compute"] for r in runs)
    print(f"  wait minus compute          {rest * 1000:9.1f} ms  (queue, load inputs, store "
          f"outputs durably, events)")  # fmt: skip


def bench_short_jobs(client, n: int) -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal((1, rate // 4))).astype(np.float32) for _ in range(n)]
    damage = Inpaint((Gap(0.1, 0.105),))
    start = time.perf_counter()
    for clip in clips:
        job = client.submit(clip, rate, damage)
        client.wait(job)
        client.fetch(job)
    sequential = n / (time.perf_counter() - start)
    start = time.perf_counter()
    jobs = [client.submit(clip, rate, damage) for clip in clips]
    for job in jobs:
        client.wait(job)
        client.fetch(job)
    pipelined = n / (time.perf_counter() - start)
    _, one = timed(restore, clips[0], rate, damage)
    print(f"\nshort jobs ({n} x 0.25 s mono 16 kHz inpaint, {one * 1000:.1f} ms each in-process):")
    print(f"  one at a time: {sequential:7.1f} jobs/s;  pipelined: {pipelined:7.1f} jobs/s")


def bench_resident_model(client, folder: Path) -> None:
    """A diffusion job's latency with the model loaded on first use, then resident."""
    from diffmusic_engine.models.testing import save_tiny_pipeline
    from diffmusic_engine.synth import music_excerpt

    model = str(save_tiny_pipeline("musicldm", folder / "tiny-musicldm"))
    clip = music_excerpt(1.0, 16000, 1, seed=0)
    damage = Inpaint((Gap(0.4, 0.45),))
    options = {"model": model, "steps": 3, "seed": 1}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        job = client.submit(clip, 16000, damage, backend="diffusion", options=options)
        assert client.wait(job)["state"] == "finished"
        client.fetch(job)
        times.append(time.perf_counter() - start)
    expected = restore(clip, 16000, damage, backend="diffusion", options=options).audio
    np.testing.assert_array_equal(client.fetch(job).audio, expected)
    loaded = [m for m in client.models()["models"] if m["id"] == model]
    print(f"\ndiffusion (tiny random-weight MusicLDM, 3 steps, 1 s): first job {times[0]:.2f} s "
          f"(loads the model), then {times[1]:.2f} s and {times[2]:.2f} s with it resident "
          f"({loaded[0]['bytes'] / 1e6:.1f} MB in the worker's cache)")  # fmt: skip


if __name__ == "__main__":
    main()
