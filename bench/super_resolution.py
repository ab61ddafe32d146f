"""Do no harm in bandwidth extension: real recordings low-passed, then extended by the dsp backend.

    python -m bench.super_resolution AUDIO_DIR... [--cutoffs 8000,12000] [--excerpts 4]

(e.g. ``../shared/audio diffmusic_engine/evaluation/data/real``; full songs with ``--excerpts``)

Every recording (or ``--excerpts`` excerpts of ``--seconds`` each, spread over a long file) is
low-passed at each cutoff (``degrade``) and given to ``restore`` with that cutoff. Per cutoff,
over the recordings: the gain-compensated log-mel distance to the clean take, output over input
(median, and how many made worse, above 1.001), the same for the whole-clip LSD, the median
SI-SDR change (output minus input, dB), and how many came back unchanged (declined).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import read_excerpts  # noqa: E402
from diffmusic_engine.api import degrade, restore  # noqa: E402
from diffmusic_engine.damage import SuperResolution  # noqa: E402
from diffmusic_engine.metrics import log_mel_distance, lsd, si_sdr  # noqa: E402

WORSE = 1.001  # a ratio above this reads "made worse" (below it: rounding of an unchanged band)


def measure(clean: np.ndarray, rate: int, cutoff: float) -> dict[str, float]:
    """One recording at one cutoff: log-mel and LSD ratios, SI-SDR change, declined or not."""
    damage = SuperResolution(cutoff)
    low = degrade(clean, rate, damage)
    result = restore(low, rate, damage)
    out = result.tracks[0]
    return {
        "log_mel": log_mel_distance(clean, out, rate) / log_mel_distance(clean, low, rate),
        "lsd": lsd(clean, out, rate) / lsd(clean, low, rate),
        "si_sdr": si_sdr(clean, out) - si_sdr(clean, low),
        "declined": float(bool(result.unchanged)),
    }


def summary(rows: list[dict[str, float]]) -> str:
    """The table row of one cutoff's measurements."""
    log_mel = np.array([r["log_mel"] for r in rows])
    ratio = np.array([r["lsd"] for r in rows])
    return (
        f"{np.median(log_mel):6.3f} {np.sum(log_mel > WORSE):3d} {log_mel.max():6.2f} | "
        f"{np.median(ratio):6.3f} {np.sum(ratio > WORSE):3d} | "
        f"{np.median([r['si_sdr'] for r in rows]):+7.3f} | "
        f"{int(sum(r['declined'] for r in rows)):3d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of .flac/.wav recordings")
    parser.add_argument("--cutoffs", default="8000,12000,14000,16000", help="Hz, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each excerpt")
    parser.add_argument("--excerpts", type=int, default=1, help="excerpts per file, spread out")
    parser.add_argument("--verbose", action="store_true", help="a line per recording and cutoff")
    args = parser.parse_args()
    cutoffs = [float(c) for c in args.cutoffs.split(",")]
    rows: dict[float, list[dict[str, float]]] = {c: [] for c in cutoffs}
    for name, clean, rate in read_excerpts(args.dirs, args.seconds, args.excerpts):
        for cutoff in cutoffs:
            rows[cutoff].append(measure(clean, rate, cutoff))
            if args.verbose:
                print(name, cutoff, {k: round(v, 3) for k, v in rows[cutoff][-1].items()})
    print(f"{len(rows[cutoffs[0]])} recordings; log-mel out/in: median, worse, worst | "
          "LSD out/in: median, worse | SI-SDR change, median | declined")  # fmt: skip
    for cutoff in cutoffs:
        print(f"{cutoff:7.0f} Hz  {summary(rows[cutoff])}")


if __name__ == "__main__":
    main()
