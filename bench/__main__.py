"""``make bench``: every speed benchmark in one report, machine and versions at the top.

Each ``bench/<name>.py`` is run in its own process (so one's peak memory does not colour the
next), in its quick mode, and its output is printed under a heading. Ratios measured within one
script are the figures to trust on a noisy machine; absolute times vary with the load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name -> arguments for a run that fits the 10-minute budget of `make bench` on 2 cores
SUITE = {
    "dsp": ["--quick"],
    "dropouts": ["--quick"],
    "diagnose": ["--quick"],
    "solver": ["--quick"],
    "track": ["--seconds", "1", "--steps", "1", "--tasks", "inpaint"],  # a token run on a CPU
    "bridge": ["--quick"],
    "batch": ["--files", "2"],
    "dereverb_memory": ["--minutes", "0.5", "1.5"],
    "wpe_threads": ["--runs", "1", "--busy", "0", "2"],
    "scale": ["--jobs", "20", "--repeats", "5"],
    "responsiveness": ["--seconds", "20", "--watch", "4"],
}
PACKAGES = ("torch", "numpy", "scipy", "librosa", "diffusers", "transformers", "pedalboard",
            "pyzmq", "nara_wpe", "soxr", "ray")  # fmt: skip


def header() -> str:
    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    lines = [
        f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "versions: " + ", ".join(f"{name} {ver(name)}" for name in PACKAGES),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(SUITE)} (default: all)")
    parser.add_argument("--full", action="store_true", help="full runs instead of quick ones")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SUITE))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SUITE)}")
    print(header(), flush=True)
    failed = []
    for name in args.names or SUITE:
        script = HERE / f"{name}.py"
        print(f"\n## {name}\n", flush=True)
        if not script.is_file():
            print(f"(missing: {script})")
            failed.append(name)
            continue
        started = time.perf_counter()
        extra = [] if args.full else SUITE[name]
        result = subprocess.run([sys.executable, str(script), *extra], cwd=HERE.parent)
        print(f"({name}: {time.perf_counter() - started:.1f} s wall, exit {result.returncode})")
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
