"""A channel whose dropouts come closer than a quarter context all along (a noise-gated part's
rests): the batch stream holds a bounded span of it, however long the file, and gives out what
one call on the whole file gives."""

from __future__ import annotations

import numpy as np

from bridge.batch import Restorer
from bridge.batch.chunking import DENSE_REGION_CONTEXTS, SPLIT_APART
from diffmusic_engine.synth import music_excerpt

RATE, SECONDS, CONTEXT, BLOCK = 8000, 14.0, 2.0, 997
PERIOD, REST = int(0.4 * RATE), int(0.02 * RATE)  # 20 ms of silence in every 400 ms


def test_a_gated_channel_is_streamed_a_bounded_region_at_a_time() -> None:
    """The right channel's rests are 0.38 s apart, under a quarter context (0.5 s): every
    region touches the next and none could split. They had merged into one region of the whole
    file, held back to its end (lag 14 s here; a 3-minute real mix: 180 s and 183 MB). Regions
    are now cut past ``DENSE_REGION_CONTEXTS`` contexts (10 s): the stream holds at most that,
    the finder's reach and a block, and its output is bit for bit the one-call output."""
    audio = music_excerpt(SECONDS, RATE, 2, seed=3)
    rests = np.arange(audio.shape[1]) % PERIOD < REST
    audio[1, rests] = 0.0
    assert (PERIOD - REST) / RATE < SPLIT_APART * CONTEXT  # no quarter-context gap to split at
    restorer = Restorer(task="inpaint", gaps="auto", backend="dsp", context_seconds=CONTEXT,
                        dropout_max_seconds=0.2)  # fmt: skip
    whole = restorer(audio, RATE)
    stream = restorer.stream(RATE, 2, audio.shape[1])
    outputs, lags = [], []
    for at in range(0, audio.shape[1], BLOCK):
        outputs.append(stream.push(audio[:, at : at + BLOCK]))
        lags.append(stream.received - sum(out.shape[1] for out in outputs))
    streamed = np.concatenate([*outputs, stream.finish()], axis=1)
    np.testing.assert_array_equal(streamed, whole)
    held = DENSE_REGION_CONTEXTS * CONTEXT * RATE + stream.reach + BLOCK
    assert max(lags) <= held < audio.shape[1]
    assert stream.restore.pieces >= 2
    # every rest filled but the first (silence at the start of a file is left alone)
    filled = set(stream.restore.repaired)
    assert {(k * PERIOD, k * PERIOD + REST) for k in range(1, 35)} <= filled
    assert np.all(streamed[1, rests][REST:] != 0.0)
