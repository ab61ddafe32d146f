"""A rest between clicks is no dropout: what :meth:`.dropouts.DropoutScanner.sift` asks of the
audio past a quiet run's abrupt edges.

The dropout rule's second way (a quiet run whose edge frame either side is ``JUMP_DB`` above
it) takes a click for that edge. A click at each end of a quiet rest made the rest a
"dropout": a trumpet recording's -88 dBFS rest between clicks at 4.11 and 5.03 s (a user trial)
became an inpaint preset, which would have copied music into it. Past a dropout's edge the
music goes on; past a click the rest does. So a run is a rest, not a dropout, where on one side
the ``BEYOND_FRAMES`` after the first ``CLICK_FRAMES`` hold no music: their median frame at or
below the rule's quiet level (``dropouts.QUIET``, the loudest a dithered dropout holds). Read
only up to the next run (two dropouts a few ms apart are two dropouts), and never of a run of
digital silence (the first way, a dropout in music however quiet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (dropouts imports this module)
    from diffmusic_engine.diagnose.dropouts import DropoutScanner

# In the scanner's edge frames (1 ms): a click's length (declick's: 0.3-2 ms) skipped past the
# edge, then the audio read for music going on.
CLICK_FRAMES = 3
BEYOND_FRAMES = 20


def rest(
    scanner: DropoutScanner, audio: np.ndarray, runs: list[tuple[int, int]], index: int
) -> bool:
    """Whether run ``index`` of ``runs`` (sorted, in ``(channels, samples)`` ``audio``) lies
    in a rest, for ``scanner`` (its edge frame, quiet and silence levels): a quiet run, not
    digital silence (one ``SILENT_SHARE`` digital silence is a dropout of the first way), where
    on one side, past ``CLICK_FRAMES``, the median frame (mean power over the channels) of
    ``BEYOND_FRAMES`` is at or below the quiet level. A side with too little audio before the
    next run or the audio's end tells nothing."""
    from diffmusic_engine.diagnose.dropouts import SILENT_SHARE  # (it imports this module)

    first, stop = runs[index]
    silent = np.all(np.abs(audio[:, first:stop]) <= scanner.silence, axis=0)
    if np.mean(silent) >= SILENT_SHARE:  # digital silence, its widened edges aside
        return False
    frame = scanner.edge_frame
    skip, size = CLICK_FRAMES * frame, BEYOND_FRAMES * frame
    previous = runs[index - 1][1] if index else 0
    following = runs[index + 1][0] if index + 1 < len(runs) else audio.shape[1]
    for outward in (audio[:, previous:first][:, ::-1], audio[:, stop:following]):
        beyond = outward[:, skip : skip + size]
        if beyond.shape[1] < size:
            continue
        power = np.mean(np.square(beyond, dtype=np.float64), axis=0)
        if np.median(power.reshape(BEYOND_FRAMES, frame).mean(axis=1)) <= scanner.quiet**2:
            return True
    return False
