"""Long dropouts on the dsp backend: speed on a 5-minute track, quality against a plain copy.

1. **Speed**: a 5-minute stereo 44.1 kHz track (the clips of ``/work/shared/audio`` or
   ``$DIFFMUSIC_AUDIO`` tiled in shuffled 2 s blocks when present, else ``synth.music_excerpt``)
   with 10 dropouts of 0.25-2 s: real-time factor (goal < 0.2 on 2 cores) and peak RSS.
2. **Quality** (when the clips are present): region LSD (AudioSR's, on the gap +- 50 ms) of the
   dsp fill and of a plain similarity copy (every frame position scored by the log-magnitude
   distance of its 0.5 s neighbourhoods to the gap's, the best copied in with the same 2 ms
   crossfade: no features, ranking, refinement or level match), at 0.25/0.5/1/2 s, over many gap
   positions in every mix (``declined``: positions the dsp backend refused, e.g. a short clip
   with no other passage of the gap's length; left out of both columns). And the splice step:
   the largest sample-to-sample jump within 10 ms of each gap edge that the fill made (at a
   sample it changed: the music's own onset beside a gap is not counted) over the
   99th-percentile jump of the second around it (no audible step: <= 4).

Usage: .venv/bin/python bench/dropouts.py [--quick] [--skip-speed] [--skip-quality]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peak_memory import peak_mib  # noqa: E402
from diffmusic_engine import metrics  # noqa: E402
from diffmusic_engine.api import degrade, restore  # noqa: E402
from diffmusic_engine.audio import read_audio  # noqa: E402
from diffmusic_engine.damage import Gap, Inpaint  # noqa: E402
from diffmusic_engine.dsp.inpaint import blend, regions  # noqa: E402
from diffmusic_engine.errors import DamageError  # noqa: E402
from diffmusic_engine.synth import music_excerpt  # noqa: E402

RATE = 44100
AUDIO = Path(os.environ.get("DIFFMUSIC_AUDIO", "/work/shared/audio"))
LENGTHS = (0.25, 0.5, 1.0, 2.0)
MARGIN = 0.05  # the region scored: the gap +- 50 ms


def mixes() -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(AUDIO.glob("*_mix.flac")) if AUDIO.is_dir() else []:
        audio, info = read_audio(path)
        if info.sample_rate == RATE:
            found[path.name.removesuffix("_mix.flac")] = audio
    return found


def similarity_copy(damaged: np.ndarray, damage: Inpaint, context: float = 0.5) -> np.ndarray:
    """The baseline: copy the passage whose neighbourhoods best match the gap's (log-magnitude
    STFT frames, 2048/512), at frame resolution, with the damage's crossfade."""
    import librosa

    hop = 512
    mono = damaged.mean(axis=0)
    log_mag = np.log(np.abs(librosa.stft(mono, n_fft=2048, hop_length=hop)) + 1e-5).T
    out = damaged.copy()
    n, c = damaged.shape[1], int(context * RATE / hop)
    todo = regions(damage, RATE, n)
    for region in todo:
        a, b = region.gap_first // hop, -(-region.gap_stop // hop)
        frames = np.r_[max(0, a - c) : a - 2, b + 2 : min(len(log_mag), b + c)]
        best, best_score = None, np.inf
        for shift in range(-a, len(log_mag) - b):
            src_first, src_stop = region.first + shift * hop, region.stop + shift * hop
            if src_first < 0 or src_stop > n:
                continue
            if any(src_first < r.stop and src_stop > r.first for r in todo):
                continue
            moved = frames + shift
            keep = (moved >= 0) & (moved < len(log_mag))
            if keep.sum() < len(frames) // 2:
                continue
            score = np.mean((log_mag[frames[keep]] - log_mag[moved[keep]]) ** 2)
            if score < best_score:
                best, best_score = shift * hop, score
        if best is None:
            continue
        for ch in range(damaged.shape[0]):
            source = damaged[ch, region.first + best : region.stop + best].astype(np.float64)
            out[ch, region.first : region.stop] = blend(
                damaged[ch, region.first : region.stop], source, region
            )
    return out


def step_ratio(clean: np.ndarray, estimate: np.ndarray, edge: int) -> float:
    """Largest |x[n+1] - x[n]| of ``estimate`` within 10 ms of ``edge``, over a step the fill
    touched (either sample differs from the clean: the music's own onset beside a gap is not the
    splice's), over the 99th percentile of the clean second around it (the worse channel)."""
    w, s = int(0.01 * RATE), RATE // 2
    window = slice(max(0, edge - w), edge + w)
    changed = estimate[:, window] != clean[:, window]
    jumps = np.abs(np.diff(estimate[:, window], axis=1)) * (changed[:, 1:] | changed[:, :-1])
    near = jumps.max(axis=1)
    around = np.abs(np.diff(clean[:, max(0, edge - s) : edge + s], axis=1))
    return float(np.max(near / np.maximum(np.percentile(around, 99, axis=1), 1e-9)))


def quality(quick: bool) -> None:
    clips = mixes()
    if not clips:
        print(f"quality: skipped ({AUDIO} has no *_mix.flac at {RATE} Hz)")
        return
    positions = 4 if quick else 10
    print(f"region LSD (gap +- {MARGIN * 1000:g} ms, AudioSR), mean over {positions} positions "
          f"in each of {', '.join(clips)}; step = worst edge jump made / p99 jump")  # fmt: skip
    print(f"{'gap (s)':>8}{'copy':>8}{'dsp':>8}{'change':>9}{'step copy':>11}{'step dsp':>10}"
          f"{'declined':>10}")  # fmt: skip
    for length in LENGTHS:
        lsd = {"copy": [], "dsp": []}
        steps = {"copy": [], "dsp": []}
        declined = 0
        for clean in clips.values():
            duration = clean.shape[1] / RATE
            for start in np.linspace(0.6, duration - length - 0.6, positions):
                gap = Gap(round(float(start), 4), round(float(start) + length, 4))
                damage = Inpaint((gap,))
                damaged = degrade(clean, RATE, damage)
                region = (gap.start - MARGIN, gap.end + MARGIN)
                try:
                    filled = restore(damaged, RATE, damage).audio
                except DamageError:  # e.g. no other passage of the gap's length in a short clip
                    declined += 1
                    continue
                for name, estimate in (("copy", similarity_copy(damaged, damage)), ("dsp", filled)):
                    lsd[name].append(metrics.lsd_audiosr(clean, estimate, RATE, region=region))
                    for edge in (gap.start, gap.end):
                        steps[name].append(step_ratio(clean, estimate, round(edge * RATE)))
        copy, dsp = np.mean(lsd["copy"]), np.mean(lsd["dsp"])
        print(f"{length:>8.2f}{copy:>8.3f}{dsp:>8.3f}{100 * (dsp / copy - 1):>8.1f}%"
              f"{max(steps['copy']):>11.2f}{max(steps['dsp']):>10.2f}{declined:>10}",
              flush=True)  # fmt: skip


def long_track(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``seconds`` of stereo music that repeats: shuffled 2 s blocks of the clips, or synth."""
    clips = list(mixes().values())
    if not clips:
        return music_excerpt(seconds, RATE), "synth.music_excerpt"
    block = 2 * RATE
    blocks = [c[:, i : i + block] for c in clips for i in range(0, c.shape[1] - block + 1, block)]
    order = rng.integers(0, len(blocks), int(np.ceil(seconds * RATE / block)))
    track = np.concatenate([blocks[i] for i in order], axis=1)[:, : int(seconds * RATE)]
    return np.ascontiguousarray(track, dtype=np.float32), f"shuffled 2 s blocks of {AUDIO}"


def speed(seconds: float) -> None:
    rng = np.random.default_rng(0)
    clean, source = long_track(seconds, rng)
    slots = np.linspace(5, seconds - 5, 11)[:-1]
    gaps = tuple(
        Gap(round(float(t), 3), round(float(t + rng.uniform(0.25, 2.0)), 3)) for t in slots
    )
    damage = Inpaint(gaps)
    damaged = degrade(clean, RATE, damage)
    restore(damaged[:, : 20 * RATE], RATE, Inpaint(gaps[:1]))  # warm-up (librosa, numba)
    wall, cpu = time.perf_counter(), time.process_time()
    result = restore(damaged, RATE, damage)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_mib()
    methods = [fill["method"] for fill in result.details["fills"]]
    print(f"{seconds:g} s stereo {RATE} Hz ({source}), {len(gaps)} dropouts of 0.25-2 s "
          f"({methods.count('pattern')} pattern, {methods.count('ar')} AR)")  # fmt: skip
    print(f"wall {wall:.2f} s, CPU {cpu:.2f} s, RTF {wall / seconds:.3f} (goal < 0.2), "
          f"peak RSS {peak:.0f} MiB (audio itself: {clean.nbytes / 2**20:.0f} MiB)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer gap positions (make bench)")
    parser.add_argument("--seconds", type=float, default=300.0, help="track length (default 300)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_speed:
        speed(args.seconds)
    if not args.skip_quality:
        quality(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
