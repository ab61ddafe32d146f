"""Dead channels: a channel that is digital silence from the first sample to the last while
another plays (a cable, an interface input or a transfer that lost it). No detector of
:mod:`diffmusic_engine.diagnose` said so: the dropout rule reads runs inside the music and
:mod:`.cut_ends` silence beside music on the same channel, so a stereo file with one channel
lost read "none" everywhere. Nothing restores a lost channel (its music is in no other
sample); ``diagnose``'s line says what a user can do instead.
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose.dropouts import SILENCE


def detect(audio: np.ndarray, sample_rate: int) -> list[int]:
    """The channels (1-based) of ``(channels, samples)`` ``audio`` at or under the dropout
    rule's digital SILENCE throughout, where another channel is not: ``[]`` for a mono file
    and for one silent on every channel (no music to have lost a channel of)."""
    silent = [bool(np.all(np.abs(channel) <= SILENCE)) for channel in np.atleast_2d(audio)]
    if all(silent):
        return []
    return [number for number, dead in enumerate(silent, start=1) if dead]


def line(channels: list[int]) -> str:
    """``diagnose``'s readable line for the dead ``channels``: which they are, what they may
    be (lost, or empty on purpose: the data cannot tell), and what to do if lost (nothing
    restores them)."""
    which = ", ".join(map(str, channels))
    plural = "s" if len(channels) > 1 else ""
    return (
        f"channel{plural} {which}: digital silence throughout (lost in the recording or the "
        "transfer, or empty on purpose: a one-sided mix, an unused LFE; if lost, no "
        "restoration rebuilds it: take the channel from its source again, or, if the source "
        "was mono, copy a playing channel into it)"
    )
