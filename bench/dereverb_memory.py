"""Blind dsp dereverb on whole files: peak memory and time against the file's length.

    .venv/bin/python bench/dereverb_memory.py [--minutes 1 3] [--workdir DIR]

``diffmusic restore`` takes the whole file (it is the batch that goes a piece at a time), so
blind dereverb's memory grows with the track through its STFT, held once (16 bytes a bin, frame
and channel); nara_wpe's working set is capped per chunk (``WPE_BLOCK_BYTES``). Each length
runs in a fresh subprocess (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) on synthetic stereo
44.1 kHz music in a 1.5 s room; the peak of a subprocess that only imports the same modules is
printed too. Target: at most 0.4 GiB more per minute of stereo than the shortest file.
Measured with ``--minutes 1 3`` on 2 cores: 943 and 1475 MiB, 0.26 GiB per minute, with the
late mask after WPE (before it: 842 and 1390 MiB, 0.27; ``make bench``'s 0.5 and 1.5 min:
0.36, as clips under ~76 s keep WPE's full chunks). Before the
STFT was held once: 1231 and 2774 MiB, 0.75 GiB per minute; held once but chunks of 64 bins
whatever the length: 877 and 1704 MiB, 0.40 GiB per minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make the project importable

from bench.peak_memory import report, run_child  # noqa: E402

RATE = 44100
TARGET_GIB_PER_MINUTE = 0.4


def child_render(source: str) -> None:
    """Runs in a fresh subprocess: blind dereverb of ``source``, as ``diffmusic restore``."""
    from diffmusic_engine.api import restore
    from diffmusic_engine.audio import read_audio
    from diffmusic_engine.damage import Dereverb

    audio, info = read_audio(Path(source))
    started = time.perf_counter()
    details = restore(audio, info.sample_rate, Dereverb()).details
    seconds = time.perf_counter() - started
    report(seconds=seconds, method=details["method"])


def child_imports() -> None:
    import librosa  # noqa: F401
    import nara_wpe.wpe  # noqa: F401

    import diffmusic_engine.api  # noqa: F401
    import diffmusic_engine.dsp.dereverb  # noqa: F401

    report()


def write_room_music(path: Path, minutes: float) -> Path:
    """A synthetic song of ``minutes`` in a 1.5 s room (24-bit WAV)."""
    from diffmusic_engine.audio import write_audio
    from diffmusic_engine.evaluation.rooms import reverberate
    from diffmusic_engine.impulse_response import synthetic_rir
    from diffmusic_engine.synth import music_excerpt

    dry = music_excerpt(minutes * 60.0, RATE, 2, seed=5)
    rir = synthetic_rir(1.5, RATE, seed=0)
    wet = reverberate(dry, rir[None])
    wet *= 0.5 / np.max(np.abs(wet))
    return write_audio(path, wet.astype(np.float32), RATE, source_dtype="int24")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-render":
        return child_render(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "--child-imports":
        return child_imports()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--workdir", type=Path, help="where files go (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.workdir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        print("blind dsp dereverb of one stereo 44.1 kHz file (RSS of a fresh process):")
        baseline = run_child(__file__, "--child-imports")["peak_mib"]
        print(f"  imports only : {baseline:8.1f} MiB")
        peaks = {}
        for minutes in sorted(args.minutes):
            source = write_room_music(work / f"room-{minutes:g}min.wav", minutes)
            result = run_child(__file__, "--child-render", str(source))
            peaks[minutes] = result["peak_mib"]
            print(
                f"  {minutes:4g} min     : {result['peak_mib']:8.1f} MiB, "
                f"{result['seconds']:6.1f} s ({result['seconds'] / (minutes * 60):.2f}x real "
                f"time, {result['method']})"
            )
        if len(peaks) > 1:
            low, high = min(peaks), max(peaks)
            slope = (peaks[high] - peaks[low]) / 1024 / (high - low)
            verdict = "OK" if slope <= TARGET_GIB_PER_MINUTE else "OVER TARGET"
            print(
                f"  growth: {slope:.2f} GiB per minute "
                f"(target <= {TARGET_GIB_PER_MINUTE}: {verdict})"
            )


if __name__ == "__main__":
    main()
