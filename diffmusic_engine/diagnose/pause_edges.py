"""Pauses between songs: what :meth:`.dropouts.DropoutScanner.sift` reads of the music beside a
silent run to leave it alone as a pause, not fill it as a dropout.

A pause is digital silence the music fades or decays into (or out of): on one side the music
falls to nothing. A dropout cuts the music off, at whatever level it is playing: in sparse music
(a trumpet's rest, the quiet between two drum hits) that level can lie 20-30 dB under the music
around, which the fade readings alone (:func:`edge`) take for a fade. So a side reads as fading
only where it also ends in nothing (:func:`ends_in_nothing`): its last millisecond before the
silence lies FADE_END_DB under the music just before (a fade goes down to zero), or GATE_STEP_DB
under the other side's edge (a decay gated to zero, the next song starting at its level). And
music rising after the silence from the level the music before it plays on at is an entry after
a rest, not a song's start: the rest was cut off (:func:`is_pause`).

The same readings of the music beside a run tell whether a channel plays on both sides of a run
found on it alone (:func:`plays_beside`, :mod:`.dropouts`' one-channel rule).
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import short_fades

# A pause, not a dropout (DropoutScanner.sift): the PAUSE_EDGE_SECONDS beside the widened run
# PAUSE_DB or more under the music's level farther out (the median frame of PAUSE_FRAME_SECONDS
# over the next PAUSE_REFERENCE_SECONDS), on one side. In real music at every 10 ms the edge
# read at most 18.2 dB under that level; the pauses after a 0.2 s linear fade read 23.4 dB or
# more, after a 2 s fade linear in dB 25.9 dB. The reference spans 2 s: over 1 s that fade
# (30 dB/s) read 11.5 dB (docs/results.md "Pauses between songs are not dropouts").
PAUSE_EDGE_SECONDS = 0.01
PAUSE_FRAME_SECONDS = 0.01
PAUSE_REFERENCE_SECONDS = 2.0
PAUSE_DB = 20.0
# ... and the other side is not that fade going on: it fades too, or its edge is this much
# louder than the fading side's (the next song; a 50 ms fade-in's first 10 ms lie 12 dB over a
# 0.2 s linear fade-out's last; a dropout inside a fade-out has the fade's level either side)
PAUSE_STEP_DB = 6.0
PAUSE_MIN_SECONDS = 0.05  # ... and it lasts this long (pauses measured: 0.1 s and longer)
# ... and the fading side ends in nothing: its last millisecond before the (unwidened) silence
# FADE_END_DB or more under the music just before (the median 1 ms frame 20-60 ms from the
# silence, short_fades.SHORT_REFERENCE_SECONDS), or GATE_STEP_DB or more under the other side's
# first PAUSE_EDGE_SECONDS. Album sides of bench.pause_rule (14 recordings; every tail, pauses
# of 0.1 and 0.4 s, float and 16-bit TPDF; 927 pauses): the fades of 10 ms-2 s read 21.0 dB or
# more under the music just before (fades in amplitude go to zero), the fades in dB and gated
# decays (cut at -60 dB: 0-3 dB) 41.2 dB or more under the next song's edge. 320 dropouts cut
# into 10 real mixes (a user trial's sweep, 50 and 250 ms): 16 read as pauses by the fade
# readings alone; their fading sides read -3 to 21.3 dB under the music just before (all but two
# under 15.0) and at most 36.1 dB under the other side (docs/results.md "Pauses: the music
# ends in nothing").
FADE_END_DB = 18.0
GATE_STEP_DB = 38.0
# ... or that millisecond's mean power at or below FADE_FLOOR_DB (dBFS): a fade in quiet music
# reaches the quiet level (2^-12, where the scanner's quiet run begins) before the music just
# before it is FADE_END_DB over it (a 0.5 s fade of the brahms mix: -69.5 dBFS against -52.6);
# the quietest edge of the sweep's dropouts read -64.2 dBFS (drumbass at 7.12 s).
FADE_FLOOR_DB = -66.0
# An entry after a rest, not a song's start (is_pause): the side after rises from the level the
# side before plays on at, its first millisecond within REST_RISE_DB of the side before's 10 ms
# edge. 297 dropouts cut into 20 real mixes read as pauses by the side after's short fade alone:
# 4.6-36.4 dB (10 of 12 within 18); a song cut off at its level, resuming over a 30-50 ms fade:
# 33 dB or more (docs/results.md "Dropouts in held-out real music"). Not FADE_END_DB, though 18
# too: that is a fade's last millisecond under the music just before it, on one side.
REST_RISE_DB = 18.0
# ... where the side before plays on: not falling, the median PAUSE_FRAME_SECONDS frame of its
# first FALL_SECONDS (of the reference level() reads) less than FALL_DB under the median frame of
# the rest of the reference. A fade-out too slow for the 10 ms reading (30 dB over 3 s, 20 dB
# over 0.5 s, then cut to silence) falls 7.4-21.0 dB so (album sides of 32 real recordings);
# the 9 dropouts before an entry the rest rule finds, -4.2 to 2.1 dB (docs/results.md "Pauses
# after a slow fade-out cut short are not entries after a rest").
FALL_SECONDS = 0.5
FALL_DB = 6.0
_EDGE_FRAMES = round(PAUSE_EDGE_SECONDS * 1000)  # in the scanner's 1 ms frames: 10
_FRAME_FRAMES = round(PAUSE_FRAME_SECONDS * 1000)  # 10
_FRAMES = round(PAUSE_REFERENCE_SECONDS / PAUSE_FRAME_SECONDS)  # 200 frames of reference
_FALL_FRAMES = round(FALL_SECONDS / PAUSE_FRAME_SECONDS)  # 50 of them

# (fade readings, ends in nothing locally, the mean power of its first millisecond as found,
# falls: its level FALL_DB lower over the first FALL_SECONDS of the reference than past them)
Edge = tuple[list[tuple[bool, float]], bool, float, bool]


def level(outward: np.ndarray, frame: int) -> tuple[float, float | None]:
    """The mean power of the first PAUSE_EDGE_SECONDS of ``outward`` (the audio running away
    from a run's edge, ``(channels, samples)``; ``frame``: samples in a millisecond), and the
    music's level beyond it: the median PAUSE_FRAME_SECONDS frame of what ``outward`` holds of
    the PAUSE_REFERENCE_SECONDS there (``None``: it holds none)."""
    beside = outward[:, : frame * _EDGE_FRAMES]  # none where a widened run reaches the end
    near = float(np.mean(np.square(beside, dtype=np.float64))) if beside.size else 0.0
    frames = _frames(outward, frame)
    return near, float(np.median(frames)) if frames.size else None


def _frames(outward: np.ndarray, frame: int) -> np.ndarray:
    """The mean power of each PAUSE_FRAME_SECONDS frame that ``outward`` holds of the
    PAUSE_REFERENCE_SECONDS past its first PAUSE_EDGE_SECONDS (the reference :func:`level`
    reads)."""
    edge, size = frame * _EDGE_FRAMES, frame * _FRAME_FRAMES
    count = max(0, min((outward.shape[1] - edge) // size, _FRAMES))
    frames = outward[:, edge : edge + count * size].reshape(outward.shape[0], count, size)
    return np.mean(np.square(frames, dtype=np.float64), axis=(0, 2))


def falls(outward: np.ndarray, frame: int) -> bool:
    """Whether the music of ``outward`` (running away from a run's edge) falls into the run:
    the median frame of the reference's first FALL_SECONDS FALL_DB or more under the median of
    the rest (a fade-out too slow for the 10 ms reading). False where it holds too little."""
    frames = _frames(outward, frame)
    if frames.size <= _FALL_FRAMES:
        return False
    return float(np.median(frames[:_FALL_FRAMES])) * 10 ** (FALL_DB / 10) <= float(
        np.median(frames[_FALL_FRAMES:])
    )


def plays_beside(audio: np.ndarray, first: int, stop: int, frame: int, quiet: float) -> bool:
    """Whether ``audio`` plays music on both sides of the run ``[first, stop)`` (``frame``:
    samples in a millisecond): the PAUSE_EDGE_SECONDS beside each edge, and the level beyond
    (:func:`level`: the median 10 ms frame of the next 2 s), at or above ``quiet`` (the
    dropout rule's QUIET: what is quieter reads as a dithered silence). A channel silent most
    of the time there (a sparse or hard-panned part), or a rest of quiet music rounded to
    zeros, does not: what :mod:`.dropouts` asks of a run found on one channel alone."""
    readings = [level(side, frame) for side in (audio[:, :first][:, ::-1], audio[:, stop:])]
    return all(far is not None and min(near, far) >= quiet**2 for near, far in readings)


def edge(outward: np.ndarray, raw: np.ndarray, frame: int) -> Edge:
    """What a side of a run reads: whether the music of ``outward`` (the audio running away from
    the widened run's edge) fades into the run, and the mean power it is read over, per window
    (its first PAUSE_EDGE_SECONDS PAUSE_DB or more under its level farther out, then the short
    fades' :func:`.short_fades.readings`); whether ``raw`` (the audio running away from the
    run as found, before widening) ends in nothing (:func:`ends_in_nothing`); the mean power of
    ``raw``'s first millisecond (what an entry after a rest rises from, :func:`is_pause`); and
    whether ``outward`` falls into the run (:func:`falls`)."""
    near, far = level(outward, frame)
    fades = far is not None and far > 0 and near * 10 ** (PAUSE_DB / 10) <= far
    first_power = float(np.mean(np.square(raw[:, :frame], dtype=np.float64))) if raw.size else 0.0
    return (
        [(fades, near), *short_fades.readings(outward, frame)],
        ends_in_nothing(raw, frame),
        first_power,
        falls(outward, frame),
    )


def ends_in_nothing(raw: np.ndarray, frame: int) -> bool:
    """Whether the first millisecond of ``raw`` (the audio running away from a silent run as
    found) lies FADE_END_DB or more under the music just past it (the median 1 ms frame of
    SHORT_REFERENCE_SECONDS), or at FADE_FLOOR_DB or under: a fade down to zero. False where
    ``raw`` is too short to tell."""
    start, stop = (round(seconds * 1000) for seconds in short_fades.SHORT_REFERENCE_SECONDS)
    if raw.shape[1] < stop * frame:
        return False
    frames = raw[:, : stop * frame].reshape(raw.shape[0], stop, frame)
    power = np.mean(np.square(frames, dtype=np.float64), axis=(0, 2))
    music = float(np.median(power[start:]))
    return power[0] <= 10 ** (FADE_FLOOR_DB / 10) or power[0] * 10 ** (FADE_END_DB / 10) <= music


def fades_to_nothing(side: Edge) -> bool:
    """Whether a side that reads ``side`` (:func:`edge`) fades into the silence beside it with
    no other side to read (a file's start or end, :mod:`.cut_ends`): it ends in nothing, and
    its 10 ms fade, a short fade or its fall (a fade too slow for the 10 ms) says it fades there;
    what :func:`is_pause` asks of a fading side, less what it reads of the other side."""
    ((fades, _), *short), gone, _, falling = side
    return gone and (fades or falling or any(fading for fading, _ in short))


def is_pause(before: Edge, after: Edge) -> bool:
    """Whether a run whose sides read ``before`` and ``after`` (:func:`edge`) is a pause. A side
    fades out only where it ends in nothing: locally, or GATE_STEP_DB under the other side's
    edge. Then: a short fade on either side (read against the music just past it, which a slow
    fade-out hardly moves), or the music fades into it over PAUSE_EDGE_SECONDS on one side and
    the other side is not that fade going on (a dropout inside a fade-out reads as faded
    looking back, but its far edge is as quiet): it fades too (the next song fades in; one of
    the two ends in nothing), or its edge is PAUSE_STEP_DB louder (the next song, or its first
    10 ms fading in). The short fade of the side after does not count where the side before
    plays on (neither fading, falling nor ending in nothing) at the level it rises from (an entry
    after a rest, cut off before it)."""
    ((fades_before, near_before), *short_before), gone_before, _, falls_before = before
    ((fades_after, near_after), *short_after), gone_after, first_after, _ = after
    gated, rest_rise = 10 ** (GATE_STEP_DB / 10), 10 ** (REST_RISE_DB / 10)
    # the side after rising from the level the side before plays on at (REST_RISE_DB, FALL_DB)
    # is an entry after a rest cut off, not a song's start. Not the side before: a song ending
    # in a 20 ms fade, the next starting quieter, read within 18 dB (tried: album sides found as
    # dropouts; docs/results.md "Dropouts in held-out real music")
    plays_on = not (fades_before or gone_before or falls_before)
    rest_after = plays_on and first_after * rest_rise > near_before
    gone_before = gone_before or near_after >= gated * near_before
    gone_after = gone_after or near_before >= gated * near_after
    short = [gone_before and fades for fades, _ in short_before]
    if any(short + [gone_after and fades and not rest_after for fades, _ in short_after]):
        return True
    louder = 10 ** (PAUSE_STEP_DB / 10)
    return (fades_before and fades_after and (gone_before or gone_after)) or (
        (fades_before and gone_before and near_after >= louder * near_before)
        or (fades_after and gone_after and near_before >= louder * near_after)
    )
