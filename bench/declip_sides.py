"""Declip of recordings whose two sides were clipped apart: auto against one level for both.

    python -m bench.declip_sides AUDIO_DIR...

4 s of each recording (from 2 s), clipped at fractions of its peak: each case's positive and
negative level, one side alone, one level for both, and an integer file's full scale (the
negative side one step further than the positive: 16- and 8-bit). Per case the mean SI-SDR
(:func:`diffmusic_engine.metrics.si_sdr`, dB) of the clipped input and of the declip at
``--level auto`` (each side at its own, :func:`diffmusic_engine.clipping.auto_levels`), at
one level for both sides at the higher side's (what auto took before it read the sides) and at
the lower side's, and how many of the recordings auto leaves under either (by 0.01 dB or
more), and by how much at most. Last, how many of the whole recordings, clean, as they are and
at -1, -30 and -40 dBFS, float and 16-bit, auto reads as clipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import recordings_from_command_line  # noqa: E402
from diffmusic_engine.api import restore  # noqa: E402
from diffmusic_engine.clipping import auto_levels  # noqa: E402
from diffmusic_engine.damage import Declip  # noqa: E402
from diffmusic_engine.metrics import si_sdr  # noqa: E402

# (positive, negative) levels as fractions of the peak; None: that side is not clipped; an
# integer: the full scale of a file of that many bits, the music 4 dB over it
CASES = {"+0.5 / -0.7": (0.5, 0.7), "+0.4 / -0.8": (0.4, 0.8), "+0.6 / -0.9": (0.6, 0.9),
         "+0.5 alone": (0.5, None), "0.6 both": (0.6, 0.6), "16-bit full scale": 16,
         "8-bit full scale": 8}  # fmt: skip


def clipped(music: np.ndarray, case: tuple | int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The clean reference, the clipped audio and its (positive, negative) levels."""
    peak = float(np.abs(music).max())
    if isinstance(case, int):
        steps, clean = 2.0 ** (case - 1), music / peak * 1.6
        damaged = np.clip(np.round(clean * steps), -steps, steps - 1) / steps
        return clean, damaged.astype(np.float32), ((steps - 1) / steps, 1.0)
    high, low = case[0] * peak, (case[1] or 2.0) * peak
    return music, np.clip(music, -low, high).astype(np.float32), (high, low)


def scores(music: np.ndarray, rate: int, case: tuple | int) -> list[float]:
    """SI-SDR of the clipped input, auto, one level at the higher side's, at the lower's."""
    clean, damaged, (high, low) = clipped(music, case)
    levels = sorted({high, min(low, float(np.abs(damaged).max()))})
    declipped = [restore(damaged, rate, Declip(level=level)).audio for level in levels[::-1]]
    ones = declipped + declipped[:1] * (2 - len(declipped))  # one level only: both columns
    auto = restore(damaged, rate, Declip(level="auto")).audio
    return [si_sdr(clean, audio) for audio in (damaged, auto, *ones)]


def clean_reads(recordings: list[tuple[str, np.ndarray, int]]) -> tuple[int, int]:
    """How many clean versions of the recordings auto reads as clipped, of how many."""
    versions = [
        music if gain_db is None else music / np.abs(music).max() * 10 ** (gain_db / 20)
        for _, music, _ in recordings for gain_db in (None, -1, -30, -40)
    ]  # fmt: skip
    sixteen = [(np.clip(np.round(v * 32768), -32768, 32767) / 32768) for v in versions]
    read = [auto_levels(v.astype(np.float32)) is not None for v in versions + sixteen]
    return sum(read), len(read)


def main() -> None:
    recordings = recordings_from_command_line(__doc__)
    head = "| case | n | clipped | auto | one level, higher | one level, lower | auto under (dB) |"
    print(head)
    print("|---|---|---|---|---|---|---|")
    for name, case in CASES.items():
        rows = np.array([scores(m[:, 2 * r : 6 * r], r, case) for _, m, r in recordings])
        short = rows[:, 2:].max(axis=1) - rows[:, 1]  # how far auto lies under the better one
        under = f"{np.sum(short >= 0.01)} ({max(short.max(), 0.0):.2f})"
        means = " | ".join(f"{value:.2f}" for value in rows.mean(axis=0))
        print(f"| {name} | {len(rows)} | {means} | {under} |", flush=True)
    print("clean recordings read as clipped: {} of {}".format(*clean_reads(recordings)))


if __name__ == "__main__":
    main()
