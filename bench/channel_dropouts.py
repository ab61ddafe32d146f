"""A dropout on one channel: false finds in real stereo music (as it is, hard-panned, muted on
one side), one-channel dropouts found, and their fills against the given gap's.

    python -m bench.channel_dropouts AUDIO_DIR... [--fills N]

(e.g. ``../shared/audio diffmusic_engine/evaluation/data/real``; full songs too)

1. **False finds** (:func:`diffmusic_engine.diagnose.dropouts.find_dropouts`, dropouts on some
   channels only): every recording as it is (and played 40 dB down, stored in 16-bit), each one
   hard-panned (its left channel on one side, digital silence on the other), a pair (one
   recording's left channel on the left, the next one's on the right, starting 1 s late and
   ending 1 s early), and each recording with one channel muted for its first or last 3 s.
   Nothing here dropped out: every run found is a false find.
2. **Finds**: one channel (left at even positions, right at odd) of each recording cut to
   digital silence for ``LENGTHS`` at ``POSITIONS`` places spread over 5-95 % of it (each read
   in the ``WINDOW`` seconds either side): the share found on that channel alone, and the edge
   error (ms, the farther edge; median / worst).
3. **Fills** (``--fills N``: the first N recordings, one cut of each length in the middle):
   ``restore --gap auto`` against the gap given exactly: whether the outputs are identical, the
   other channel bit-identical, and the log-mel distance (dB) to the clean recording over the
   dropout and 50 ms either side.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import read_folders  # noqa: E402
from diffmusic_engine.diagnose.dropouts import find_dropouts  # noqa: E402
from diffmusic_engine.evaluation.storage import fixed_point  # noqa: E402

LENGTHS = (0.02, 0.1, 0.5, 2.0)
POSITIONS = 20
WINDOW = 4.0  # seconds read either side of a cut (the rule reads 2 s beyond a run)
MUTED = 3.0
OFFSET = 1.0  # the paired part's late start and early end


def some_channels(audio: np.ndarray, rate: int) -> list:
    """The dropouts found on some channels only, ``(first, stop, channels)``."""
    return [d for d in find_dropouts(audio, rate)[0] if len(d[2]) < audio.shape[0]]


KINDS = ("as it is", "-40 dB, 16-bit", "hard-panned", "pair, late/early", "muted 3 s")


def variants(recordings: list, kind: str) -> Iterator[tuple[str, np.ndarray, int]]:
    """Stereo music of ``kind`` in which no channel dropped out (the module's docstring)."""
    for i, (name, audio, rate) in enumerate(recordings):
        part, silent = audio[0], np.zeros_like(audio[0])
        other_name, other, other_rate = recordings[(i + 1) % len(recordings)]
        if kind == "as it is":
            yield name, audio, rate
        elif kind == "-40 dB, 16-bit":
            yield name, fixed_point(audio * 0.01, 16, None), rate
        elif kind == "hard-panned":
            yield f"{name} L", np.stack([part, silent]), rate
            yield f"{name} R", np.stack([silent, part]), rate
        elif kind == "pair, late/early" and other_rate == rate and other is not audio:
            yield f"{name}+{other_name}", paired(part, other[0], rate), rate
        elif kind == "muted 3 s":
            yield from muted(name, audio, rate)


def muted(name: str, audio: np.ndarray, rate: int) -> Iterator[tuple[str, np.ndarray, int]]:
    """``audio`` with each channel muted for its first, then its last MUTED seconds."""
    span = round(MUTED * rate)
    for channel in (0, 1):
        for end, where in (("first", slice(0, span)), ("last", slice(-span, None))):
            copy = audio.copy()
            copy[channel, where] = 0.0
            yield f"{name} ch {channel} {end} {MUTED:g} s", copy, rate


def paired(left: np.ndarray, right: np.ndarray, rate: int) -> np.ndarray:
    """``left``, and ``right`` starting OFFSET late and ending OFFSET early, as long as it."""
    offset, length = round(OFFSET * rate), left.shape[0]
    late = np.zeros_like(left)
    taken = right[: max(0, length - 2 * offset)]
    late[offset : offset + taken.shape[0]] = taken
    return np.stack([left, late])


def false_finds(recordings: list) -> None:
    print("false finds (dropouts on some channels only): recordings with any, runs in all")
    for kind in KINDS:
        found = [(name, some_channels(audio, rate), rate)
                 for name, audio, rate in variants(recordings, kind)]  # fmt: skip
        hit = [(name, [(a / r, b / r, c) for a, b, c in runs]) for name, runs, r in found if runs]
        print(f"{kind:18s} {len(hit):3d} of {len(found):3d}  {sum(len(h[1]) for h in hit):4d}")
        for name, runs in hit:
            print(f"    {name}: " + ", ".join(f"{a:.4f}-{b:.4f} s ch {c}" for a, b, c in runs))


def cut_positions(audio: np.ndarray, rate: int, length: float) -> list[int]:
    """POSITIONS first samples spread over 5-95 % of ``audio`` for a cut ``length`` long."""
    total = audio.shape[1] / rate
    return [round(s * rate) for s in np.linspace(0.05 * total, 0.95 * total - length, POSITIONS)]


def window(audio: np.ndarray, first: int, stop: int, rate: int) -> tuple[np.ndarray, int]:
    """The audio WINDOW seconds either side of ``[first, stop)``, and where it starts."""
    start = max(0, first - round(WINDOW * rate))
    return audio[:, start : min(audio.shape[1], stop + round(WINDOW * rate))].copy(), start


def finds(recordings: list) -> None:
    print(f"\nfinds: one channel cut at {POSITIONS} places per recording; share found on that "
          "channel alone, edge error ms (median / worst), misses")  # fmt: skip
    for length in LENGTHS:
        found, errors, misses = 0, [], []
        for name, audio, rate in recordings:
            for k, first in enumerate(cut_positions(audio, rate, length)):
                stop, channel = first + round(length * rate), k % 2
                piece, start = window(audio, first, stop, rate)
                piece[channel, first - start : stop - start] = 0.0
                hits = [(a + start, b + start) for a, b, c in find_dropouts(piece, rate)[0]
                        if c == (channel,) and a + start < stop and b + start > first]  # fmt: skip
                if len(hits) == 1:
                    found += 1
                    error = max(abs(hits[0][0] - first), abs(hits[0][1] - stop))
                    errors.append(1000 * error / rate)
                else:
                    misses.append(f"{name} {first / rate:.2f} s ch {channel}: {len(hits)} runs")
        count = POSITIONS * len(recordings)
        worst = max(errors, default=0.0)
        print(f"{length * 1000:6g} ms  {found:4d} of {count:4d} ({found / count:.3f})  "
              f"{np.median(errors or [0]):5.1f} / {worst:5.1f}")  # fmt: skip
        for miss in misses:
            print(f"    missed {miss}")


def fills(recordings: list, count: int) -> None:
    from diffmusic_engine.api import restore
    from diffmusic_engine.damage import Gap, Inpaint
    from diffmusic_engine.metrics import log_mel_distance

    print("\nfills: --gap auto against the gap given exactly; identical, other channel kept, "
          "log-mel dB auto / given")  # fmt: skip
    for name, audio, rate in recordings[:count]:
        for length in LENGTHS:
            first = round(audio.shape[1] / 2)
            stop = first + round(length * rate)
            clean, start = window(audio, first, stop, rate)
            piece, (a, b) = clean.copy(), (first - start, stop - start)
            piece[0, a:b] = 0.0
            auto = restore(piece, rate, Inpaint(gaps="auto")).tracks[0]
            given = restore(piece, rate, Inpaint(gaps=(Gap(a / rate, b / rate),))).tracks[0]
            around = slice(a - rate // 20, b + rate // 20)
            distances = [log_mel_distance(clean[:, around], out[:, around], rate)
                         for out in (auto, given)]  # fmt: skip
            print(f"{name:34s} {length * 1000:6g} ms  identical {np.array_equal(auto, given)!s:5s}"
                  f"  kept {np.array_equal(auto[1], piece[1])!s:5s}  "
                  f"{distances[0]:.3f} / {distances[1]:.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders of .flac/.wav recordings")
    parser.add_argument("--fills", type=int, default=0, help="recordings whose fills to compare")
    parser.add_argument("--skip", default="", help="parts to skip: false,finds")
    args = parser.parse_args()
    recordings = [r for r in read_folders(args.dirs) if r[1].shape[0] == 2]
    if "false" not in args.skip:
        false_finds(recordings)
    if "finds" not in args.skip:
        finds(recordings)
    if args.fills:
        fills(recordings, args.fills)


if __name__ == "__main__":
    main()
