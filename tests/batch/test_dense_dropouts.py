"""A channel whose dropouts come closer than a quarter context all along (a noise-gated part's
rests): the batch stream holds a bounded span of it, however long the file, and gives out what
one call on the whole file gives."""

from __future__ import annotations

import numpy as np

from bridge.batch import Restorer
from bridge.batch.chunking import DENSE_REGION_CONTEXTS, SIFT_READS_FRAMES, SPLIT_APART
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


def test_a_dense_split_leaves_the_last_dropout_what_its_sift_reads_after_it() -> None:
    """Pairs of dropouts 6 ms apart, every 0.4 s: 6 ms is over two crossfade margins (2 x 18
    samples + 1 < 48) but under what the finder's sift reads after a run (a margin and 70 ms).
    A region passes five contexts (10 s) at the first span ending past 8 s (its reach, 2 s, on):
    the pair at 7.97 s ends its first dropout at 7.99 s and its second at 8.016 s. Split between
    them, the first kept 4 ms of music after it, read no level there and was left silent; the
    split now waits for the 354 ms between two pairs, and every dropout is filled."""
    audio = music_excerpt(12.0, RATE, 2, seed=3)
    phase = (np.arange(audio.shape[1]) / RATE - 0.37) % 0.4
    pairs = (phase < 0.02) | ((phase >= 0.026) & (phase < 0.046))
    audio[1, pairs] = 0.0
    pairs[: RATE // 10] = pairs[-RATE // 10 :] = False  # silence at a file's ends is left alone
    restorer = Restorer(task="inpaint", gaps="auto", backend="dsp", context_seconds=CONTEXT,
                        dropout_max_seconds=0.2)  # fmt: skip
    margin = int(np.ceil(restorer.damage.crossfade * RATE)) + 2
    assert 2 * margin + 1 <= int(0.006 * RATE) < margin + SIFT_READS_FRAMES * RATE // 1000
    whole = restorer(audio, RATE)
    stream = restorer.stream(RATE, 2, audio.shape[1])
    outputs = [stream.push(audio[:, at : at + BLOCK]) for at in range(0, audio.shape[1], BLOCK)]
    np.testing.assert_array_equal(np.concatenate([*outputs, stream.finish()], axis=1), whole)
    assert stream.restore.pieces >= 2  # still split
    assert np.count_nonzero(whole[1, pairs] == 0.0) == 0  # had been 160: the one at 7.97 s
