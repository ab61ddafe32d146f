"""The daemon while a dsp job runs: ping round trips, how fast a cancel takes effect, progress.

Starts ``diffmusic serve``, submits a long dsp job (stereo 44.1 kHz music), pings and polls the
status every 0.2 s for a few seconds, then cancels it and times until the journal says
"cancelled". Printed as one JSON line per run: the idle and busy ping round trips (ms), the
cancel reply, the seconds from the cancel to the job's end, and the progress fractions seen.
``cold``: the job is the daemon's first (its child process server warms up meanwhile);
``warm``: after one small job of the same task. Targets: busy pings under 100 ms, cancel under
1 s once warm (docs/architecture.md, "Where a job runs").

Usage: .venv/bin/python bench/responsiveness.py [--task separate] [--seconds 30] [--watch 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "bridge"))
sys.path.insert(0, str(REPO))

from bridge_helpers import Daemon  # noqa: E402

from diffmusic_engine.damage import PhaseRetrieval, Separate, SuperResolution  # noqa: E402
from diffmusic_engine.synth import music_excerpt  # noqa: E402

RATE = 44100
DAMAGES = {"separate": Separate(2), "super-resolution": SuperResolution(8000.0),
           "phase-retrieval": PhaseRetrieval()}  # fmt: skip


def run(task: str, seconds: float, watch: float, warm: bool) -> dict:
    audio = music_excerpt(duration=seconds, sample_rate=RATE, channels=2, seed=1)
    damage = DAMAGES[task]
    options = {"iterations": 10000} if task == "phase-retrieval" else {}
    daemon = Daemon(Path(tempfile.mkdtemp(prefix="bench-responsiveness-"))).start()
    try:
        with daemon.client(timeout=30) as client:
            if warm:
                client.wait(client.submit(audio[:, :RATE], RATE, damage), timeout=300)
            idle = [client.ping()["rtt_ms"] for _ in range(5)]
            job = client.submit(audio, RATE, damage, options=options)
            start, busy, fractions = time.monotonic(), [], []
            while time.monotonic() - start < watch:
                busy.append(client.ping()["rtt_ms"])
                status = client.status(job)
                fractions.append(round(status["fraction"], 3))
                if status["state"] not in ("queued", "running"):
                    break
                time.sleep(0.2)
            cancelled_at = time.monotonic()
            reply = client.cancel(job)
            while client.status(job)["state"] in ("queued", "running"):
                time.sleep(0.02)
            return {
                "task": task, "daemon": "warm" if warm else "cold",
                "idle_ping_ms_max": round(max(idle), 1),
                "busy_ping_ms_median": round(statistics.median(busy), 1),
                "busy_ping_ms_max": round(max(busy), 1), "cancel_reply": reply,
                "cancel_to_end_s": round(time.monotonic() - cancelled_at, 2),
                "final": client.status(job)["state"],
                "fractions": fractions[:: max(1, len(fractions) // 8)],
            }  # fmt: skip
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="separate", choices=sorted(DAMAGES))
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the job's audio")
    parser.add_argument("--watch", type=float, default=6.0, help="seconds before the cancel")
    args = parser.parse_args()
    for warm in (False, True):
        print(json.dumps(run(args.task, args.seconds, args.watch, warm)), flush=True)


if __name__ == "__main__":
    main()
