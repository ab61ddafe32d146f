"""``make demo``: cut dropouts (10 ms to 500 ms) into real music, restore them on the dsp backend.

    python -m diffmusic_engine.demo demo-output

The music is the four 6 s excerpts of real songs the package ships (``evaluation/data/real``,
backing + guitar stems summed, licences in its README). Prints, per dropout length, how the
zero-filled input, linear interpolation and the dsp restoration compare with the clean excerpt
(median over the songs), and writes the first song's ``clean.wav``, ``damaged.wav``,
``restored.wav``, ``linear.wav`` and ``spectrogram.png`` (before/after, zoomed on the 500 ms gap)
into the folder.

Which measure a gap is read by follows how it is filled: a gap shorter than the inpainting's
``pattern_from`` is interpolated from the waveform beside it, so the in-gap SNR says how close
it came; a longer one is filled with matching music from elsewhere in the track, which is never
the lost waveform (any such fill reads near or under 0 dB SNR, under the zero-fill's), so its
row is the gain-compensated log-mel distance on the gap +-50 ms, which judges what is heard.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.audio import write_audio
from diffmusic_engine.damage import Gap, Inpaint, gap_samples
from diffmusic_engine.dsp.inpaint import OPTIONS as INPAINT_OPTIONS
from diffmusic_engine.dsp.inpaint import by_pattern
from diffmusic_engine.dsp.options import parse_options
from diffmusic_engine.evaluation.baselines import linear_interpolation
from diffmusic_engine.evaluation.corpus import REAL_SONGS, SAMPLE_RATE, real_stems
from diffmusic_engine.evaluation.plots import save_spectrograms

DURATION = 6.0
# 20 and 10 ms (interpolated), 40 and 500 ms (the pattern fill, from pattern_from's 25 ms)
GAPS = (Gap(1.310, 1.330), Gap(2.705, 2.745), Gap(3.500, 4.000), Gap(4.470, 4.480))
CONTEXT_S = 0.05  # the log-mel distance is taken on the gap and this much either side
# each version of the excerpt compared: its column in the table, and its file's name
VERSIONS = {"zero-fill": "damaged", "linear": "linear", "dsp": "restored"}


def interpolated(gap: Gap) -> bool:
    """Whether the dsp inpainting interpolates ``gap`` (shorter than ``pattern_from``)."""
    first, stop = gap_samples(gap, SAMPLE_RATE)
    defaults = parse_options("inpaint", {}, INPAINT_OPTIONS)
    return not by_pattern(stop - first, SAMPLE_RATE, False, defaults)


def gap_score(clean: np.ndarray, estimate: np.ndarray, sample_rate: int, gap: Gap) -> float:
    """The in-gap SNR (dB) of an interpolated gap, the log-mel distance (dB) on a filled one."""
    if interpolated(gap):
        inside = slice(*gap_samples(gap, sample_rate))
        return metrics.snr(clean[:, inside], estimate[:, inside])
    around = slice(*gap_samples(Gap(gap.start - CONTEXT_S, gap.end + CONTEXT_S), sample_rate))
    return metrics.log_mel_distance(clean[:, around], estimate[:, around], sample_rate)


def restore_song(song: str) -> tuple[dict[str, np.ndarray], float]:
    """The song's clean excerpt and each version of it (:data:`VERSIONS`), and the dsp
    restoration's time in seconds."""
    clean = sum(real_stems(song, DURATION).values())
    damage = Inpaint(GAPS)
    damaged = degrade(clean, SAMPLE_RATE, damage)
    started = time.perf_counter()
    restored = restore(damaged, SAMPLE_RATE, damage, backend="dsp").audio
    seconds = time.perf_counter() - started
    linear = linear_interpolation(damaged, GAPS, SAMPLE_RATE)
    return {"clean": clean, "zero-fill": damaged, "linear": linear, "dsp": restored}, seconds


def score_table(songs: dict[str, dict[str, np.ndarray]]) -> dict[Gap, dict[str, float]]:
    """Per gap and version, the gap's score (:func:`gap_score`), median over the songs."""
    return {
        gap: {
            version: float(
                np.median(
                    [
                        gap_score(audio["clean"], audio[version], SAMPLE_RATE, gap)
                        for audio in songs.values()
                    ]
                )
            )  # fmt: skip
            for version in VERSIONS
        }
        for gap in sorted(GAPS, key=lambda gap: gap.end - gap.start)
    }


def print_table(table: dict[Gap, dict[str, float]]) -> None:
    print(f"{'dropout':<9}{'measure':<32}" + "".join(f"{version:>11}" for version in VERSIONS))
    for gap, row in table.items():
        if interpolated(gap):
            measure = "in-gap SNR, dB (higher: better)"
        else:
            measure = "log-mel, dB (lower: better)"
        length = f"{(gap.end - gap.start) * 1000:.0f} ms"
        print(f"{length:<9}{measure:<32}" + "".join(f"{row[v]:>11.2f}" for v in VERSIONS))


def write_files(folder: Path, audio: dict[str, np.ndarray], song: str) -> None:
    """One song's versions as WAVs and the spectrogram around the longest gap."""
    for version, name in {"clean": "clean", **VERSIONS}.items():
        write_audio(folder / f"{name}.wav", audio[version], SAMPLE_RATE)
    gap = max(GAPS, key=lambda gap: gap.end - gap.start)
    save_spectrograms(
        folder / "spectrogram.png",
        {"clean": audio["clean"], "damaged": audio["zero-fill"], "restored (dsp)": audio["dsp"]},
        SAMPLE_RATE,
        title=f"{song}: {(gap.end - gap.start) * 1000:.0f} ms dropout at {gap} s, before / after "
        "(dsp backend, pattern fill)",
        span=(gap.start - 0.3, gap.end + 0.3),
        marks=(gap.start, gap.end),
    )


def run(folder: Path, songs: tuple[str, ...] = REAL_SONGS) -> dict[Gap, dict[str, float]]:
    """Damage, restore and measure each song; write the first one's files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    restored, seconds = {}, []
    for song in songs:
        restored[song], took = restore_song(song)
        seconds.append(took)
    table = score_table(restored)
    took = f"{min(seconds):.1f}-{max(seconds):.1f} s"
    print(f"{len(songs)} real {DURATION:g} s stereo excerpt(s) at {SAMPLE_RATE} Hz "
          f"({', '.join(songs)}), dropouts at {', '.join(str(g) for g in GAPS)} s; "
          f"dsp restore took {took} each. Median over the songs:")  # fmt: skip
    print_table(table)
    write_files(folder, restored[songs[0]], songs[0])
    print(f"wrote {songs[0]}'s clean/damaged/restored/linear .wav and spectrogram.png to {folder}/")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffmusic_engine.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path, nargs="?", default=Path("demo-output"))
    args = parser.parse_args(argv)
    run(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
