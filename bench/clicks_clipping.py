"""Declick and declip quality and speed on real recordings (a folder of audio files).

Declick: 4 bursts per second (0.3-2 ms white noise, RMS ``--burst-db`` +- 6 dB re the channel's)
injected with ``degrade`` at seeds 0..2; recall (a burst counts as found when a detected span
covers it within 3 ms), false alarms per 8 s (detections near no burst; and on the clean file),
the SNR over the burst samples before and after, the share of samples left bit-identical, RTF;
and the SNR after a repair of the true burst spans (``oracle spans``): the repair's own ceiling,
so that the distance to it is what the detection loses.
Declip: clipped with ``degrade`` at each input SDR; SDR before and after, RTF.
``--diagnose``: what ``diffmusic diagnose`` lists as clicks, on the clean file (false finds) and
its recall at each ``--burst-db``, beside declick's detector alone at the diagnosis' sensitivity.

Usage: .venv/bin/python bench/clicks_clipping.py FOLDER [--burst-db 6 12] [--sdr 5 10 20]
       [--mode click|crackle] [--sensitivity S] [--skip-declick] [--skip-declip] [--diagnose]
       (e.g. FOLDER = ../shared/audio: *_mix, stems)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffmusic_engine.api import degrade, restore  # noqa: E402
from diffmusic_engine.audio import read_audio  # noqa: E402
from diffmusic_engine.damage import Declick, Declip, spans_to_gaps  # noqa: E402
from diffmusic_engine.diagnose import clicks  # noqa: E402
from diffmusic_engine.diagnose.spans import joined  # noqa: E402
from diffmusic_engine.dsp.declick import detect_clicks  # noqa: E402
from diffmusic_engine.metrics import snr  # noqa: E402
from diffmusic_engine.operators.declick import burst_spans  # noqa: E402

SEEDS = (0, 1, 2)
TOLERANCE_S = 0.003


def covered(spans: list[tuple[int, int]], truth: list[tuple[int, int]], tol: int) -> int:
    """How many true bursts a span covers within ``tol`` samples either side."""
    return sum(any(a - tol <= s and e <= b + tol for a, b in spans) for s, e in truth)


def declick_row(
    x: np.ndarray, rate: int, burst_db: float, mode: str = "click", options: dict | None = None
) -> str:
    """One row of declick figures; ``options`` are declick's (e.g. its ``sensitivity``)."""
    duration, tol = x.shape[1] / rate, round(TOLERANCE_S * rate)
    clean_alarms = len(detect_clicks(x, rate, mode, options))
    found = total = alarms = 0
    gains, oracle, identical, seconds = [], [], [], 0.0
    for seed in SEEDS:
        damage = Declick(mode=mode, burst_db=burst_db, seed=seed)
        y = degrade(x, rate, damage)
        truth = burst_spans(damage, x.shape[1], rate)
        started = time.perf_counter()
        restoration = restore(y, rate, Declick(mode=mode), options=options)
        seconds += time.perf_counter() - started
        out = restoration.tracks[0]
        spans = [(round(a * rate), round(b * rate)) for a, b in restoration.details["clicks"]]
        found += covered(spans, truth, tol)
        alarms += sum(not any(a - tol <= e and s <= b + tol for s, e in truth) for a, b in spans)
        total += len(truth)
        burst = np.zeros(x.shape[1], bool)
        for s, e in truth:
            burst[s:e] = True
        gains.append((snr(x[:, burst], y[:, burst]), snr(x[:, burst], out[:, burst])))
        identical.append(float(np.mean(np.all(out == y, axis=0))))
        # degrade's bursts may overlap (a given click may not): the oracle gives them joined
        given = Declick(mode=mode, clicks=spans_to_gaps(joined(truth), rate))
        known = restore(y, rate, given).tracks[0]
        oracle.append(snr(x[:, burst], known[:, burst]) - gains[-1][0])
    before, after = np.mean(gains, axis=0)
    per8 = 8 / duration
    false_alarms = alarms / len(SEEDS) * per8
    return (
        f"recall {found / total:.3f} ({found}/{total})  false alarms/8 s {false_alarms:.1f}"
        f" (clean file {clean_alarms * per8:.1f})  SNR on bursts {before:+.1f} -> {after:+.1f} dB"
        f" ({after - before:+.1f}; oracle spans {np.mean(oracle):+.1f})"
        f"  untouched {np.mean(identical):.4f}"
        f"  RTF {seconds / len(SEEDS) / duration:.3f}"
    )


def diagnose_row(x: np.ndarray, rate: int, burst_dbs: list[float]) -> str:
    """What ``diagnose`` lists as clicks (``diagnose.clicks.detect``) against declick's detector
    alone at the diagnosis' sensitivity: on the clean file (every span a false find), and the
    share of the bursts covered at each of ``burst_dbs`` (seeds ``SEEDS``)."""

    def detector(audio: np.ndarray) -> list[tuple[int, int]]:
        return detect_clicks(audio, rate, options={"sensitivity": clicks.DIAGNOSE_SENSITIVITY})

    def diagnosis(audio: np.ndarray) -> list[tuple[int, int]]:
        spans = clicks.detect(audio, rate)
        return [(round(c["start"] * rate), round(c["end"] * rate)) for c in spans]

    row = f"clean file {len(diagnosis(x))} (detector alone {len(detector(x))})"
    tol = round(TOLERANCE_S * rate)
    for burst_db in burst_dbs:
        found, total = {diagnosis: 0, detector: 0}, 0
        for seed in SEEDS:
            damage = Declick(burst_db=burst_db, seed=seed)
            y = degrade(x, rate, damage)
            truth = burst_spans(damage, x.shape[1], rate)
            total += len(truth)
            for finder in found:
                found[finder] += covered(finder(y), truth, tol)
        row += (f"; bursts {burst_db:+g} dB: recall {found[diagnosis] / total:.3f} (detector "
                f"alone {found[detector] / total:.3f})")  # fmt: skip
    return row


def declip_row(x: np.ndarray, rate: int, sdr: float) -> str:
    y = degrade(x, rate, Declip(sdr=sdr))
    started = time.perf_counter()
    restoration = restore(y, rate, Declip())
    seconds = time.perf_counter() - started
    before, after = snr(x, y), snr(x, restoration.audio)
    return (
        f"SDR {before:.2f} -> {after:.2f} dB ({after - before:+.2f}), clipped "
        f"{restoration.details['clipped']:.3f}, RTF {seconds / (x.shape[1] / rate):.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--burst-db", type=float, nargs="+", default=[6.0, 12.0])
    parser.add_argument("--sdr", type=float, nargs="+", default=[5.0, 10.0, 20.0])
    parser.add_argument("--mode", choices=("click", "crackle"), default="click")  # declick's
    parser.add_argument("--sensitivity", type=float, help="declick's (default: its own)")
    parser.add_argument("--skip-declick", action="store_true")
    parser.add_argument("--diagnose", action="store_true", help="also what diagnose lists")
    parser.add_argument("--skip-declip", action="store_true")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.iterdir() if p.suffix in (".flac", ".wav"))
    for path in files:
        x, info = read_audio(path)
        for burst_db in [] if args.skip_declick else args.burst_db:
            options = None if args.sensitivity is None else {"sensitivity": args.sensitivity}
            row = declick_row(x, info.sample_rate, burst_db, args.mode, options)
            label = "declick" if args.mode == "click" else f"declick {args.mode}"
            print(f"{path.name} {label} bursts {burst_db:+g} dB: {row}", flush=True)
        if args.diagnose:
            print(f"{path.name} diagnose clicks: "
                  f"{diagnose_row(x, info.sample_rate, args.burst_db)}", flush=True)  # fmt: skip
        for sdr in [] if args.skip_declip else args.sdr:
            print(f"{path.name} declip input SDR {sdr:g} dB: "
                  f"{declip_row(x, info.sample_rate, sdr)}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
