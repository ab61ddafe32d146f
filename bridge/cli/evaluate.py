"""``diffmusic eval --reference REF --estimate EST [--region START:END]``: print metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import add_output_arguments
from diffmusic_engine.audio import read_audio
from diffmusic_engine.damage import Gap
from diffmusic_engine.errors import InputError
from diffmusic_engine.metrics import evaluate

# reference and estimate may differ in length by this much (a codec's padding): no more
LENGTH_SLACK_S = 0.01


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="score an estimate against a reference")
    parser.add_argument("--reference", type=Path, required=True, metavar="REF")
    parser.add_argument("--estimate", type=Path, required=True, metavar="EST")
    parser.add_argument("--region", metavar="START:END", help="also score this span (seconds)")
    add_output_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    reference, ref_info = read_audio(args.reference)
    estimate, est_info = read_audio(args.estimate)
    rate = ref_info.sample_rate
    # each refusal names the remedy: a restoration keeps its input's rate, channels and length,
    # so files that differ in one are not an estimate of that reference
    if rate != est_info.sample_rate:
        raise InputError(
            f"sample rates differ: {rate} Hz (reference) vs {est_info.sample_rate} Hz "
            f"(estimate); resample the estimate to {rate} Hz, or score it against a reference "
            "at its own rate"
        )
    if reference.shape[0] != estimate.shape[0]:
        raise InputError(
            f"channel counts differ: {reference.shape[0]} (reference) vs {estimate.shape[0]} "
            "(estimate); score the estimate restored from this reference's damaged copy (a "
            "restoration keeps its input's channels)"
        )
    if abs(reference.shape[1] - estimate.shape[1]) > LENGTH_SLACK_S * rate:
        raise InputError(
            f"lengths differ by more than {LENGTH_SLACK_S * 1000:g} ms: "
            f"{reference.shape[1] / rate:.3f} s (reference) vs {estimate.shape[1] / rate:.3f} s "
            "(estimate); score the estimate restored from this reference's damaged copy (a "
            "restoration keeps its input's length), or cut both to the same span"
        )
    n = min(reference.shape[1], estimate.shape[1])  # codecs may pad a few samples
    region = None
    if args.region:
        gap = Gap.parse(args.region)
        if gap.end <= gap.start or gap.start < 0 or gap.end > n / rate:
            raise InputError(
                f"region {args.region}: must lie inside the audio, start < end; give a START:END "
                f"between 0 and {n / rate:.3f} s"
            )
        region = (gap.start, gap.end)
    scores = evaluate(reference[:, :n], estimate[:, :n], ref_info.sample_rate, region)
    if args.json:
        print(json.dumps({"event": "done", "metrics": scores}))
    else:
        for name, value in scores.items():
            print(f"{name:22s} {value:10.4f}")
    return 0
