"""Pauses between songs are not dropouts: album sides built from real recordings, scanned.

    python -m bench.pause_rule AUDIO_DIR...

(e.g. ``../shared/audio diffmusic_engine/evaluation/data/real``, recordings of 4 s or more)

1. **Album sides**: the first 4 s of each recording (song A) ends in a fade (linear in amplitude
   over ``FADES``, or linear in dB down to -60 dB) or rings out (its last 50 ms held, decaying
   60 dB over 0.3 or 1.5 s, gated to zero below -60 dB), then a pause of ``PAUSES`` of digital
   silence, then the next recording (song B), starting at once or over a 50 ms fade; stored in
   float, 24-bit, or 16-bit with TPDF dither (dither in the pause). How many pauses the rule
   finds as a dropout (wrongly) without the pause test (runs widened, all kept) and with it
   (``diagnose.dropouts.find``).
2. **Music's edges**: at every 10 ms of each recording, both ways, how far the
   PAUSE_EDGE_SECONDS there lie under the music's level farther out (the pause test's reading):
   the worst, and the share at PAUSE_DB or more (a dropout cut there would read as a pause).

Dropouts cut into the same music, through MP3, dither and resampling: ``bench.dropout_rule``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recordings import recordings_from_command_line  # noqa: E402
from diffmusic_engine.diagnose import dropouts  # noqa: E402
from diffmusic_engine.evaluation.storage import fixed_point  # noqa: E402

FADES = (0.01, 0.02, 0.05, 0.2, 0.5, 2.0)  # linear fades, seconds
TAILS = [("fade", s) for s in FADES] + [("dB fade", 0.5), ("dB fade", 2.0), ("decay", 0.3),
                                         ("decay", 1.5)]  # fmt: skip
PAUSES = (0.1, 0.4, 2.0)
STORAGE = ("float", "24-bit", "16-bit TPDF")
SONG_SECONDS = 4.0


def ending(song: np.ndarray, rate: int, kind: str, seconds: float) -> np.ndarray:
    """``song`` ending as ``kind`` says over ``seconds`` (see the module's docstring)."""
    song, length = song.copy(), round(seconds * rate)
    if kind == "fade":
        song[:, -length:] *= np.linspace(1, 0, length, dtype=np.float32)
        return song
    if kind == "dB fade":
        song[:, -length:] *= (10 ** (np.linspace(0, -60, length) / 20)).astype(np.float32)
        return song
    held = round(0.05 * rate)  # a decay: the last 50 ms held, ringing out
    ring = np.tile(song[:, -held:], (1, round(1.2 * length) // held + 1))[:, : round(1.2 * length)]
    envelope = 10 ** (-3 * np.arange(ring.shape[1]) / length)  # -60 dB at `seconds`
    ring = ring * np.where(envelope < 1e-3, 0.0, envelope).astype(np.float32)
    return np.concatenate([song, ring], axis=1)


def side(a: np.ndarray, b: np.ndarray, rate: int, pause: float, storage: str) -> tuple:
    """Song ``a``, ``pause`` seconds of digital silence, song ``b``, stored; where the pause is."""
    silence = np.zeros((a.shape[0], round(pause * rate)), np.float32)
    audio = np.concatenate([a, silence, b], axis=1)
    if storage == "24-bit":
        audio = fixed_point(audio, 24)
    elif storage == "16-bit TPDF":
        audio = fixed_point(audio, 16, "tpdf")
    return audio, a.shape[1], a.shape[1] + silence.shape[1]


def albums(recordings: list[tuple[str, np.ndarray, int]]) -> None:
    """Part 1: pauses found as dropouts without and with the pause test, per tail."""
    print("album sides: pauses found as a dropout (wrongly), of the cases, without / with the "
          "pause test")  # fmt: skip
    totals = np.zeros(3, int)
    for kind, seconds in TAILS:
        counts = np.zeros(3, int)  # cases, found without, found with
        for i, (_, audio, rate) in enumerate(recordings):
            b = recordings[(i + 1) % len(recordings)][1][:, : round(SONG_SECONDS * rate)]
            a = ending(audio[:, : round(SONG_SECONDS * rate)], rate, kind, seconds)
            for start in (0, round(0.05 * rate)):  # song B starts at once, or fades in
                b_in = b.copy()
                b_in[:, :start] *= np.linspace(0, 1, start, dtype=np.float32)
                for pause in PAUSES:
                    for storage in STORAGE:
                        counts += found_in_pause(*side(a, b_in, rate, pause, storage), rate)
        totals += counts
        name = f"{kind} {seconds:g} s"
        print(f"  {name:14s} {counts[0]:4d} cases  {counts[1]:4d} / {counts[2]:4d}")
    print(f"  {'all':14s} {totals[0]:4d} cases  {totals[1]:4d} / {totals[2]:4d}")


def found_in_pause(audio: np.ndarray, first: int, stop: int, rate: int) -> np.ndarray:
    """``[1, found without the pause test, found with it]`` for the pause ``first:stop``."""
    scanner = dropouts.DropoutScanner.at_rate(rate)
    runs = scanner.scan(audio, 0) + scanner.finish()
    without, with_test = scanner.widen(audio, runs), scanner.sift(audio, runs)
    return np.array([1, *(any(b > first and a < stop for a, b in spans)
                          for spans in (without, with_test))])  # fmt: skip


def edges(recordings: list[tuple[str, np.ndarray, int]]) -> None:
    """Part 2: the pause test's reading at every 10 ms of the music, both ways."""
    readings = []
    for _, audio, rate in recordings:
        ms = rate // 1000
        count = audio.shape[1] // ms
        power = np.mean(np.square(audio[:, : count * ms], dtype=np.float64).reshape(
            audio.shape[0], count, ms), axis=(0, 2))  # fmt: skip
        edge = round(dropouts.PAUSE_EDGE_SECONDS * 1000)
        frame = round(dropouts.PAUSE_FRAME_SECONDS * 1000)
        reach = round(dropouts.PAUSE_REFERENCE_SECONDS * 1000)
        for outward in (power, power[::-1]):
            summed = np.concatenate([[0.0], np.cumsum(outward)])
            for at in range(0, count - edge - reach, 10):
                near = (summed[at + edge] - summed[at]) / edge
                starts = np.arange(at + edge, at + edge + reach, frame)
                level = np.median((summed[starts + frame] - summed[starts]) / frame)
                readings.append(10 * np.log10(max(level, 1e-30) / max(near, 1e-30)))
    readings = np.array(readings)
    print(f"\nmusic's edges ({len(readings)} readings, every 10 ms both ways): "
          f"{dropouts.PAUSE_EDGE_SECONDS * 1000:g} ms under the median "
          f"{dropouts.PAUSE_FRAME_SECONDS * 1000:g} ms frame of the next "
          f"{dropouts.PAUSE_REFERENCE_SECONDS:g} s: worst {readings.max():.1f} dB, 99.9th "
          f"percentile {np.percentile(readings, 99.9):.1f} dB, at {dropouts.PAUSE_DB:g} dB or "
          f"more {np.mean(readings >= dropouts.PAUSE_DB) * 100:.3f} %")  # fmt: skip


def main() -> None:
    recordings = recordings_from_command_line(__doc__)
    if len(recordings) < 2 or min(a.shape[1] / r for _, a, r in recordings) < SONG_SECONDS:
        sys.exit("error: give folders of two or more recordings at least 4 s long")
    albums(recordings)
    edges(recordings)


if __name__ == "__main__":
    main()
