"""A dropout's fill level beside its gap: fill and music against the 50 ms either side.

    python -m bench.fill_level AUDIO_DIR... [--name-contains mix] [--gaps 24]

Each recording (a .flac/.wav of the folders; ``--name-contains`` keeps those whose name holds
it) gets ``--gaps`` dropouts, one at a time, of 0.1, 0.3, 1 and 2 s in turn at seeded places,
filled by the dsp backend. Per channel it prints how many fills and how many of the music they
replaced lie more than 6 dB over the louder side (the 50 ms before or after the gap,
``dsp.fill_level.SIDE_SECONDS``) or more than ``HOLE_DB`` under the quieter one, and the fills'
level error against the music there. The rule it checks: ``dsp.fill_level``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import read_folders  # noqa: E402
from diffmusic_engine.api import restore  # noqa: E402
from diffmusic_engine.damage import Gap, Inpaint  # noqa: E402
from diffmusic_engine.dsp.fill_level import SIDE_SECONDS  # noqa: E402
from diffmusic_engine.errors import DamageError  # noqa: E402

# The fills under the quieter side counted apart, after dsp.fill_level's raise (no music lay so
# far under; the raise brings a fill to FAR_DB under it)
HOLE_DB = 10.0
LENGTHS = (0.1, 0.3, 1.0, 2.0)
OVER_DB = 6.0


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def rows_of(index: int, audio: np.ndarray, rate: int, gaps: int) -> list[tuple[float, ...]]:
    """``(music, fill)`` dB over the louder side and under the quieter one, per gap and channel."""
    rows, side = [], round(SIDE_SECONDS * rate)
    for k in range(gaps):
        rng, length = np.random.default_rng([index, k]), LENGTHS[k % len(LENGTHS)]
        if audio.shape[1] < rate * (length + 1.5):
            continue
        first = int(rng.integers(rate // 2, audio.shape[1] - int((length + 0.5) * rate)))
        stop = first + int(length * rate)
        damaged = audio.copy()
        damaged[:, first:stop] = 0.0
        try:
            out = restore(damaged, rate, Inpaint(gaps=(Gap(first / rate, stop / rate),))).audio
        except DamageError:  # no passage of its length to copy
            continue
        for ch in range(audio.shape[0]):
            sides = [
                level_db(audio[ch, first - side : first]),
                level_db(audio[ch, stop : stop + side]),
            ]
            music, fill = level_db(audio[ch, first:stop]), level_db(out[ch, first:stop])
            rows.append((music - max(sides), fill - max(sides), min(sides) - music,
                         min(sides) - fill))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--name-contains", default="")
    parser.add_argument("--gaps", type=int, default=24)
    args = parser.parse_args()
    recordings = [r for r in read_folders(args.dirs) if args.name_contains in r[0]]
    rows = []
    for index, (name, audio, rate) in enumerate(recordings):
        rows += rows_of(index, audio, rate, args.gaps)
        print(f"{name}: {len(rows)} channel-gaps so far", file=sys.stderr, flush=True)
    music_over, fill_over, music_under, fill_under = np.array(rows).T
    print(f"{len(rows)} channel-gaps in {len(recordings)} recordings")
    for what, over, under in (("music", music_over, music_under), ("fill", fill_over, fill_under)):
        print(f"{what:5s}: {(over > OVER_DB).sum():3d} over the louder side by {OVER_DB:g} dB, "
              f"{(under > HOLE_DB).sum():3d} under the quieter by {HOLE_DB:g} dB")  # fmt: skip
    error = fill_over - music_over
    both = (fill_over > OVER_DB) & (music_over > OVER_DB)
    holes = fill_under > HOLE_DB
    print(f"fills over by {OVER_DB:g} dB whose music was too: {both.sum()} of "
          f"{(fill_over > OVER_DB).sum()}; fills still under by {HOLE_DB:g} dB: {holes.sum()}, "
          f"their error {np.round(np.sort(error[holes]), 1).tolist()} dB")  # fmt: skip
    print(f"level error |fill - music|: mean {np.abs(error).mean():.2f} dB, over 6 dB in "
          f"{(np.abs(error) > 6).sum()}")  # fmt: skip


if __name__ == "__main__":
    main()
