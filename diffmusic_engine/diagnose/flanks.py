"""A rest between clicks is no dropout: what :meth:`.dropouts.DropoutScanner.sift` asks of the
audio past a run's abrupt edge.

The dropout rule's second way (a quiet run whose edge frame either side is ``JUMP_DB`` above
it) takes a click for that edge. A click at each end of a quiet rest made the rest a
"dropout": a trumpet recording's -88 dBFS rest between clicks at 4.11 and 5.03 s (a user trial)
became an inpaint preset, which would have copied music into it. Past a dropout's edge the
music goes on; past a click the rest does. So a run is a rest, not a dropout, where on one side
the ``BEYOND_FRAMES`` after the first ``CLICK_FRAMES`` hold no music: their median frame at or
below the rule's quiet level (``dropouts.QUIET``, the loudest a dithered dropout holds).
"""

from __future__ import annotations

import numpy as np

# In the scanner's edge frames (1 ms): a click's length (declick's: 0.3-2 ms) skipped past the
# edge, then the audio read for music going on.
CLICK_FRAMES = 3
BEYOND_FRAMES = 20


def rest(audio: np.ndarray, first: int, stop: int, frame: int, quiet: float) -> bool:
    """Whether the run ``[first, stop)`` of ``(channels, samples)`` ``audio`` lies in a rest:
    on one side, past ``CLICK_FRAMES``, the median ``frame``-sample frame (mean power over the
    channels) of ``BEYOND_FRAMES`` is at or below ``quiet ** 2``. A side with too little audio
    past the run (the recording's end) tells nothing."""
    skip, size = CLICK_FRAMES * frame, BEYOND_FRAMES * frame
    for outward in (audio[:, :first][:, ::-1], audio[:, stop:]):
        beyond = outward[:, skip : skip + size]
        if beyond.shape[1] < size:
            continue
        power = np.mean(np.square(beyond, dtype=np.float64), axis=0)
        if np.median(power.reshape(BEYOND_FRAMES, frame).mean(axis=1)) <= quiet**2:
            return True
    return False
