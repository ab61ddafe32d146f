"""Short fades into a pause: the reading that :meth:`.dropouts.DropoutScanner.sift` adds to its
10 ms one, so that a pause after an editor's quick fade (10-50 ms before a hard stop, a gated
break) is left alone as a slower fade's is, while a dropout, a cut at the music's level, is
still found."""

from __future__ import annotations

import numpy as np

# A short fade leaves no 10 ms that deep: the widening takes in its last tenth (frames 20 dB
# under the music), and the 10 ms beyond read 10-20 dB under. The first SHORT_FADE_SECONDS
# beyond the widened run read SHORT_FADE_DB or more under the music just past the fade (the
# median 1 ms frame of SHORT_REFERENCE_SECONDS from the run; a 2 s median shifts with the song's
# level there), for either length, on one side, and the next twice as long no quieter (a fade
# rises on; music quiet for a moment before a loud note does not): a pause. On 30 real
# recordings: 24 of 35272 readings at every 10 ms both ways, widened as a cut is (all in stems:
# a note ending into a rest; none in the 16 full mixes), 5 of 6068 sides of cuts through
# dither, soxr and MP3 (two places, through MP3 with the music 40 dB down: the codec's smear
# stays 20 dB under for 4 ms past the widening), and 99 % of the sides faded over 50 ms, 92 %
# over 20 ms, 57 % over 10 ms, 10 % over 5 ms (docs/results.md "Pauses after a short fade").
SHORT_FADE_SECONDS = (0.003, 0.005)
SHORT_FADE_DB = 11.0
SHORT_REFERENCE_SECONDS = (0.02, 0.06)


def readings(outward: np.ndarray, frame: int) -> list[tuple[bool, float]]:
    """For each of SHORT_FADE_SECONDS: whether the first that long of ``outward`` (the audio
    running away from a widened run's edge, ``(channels, samples)``) lies SHORT_FADE_DB or more
    under the music past it while the next twice as long is no quieter, and its mean power;
    none where ``outward`` holds too little music to compare with. ``frame``: samples in a
    millisecond."""
    start, stop = (round(seconds * 1000) for seconds in SHORT_REFERENCE_SECONDS)
    if outward.shape[1] < stop * frame:
        return []
    frames = outward[:, : stop * frame].reshape(outward.shape[0], stop, frame)
    power = np.mean(np.square(frames, dtype=np.float64), axis=(0, 2))
    music = float(np.median(power[start:]))
    found = []
    for count in (round(seconds * 1000) for seconds in SHORT_FADE_SECONDS):
        near = float(np.mean(power[:count]))
        rises = float(np.mean(power[count : 3 * count])) >= near  # a fade goes on rising
        found.append((music > 0 and near * 10 ** (SHORT_FADE_DB / 10) <= music and rises, near))
    return found
