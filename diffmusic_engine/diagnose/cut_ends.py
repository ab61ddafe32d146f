"""Cut ends: digital silence at a file's start or end that cuts the music off, as a dropout does
(a transfer that cut out, or came in late). :mod:`.dropouts` finds runs inside the recording
only: silence at the start or end is a lead-in or a tail, and a song's own ends into digital
silence are not dropouts. Read here, as ``diagnose``'s ``cut_ends``, and left alone by
``restore --gap auto`` (give it as a gap).

A song ends (or begins) into digital silence by fading or decaying down to nothing; a dropout cuts
the music off at whatever level it plays. The one reading of that is the pause rule's, on the
one side there is (:func:`.pause_edges.fades_to_nothing`): the side beside the silence (as
:meth:`.dropouts.DropoutScanner.widen` widens it) reads as a fade, and its millisecond next to
the silence ends in nothing. A side whose 10 ms beside the silence lie under the dropout rule's
QUIET (a rest rounded to zeros) cuts off nothing to hear and is not said.

Measured on 24 real mixes (docs/results.md "Digital silence at a file's ends"): none of 4624
natural ends or beginnings into digital silence read as cut (fades of 1-5 s, linear or in dB to
-60 or -90 dB, reverb tails of measured rooms, a hit ringing out over 1 and 3 s; on every
channel or one; 24-bit, 16-bit, 16-bit TPDF, MP3), nor four recordings' real starts from silence
trimmed at -100 to -60 dBFS; of the cuts at a loud, sustained or quiet moment or an onset, 1137
of 1152 read as cut in WAV (12 of the 15 missed in a trumpet's rest under QUIET), 342 of 384
through MP3. Music that starts or stops on a hit out of digital silence reads as cut too (445 of
480 starts 0-20 ms before a strong onset of 32 real files; an onset reading does not tell them
apart: the music's rise over its first 40 ms, 10 dB or more in 37-54 of each 120 such starts,
and in 7 of 96 cuts), so nothing acts on it and ``diagnose``'s line says both.

A channel silent to the end (or from the start) longer than the others by CUT_MIN_SECONDS, the
others playing on beside it at QUIET or over, is read on that channel alone (a tape head's or a
cable's dropout at an end; :mod:`.dropouts` finds one inside the recording).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diffmusic_engine.diagnose import pause_edges
from diffmusic_engine.diagnose.dropouts import (
    EDGE_FRAME_SECONDS,
    EDGE_SECONDS,
    QUIET,
    SILENCE,
    DropoutScanner,
)
from diffmusic_engine.diagnose.pause_edges import (
    PAUSE_EDGE_SECONDS,
    PAUSE_MIN_SECONDS,
    PAUSE_REFERENCE_SECONDS,
)
from diffmusic_engine.diagnose.spans import as_findings

# Shorter silence at an end is not said (a codec's or an editor's few ms of padding: real
# recordings start 13-17 ms into the file); the pause rule's shortest pause
CUT_MIN_SECONDS = PAUSE_MIN_SECONDS

BLOCK = 2**16  # samples read at a time from each end for the silence there

# (first, stop) samples, the channels (from 0), "start" or "end"
CutEnd = tuple[int, int, tuple[int, ...], str]


def detect(audio: np.ndarray, sample_rate: int) -> list[dict]:
    """``[{"start": s, "end": s, "channels": [1, 2], "at": "end"}, ...]``, times rounded to
    0.1 ms, channels (those silent there) counted from 1: :func:`find`'s, for ``diagnose``."""
    found = find(audio, sample_rate)
    findings = as_findings([(first, stop) for first, stop, _, _ in found], sample_rate)
    for finding, (_, _, channels, at) in zip(findings, found, strict=True):
        finding["channels"] = [channel + 1 for channel in channels]
        finding["at"] = at
    return findings


def find(audio: np.ndarray, sample_rate: int) -> list[CutEnd]:
    """The runs of digital silence at the start and end of ``(channels, samples)`` ``audio``
    that cut the music off (the module's rule), on every channel or on some alone."""
    audio = np.atleast_2d(audio)
    length, frame = audio.shape[1], max(1, round(EDGE_FRAME_SECONDS * sample_rate))
    shortest = CUT_MIN_SECONDS * sample_rate
    reach = math.ceil((EDGE_SECONDS + PAUSE_EDGE_SECONDS + PAUSE_REFERENCE_SECONDS) * sample_rate)
    found: list[CutEnd] = []
    for at in ("start", "end"):
        silent = _silent_lengths(audio if at == "start" else audio[:, ::-1])
        if silent.min() == length:
            return []  # nothing plays: no music to cut off
        every = int(silent.min())
        runs = [(every, tuple(range(audio.shape[0])))] if every >= shortest else []
        runs += [(int(count), (channel,)) for channel, count in enumerate(silent)
                 if count - every >= shortest and count < length]  # fmt: skip
        for count, channels in runs:
            first, stop = (0, count) if at == "start" else (length - count, length)
            # the readings reach no farther: the widening, the 10 ms and the 2 s beyond
            low = 0 if at == "start" else max(0, first - reach)
            near = audio[:, low : stop + reach]
            if cut := _cut(near, first - low, stop - low, channels, frame):
                found.append((cut[0] + low, cut[1] + low, channels, at))
    return sorted(found)


def _silent_lengths(audio: np.ndarray) -> np.ndarray:
    """Per channel of ``audio``, how many samples from its start are digital silence (all of
    them: a silent channel), read a block at a time: the whole file had been read (1.9 s of a
    4-minute file's 2.2 s of readings)."""
    silent = np.full(audio.shape[0], -1)
    for start in range(0, audio.shape[1], BLOCK):
        sounding = np.abs(audio[:, start : start + BLOCK]) > SILENCE
        first = start + np.argmax(sounding, axis=1)
        silent = np.where((silent < 0) & sounding.any(axis=1), first, silent)
        if (silent >= 0).all():
            return silent
    return np.where(silent < 0, audio.shape[1], silent)


def _cut(audio: np.ndarray, first: int, stop: int, channels: tuple, frame: int) -> tuple | None:
    """The silence ``[first, stop)`` of ``channels`` at one end of ``audio`` (``first`` 0: at the
    start) widened over a codec's smear (:meth:`.dropouts.DropoutScanner.widen`), where it cuts
    their music off: the side beside it does not fade to nothing (:func:`.pause_edges.edge`) and
    its 10 ms there lie at QUIET or over; on some channels alone, the others play on beside it
    at QUIET or over. ``None`` where it does not."""
    track = audio[list(channels)]
    ((wide_first, wide_stop),) = DropoutScanner(1, edge_frame=frame).widen(track, [(first, stop)])
    if first == 0:  # at the start: the music after it
        outward, raw = track[:, wide_stop:], track[:, stop:]
    else:  # at the end: the music before it, running back
        outward, raw = track[:, :wide_first][:, ::-1], track[:, :first][:, ::-1]
    side = pause_edges.edge(outward, raw, frame)
    near = side[0][0][1]  # the mean power of its 10 ms beside the widened silence
    if near < QUIET**2 or pause_edges.fades_to_nothing(side):
        return None
    others = [c for c in range(audio.shape[0]) if c not in channels]
    # the others play on where this one stopped: their 10 ms from the silence's own edge inward
    within = audio[others, first:stop] if first else audio[others, :stop][:, ::-1]
    if others and pause_edges.level(within, frame)[0] < QUIET**2:
        return None
    return wide_first, wide_stop


def line(cut_ends: Sequence[Mapping[str, Any]], channels: int) -> str:
    """The line naming :func:`detect`'s ``cut_ends`` in audio of ``channels`` channels
    (diagnose's table; restore's ``--gap auto`` note, ``backends.CUT_ENDS``), with the gap that
    fills each if the music was cut there. Not said to be a dropout: a file that starts (or
    stops) on a hit out of digital silence reads the same (a loop, a stem, a render from its
    first note: docs/results.md "Digital silence at a file's ends")."""
    said = []
    for cut in cut_ends:
        start, end, dropped = cut["start"], cut["end"], cut.get("channels", [])
        some = f" on channel {', '.join(map(str, dropped))} of {channels}" if (
            dropped and len(dropped) < channels) else ""  # fmt: skip
        where = (f"from the start to {end:.4f} s, the music after it not fading in"
                 if cut["at"] == "start" else f"from {start:.4f} s to the end ({end:.4f} s), "
                 "the music before it not fading out")  # fmt: skip
        said.append(f"digital silence{some} {where} (--gap {start:.4f}:{end:.4f})")
    return (
        f"{'; '.join(said)}: if the music was cut off there (a transfer that cut out or came in "
        "late), give the --gap (--gap auto leaves a file's ends alone); a file that starts or "
        "stops on a hit (a loop, a stem, a render) reads the same: leave it"
    )
