"""Batch rendering: peak memory against file length, and throughput with one and two jobs.

    .venv/bin/python bench/batch.py [--workdir DIR] [--files 4] [--seconds 45] [--skip-memory]

1. Peak memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of a fresh subprocess that renders
   one file with ``run_batch``) for a 1-minute and a 10-minute stereo 44.1 kHz file through a
   chain with plugins and two restoration steps (dsp). Streaming and chunking should keep the
   ratio under 1.5. The peak of a subprocess that only imports the same modules is printed too,
   so the part that rendering adds can be read off.
2. Files per minute for a folder of ``--files`` files of ``--seconds`` each, ``diffmusic batch``
   with ``--jobs 1`` and ``--jobs 2`` (each in a fresh subprocess, wall-clock time).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make the project importable

from bench.peak_memory import report, run_child  # noqa: E402

RATE = 44100

CHAIN = """
_doc = "bench: plugins, inpainting (regions) and super-resolution (30 s chunks), limiter"

[[steps]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 30

[[steps]]
restore = "inpaint"
gaps = ["20.00:20.02", "41.50:41.53"]

[[steps]]
restore = "super-resolution"
cutoff = 11000

[[steps]]
plugin = "Compressor"
threshold_db = -18
ratio = 2

[[steps]]
plugin = "BrickwallLimiter"
ceiling_db = -1
"""


def child_render(source: str, outdir: str, chain: str) -> None:
    """Runs in a fresh subprocess: render one file, print the peak RSS in MiB as JSON."""
    from bridge.batch import load_chain, plan_items, run_batch

    started = time.perf_counter()
    items = plan_items([source], Path(outdir))
    (result,) = run_batch(items, load_chain(chain), Path(outdir), show_progress=False)
    assert result.status == "done", result.error
    report(seconds=time.perf_counter() - started)


def child_imports() -> None:
    """Runs in a fresh subprocess: the same imports, no rendering."""
    import bridge.batch  # noqa: F401
    import diffmusic_engine.dsp.inpaint  # noqa: F401
    import diffmusic_engine.dsp.super_resolution  # noqa: F401

    report()


def write_music(path: Path, seconds: float, seed: int = 0) -> Path:
    """Synthetic stereo music: a 10 s excerpt repeated (cheap to make at any length), 16-bit."""
    from diffmusic_engine.audio import AudioWriter
    from diffmusic_engine.synth import music_excerpt

    excerpt = music_excerpt(10.0, RATE, 2, seed=seed)
    total = int(seconds * RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioWriter(path, RATE, 2, source_dtype="int16") as out:
        for start in range(0, total, excerpt.shape[1]):
            out.write(excerpt[:, : min(excerpt.shape[1], total - start)])
    return path


def bench_memory(work: Path, chain: Path) -> None:
    print("peak memory (RSS of a fresh process rendering one stereo 44.1 kHz file):")
    baseline = run_child(__file__, "--child-imports")["peak_mib"]
    print(f"  imports only      : {baseline:8.1f} MiB")
    peaks = {}
    for minutes in (1, 10):
        source = write_music(work / "memory" / f"music-{minutes}min.wav", minutes * 60.0)
        result = run_child(
            __file__, "--child-render", str(source), str(work / "memory-out"), str(chain)
        )
        peaks[minutes] = result["peak_mib"]
        print(
            f"  {minutes:2d}-minute file    : {result['peak_mib']:8.1f} MiB "
            f"(+{result['peak_mib'] - baseline:.1f} over imports), {result['seconds']:.1f} s"
        )
    ratio = peaks[10] / peaks[1]
    verdict = "OK" if ratio < 1.5 else "OVER TARGET"
    print(f"  ratio 10 min / 1 min: {ratio:.3f} (target < 1.5: {verdict})")


def bench_throughput(work: Path, chain: Path, files: int, seconds: float) -> None:
    folder = work / "throughput"
    for i in range(files):
        write_music(folder / f"track{i:02d}.wav", seconds, seed=i)
    print(f"throughput ({files} stereo files of {seconds:g} s, diffmusic batch):")
    for jobs in (1, 2):
        outdir = work / f"throughput-out-{jobs}"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bridge", "batch", str(folder), "-o", str(outdir),
             "--chain", str(chain), "--jobs", str(jobs), "--quiet"],
            cwd=REPO, check=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        print(
            f"  --jobs {jobs}: {elapsed:6.1f} s wall, {files / elapsed * 60:6.1f} files/min "
            f"({files * seconds / elapsed:.1f} s of audio per second)"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-render":
        return child_render(*sys.argv[2:5])
    if len(sys.argv) > 1 and sys.argv[1] == "--child-imports":
        return child_imports()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="where files go (default: a temp folder)")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=45.0, help=">= 42: the gaps")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temporary:
        work = args.workdir or Path(temporary)
        chain = work / "chain.toml"
        chain.parent.mkdir(parents=True, exist_ok=True)
        chain.write_text(CHAIN)
        if not args.skip_memory:
            bench_memory(work, chain)
        bench_throughput(work, chain, args.files, args.seconds)
    print(f"cpu cores: {len(__import__('os').sched_getaffinity(0))}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
