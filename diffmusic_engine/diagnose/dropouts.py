"""Dropouts: runs of digital silence (every channel at zero) inside the recording.

The one rule for "a dropout", used by ``diffmusic diagnose``, ``restore --gap auto`` and the
batch's ``gaps="auto"`` (which scans the audio as it streams by): a run of at least
:data:`MIN_SECONDS` where every channel stays at or below :data:`SILENCE`. Silence at the very
start or end is a lead-in or a tail, not a dropout, and is not reported.

Why digital silence and not "very quiet" (measured on the 14 real recordings, docs/results.md
"Dropouts"): played 40-60 dB down, as quiet passages are, real music stays below -90 dBFS on
every channel for milliseconds at a time (rests, note ends), and a -90 dBFS rule takes those for
dropouts and fills them; at digital silence none was found, in 24-bit or 16-bit, down to -50 dB.
The price: a dropout that was dithered afterwards (16-bit TPDF, +-1 LSB) is not digital silence
and is not found; give it as a gap.

A lossy codec or a resampler smears a dropout's edges: after MP3 the digital silence starts
10-25 ms late and ends 5-15 ms early, the rest of the dropout ringing 25-90 dB under the music.
:meth:`DropoutScanner.widen` takes those edges back into the dropout (measured in
docs/results.md "Dropouts"), so that the fill does not leave them as short holes on either side.
"""

from __future__ import annotations

import math

import numpy as np

# At or below this every channel counts as digital silence (below half a 24-bit step).
SILENCE = 2.0**-25
SILENCE_DB = 20.0 * math.log10(SILENCE)  # about -150.5 dBFS
# Shorter runs are zero crossings or quiet samples, not dropouts.
MIN_SECONDS = 0.002
# Widening a found dropout's edges (DropoutScanner.widen): a frame of EDGE_FRAME_SECONDS beside
# the dropout joins it while its power stays EDGE_DB under the music's level (the median frame
# of the EDGE_REFERENCE_SECONDS beyond the widest reach), up to EDGE_SECONDS on each side.
EDGE_SECONDS = 0.03
EDGE_FRAME_SECONDS = 0.001
EDGE_REFERENCE_SECONDS = 0.02
EDGE_DB = 20.0
_EDGE_FRAMES = math.ceil(EDGE_SECONDS / EDGE_FRAME_SECONDS)  # frames that may join: 30
_REFERENCE_FRAMES = math.ceil(EDGE_REFERENCE_SECONDS / EDGE_FRAME_SECONDS)  # 20


class DropoutScanner:
    """Finds dropouts block by block, as audio streams by (a whole recording is one block).

    Runs of ``min_length`` samples or more where every channel stays within ``silence`` of
    zero, with audio on both sides: a run still open when the audio ends is its tail. Runs
    longer than ``max_length`` (``None``: no limit) are not reported as dropouts; they are kept
    in :attr:`longer` for the caller to say that it left them alone. :meth:`widen` takes the
    smeared edges beside them in, a frame of ``edge_frame`` samples at a time (0: never).
    """

    def __init__(
        self,
        min_length: int,
        max_length: int | None = None,
        *,
        silence: float = SILENCE,
        edge_frame: int = 0,
    ) -> None:
        self.silence = silence
        self.edge_frame = edge_frame
        self.min_length = max(1, min_length)
        self.max_length = max_length
        self.run_start: int | None = None  # where the silent run now open began
        self.longer: list[tuple[int, int]] = []

    @classmethod
    def at_rate(
        cls,
        sample_rate: int,
        *,
        min_seconds: float = MIN_SECONDS,
        max_seconds: float | None = None,
        silence: float = SILENCE,
    ) -> DropoutScanner:
        """The scanner for audio at ``sample_rate``, lengths in seconds."""
        longest = None if max_seconds is None else int(max_seconds * sample_rate)
        return cls(
            math.ceil(min_seconds * sample_rate),
            longest,
            silence=silence,
            edge_frame=max(1, round(EDGE_FRAME_SECONDS * sample_rate)),
        )

    def scan(self, block: np.ndarray, position: int) -> list[tuple[int, int]]:
        """Dropouts ``(first, stop)`` in samples that end in ``(channels, samples)`` ``block``,
        which starts at sample ``position`` of the recording."""
        silent = np.all(np.abs(block) <= self.silence, axis=0).astype(np.int8)
        was_silent = int(self.run_start is not None)
        edges = np.diff(np.concatenate([[was_silent], silent]))
        starts = list(position + np.flatnonzero(edges == 1))
        stops = list(position + np.flatnonzero(edges == -1))
        if self.run_start is not None:
            starts.insert(0, self.run_start)
        found = []
        for first, stop in zip(starts, stops, strict=False):
            if first == 0 or stop - first < self.min_length:
                continue
            if self.max_length is not None and stop - first > self.max_length:
                self.longer.append((int(first), int(stop)))
            else:
                found.append((int(first), int(stop)))
        self.run_start = int(starts[-1]) if len(starts) > len(stops) else None
        return found

    def widen(self, audio: np.ndarray, runs: tuple | list) -> list[tuple[int, int]]:
        """The dropouts ``runs`` (``(first, stop)`` samples into ``(channels, samples)``
        ``audio``, in order) with the smeared edges beside them taken in; never past a
        neighbouring run or the audio's ends. Runs fewer than ``min_length`` samples apart are
        one dropout (MP3 leaves single samples inside one)."""
        if not self.edge_frame:
            return list(runs)
        joined: list[tuple[int, int]] = []
        for first, stop in runs:
            if joined and first - joined[-1][1] < self.min_length:
                first = joined.pop()[0]
            joined.append((first, stop))
        runs, widened = joined, []
        for i, (first, stop) in enumerate(runs):
            before = runs[i - 1][1] if i else 0
            after = runs[i + 1][0] if i + 1 < len(runs) else audio.shape[1]
            widened.append((
                first - self._smear(audio[:, before:first][:, ::-1]),
                stop + self._smear(audio[:, stop:after]),
            ))  # fmt: skip
        return widened

    def _smear(self, outward: np.ndarray) -> int:
        """Samples of ``outward`` (the audio running away from a dropout's edge) that belong to
        the dropout: whole frames from the edge on, each EDGE_DB or more under the music's level
        (the median frame beyond the reach)."""
        frame = self.edge_frame
        count = min(outward.shape[1] // frame, _EDGE_FRAMES + _REFERENCE_FRAMES)
        if count <= _EDGE_FRAMES:  # no music beyond the reach to compare with
            return 0
        frames = outward[:, : count * frame].reshape(outward.shape[0], count, frame)
        power = np.mean(np.square(frames, dtype=np.float64), axis=(0, 2))
        level = np.median(power[_EDGE_FRAMES:])  # the music's, per frame
        quiet = power[:_EDGE_FRAMES] < level * 10 ** (-EDGE_DB / 10)
        return frame * (_EDGE_FRAMES if quiet.all() else int(np.argmin(quiet)))

    def open_from(self, received: int) -> int:
        """The earliest sample a dropout not reported yet could start at."""
        return self.run_start if self.run_start is not None else received


def find(audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """``[(start, end), ...]`` in seconds, one per dropout in ``(channels, samples)`` ``audio``."""
    scanner = DropoutScanner.at_rate(sample_rate)
    runs = scanner.widen(audio, scanner.scan(audio, 0))
    return [(first / sample_rate, stop / sample_rate) for first, stop in runs]


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]``, rounded to 0.1 ms: the findings for ``diagnose``."""
    return [{"start": round(a, 4), "end": round(b, 4)} for a, b in find(audio, sample_rate)]
