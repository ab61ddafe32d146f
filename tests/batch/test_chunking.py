"""Chunked restoration: plans, crossfades and dropout regions against derived outputs."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.batch.chunking import (
    OverlapStream,
    RegionStream,
    chunk_plan,
    region_plan,
)
from diffmusic_engine.diagnose import dropouts
from diffmusic_engine.diagnose.dropouts import DropoutScanner


def stream_through(stream, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Push ``audio`` in random block sizes (1 sample to 1/3 of it), then finish."""
    outputs, i = [], 0
    while i < audio.shape[1]:
        n = int(rng.integers(1, max(2, audio.shape[1] // 3)))
        outputs.append(stream.push(audio[:, i : i + n]))
        i += n
    outputs.append(stream.finish())
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize("total", [1, 44, 45, 46, 70, 95, 96, 1000, 1013])
def test_chunk_plan_covers_with_exact_overlaps(total: int) -> None:
    chunk, overlap = 30, 5
    plan = chunk_plan(total, chunk, overlap)
    assert plan[0][0] == 0 and plan[-1][1] == total
    for (s0, e0), (s1, _) in zip(plan, plan[1:], strict=False):
        assert e0 - s1 == overlap  # neighbours share exactly the overlap
        assert e0 - s0 == chunk  # every chunk but the last is a full chunk
    if len(plan) > 1:  # the last is neither too short nor more than 1.5 chunks
        assert chunk // 2 + overlap <= plan[-1][1] - plan[-1][0] < chunk + chunk // 2
    else:
        assert total <= chunk + chunk // 2


def test_overlap_stream_crossfades_each_chunk_into_the_next(rng) -> None:
    total, chunk, overlap = 1000, 300, 40
    audio = rng.standard_normal((2, total)).astype(np.float32)
    # each chunk's "restoration" adds its own start: outputs differ only by that constant
    stream = OverlapStream(lambda x, start, _: x + start, total, 2, chunk, overlap)
    out = stream_through(stream, audio, rng)
    # expected, derived by hand: the constant is the chunk's start, ramped by a raised cosine
    # from one chunk's to the next's over their overlap
    plan = chunk_plan(total, chunk, overlap)
    offset = np.zeros(total)
    for k, (start, end) in enumerate(plan):
        offset[start:end] = start
        if k:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
            previous = plan[k - 1][0]
            offset[start : start + overlap] = previous + (start - previous) * ramp
    np.testing.assert_allclose(out - audio, np.broadcast_to(offset, out.shape), atol=1e-3)


def test_overlap_stream_of_an_identity_is_the_identity(rng) -> None:
    audio = rng.standard_normal((1, 5000)).astype(np.float32)
    out = stream_through(OverlapStream(lambda x, s, _: x.copy(), 5000, 1, 700, 100), audio, rng)
    # where the chunks agree the crossfade is exact: "unchanged" through a batch is bit for bit
    # (tail (1 - w) + head w changed samples in the overlaps by an ulp)
    np.testing.assert_array_equal(out, audio)


def test_region_stream_touches_only_the_gaps(rng) -> None:
    total = 20000
    audio = rng.standard_normal((2, total)).astype(np.float32)
    gaps = [(5000, 5100), (5300, 5350), (15000, 15010)]
    seen = []

    def fill(x: np.ndarray, start: int, spans) -> np.ndarray:
        seen.append((start, start + x.shape[1], spans))
        y = x.copy()
        for a, b in spans:
            y[:, a - start - 3 : b - start + 3] = 7.0  # the gap plus a 3-sample "crossfade"
        y[:, 0] = -7.0  # a change far from any gap: must not be pasted
        return y

    stream = RegionStream(fill, total, 2, gaps, context=400, margin=3)
    out = stream_through(stream, audio, rng)
    # the first two gaps share a region (their contexts touch); regions reach 400 samples or
    # five gap lengths either side
    assert seen == [(4500, 5750, ((5000, 5100), (5300, 5350))), (14600, 15410, ((15000, 15010),))]
    changed = np.zeros(total, bool)
    for a, b in gaps:
        changed[a - 3 : b + 3] = True
    assert np.all(out[:, changed] == 7.0)
    np.testing.assert_array_equal(out[:, ~changed], audio[:, ~changed])  # bit-identical


def test_region_plan_merges_touching_regions() -> None:
    # context 120 (more than five gap lengths): (0, 230) and (180, 430) touch, so one region
    regions = region_plan([(300, 310), (100, 110)], 1000, context=120)
    assert [(r.start, r.end, r.spans) for r in regions] == [(0, 430, ((100, 110), (300, 310)))]
    regions = region_plan([(100, 110), (400, 410)], 1000, context=100)
    assert [(r.start, r.end) for r in regions] == [(0, 210), (300, 510)]


def test_region_plan_splits_regions_longer_than_four_contexts() -> None:
    # context 100, margin 3: merging stops at 400 samples; a span at least 25 samples past the
    # last region's spans starts a region of its own, which may begin inside the last one
    spans = [(1000, 1010), (1150, 1160), (1240, 1250), (1260, 1270), (1600, 1610)]
    regions = region_plan(spans, 5000, context=100, margin=3)
    assert [(r.start, r.end, r.spans) for r in regions] == [
        (900, 1237, ((1000, 1010), (1150, 1160))),  # ends 3 before the span that split it
        (1140, 1370, ((1240, 1250), (1260, 1270))),  # (1260, 1270) is 10 from the last: joined
        (1500, 1710, ((1600, 1610),)),  # does not touch the last: as before
    ]
    # nor closer than two margins (the last region must keep its own changes): 98-sample
    # margins, spans 50 apart, context 1 (a quarter context is no bound there)
    regions = region_plan([(1000, 1010), (1060, 1070)], 5000, context=1, margin=98)
    assert [(r.start, r.end) for r in regions] == [(950, 1120)]
    # spans closer than a quarter context (15 apart) split only past five contexts (500): at
    # the first span whose region would end past 900 + 500 (1300 + 105 = 1405), then 1200 + 500
    dense = [(1000 + 20 * k, 1005 + 20 * k) for k in range(40)]
    assert [(r.start, r.end, len(r.spans)) for r in region_plan(dense, 5000, context=100)] == [
        (900, 1300, 15), (1200, 1600, 15), (1500, 1885, 10)]  # fmt: skip
    # ... and, closer than two margins (8: 15 < 17), never
    assert [(r.start, r.end) for r in region_plan(dense, 5000, 100, margin=8)] == [(900, 1885)]


def test_region_stream_holds_dropouts_every_few_contexts_a_region_at_a_time(rng) -> None:
    """Dropouts 80 samples apart with a context of 100 (every region touches the next): they
    are restored in regions of at most four contexts, each seeing the previous ones' fills,
    and the stream never holds more than a region and a block."""
    total, block = 6000, 50
    audio = rng.standard_normal((1, total)).astype(np.float32)
    gaps = [(s, s + 10) for s in range(300, 5700, 80)]
    held, seen = [], []

    def fill(x: np.ndarray, start: int, spans) -> np.ndarray:
        seen.append((start, x.copy()))
        y = x.copy()
        for a, b in spans:
            y[:, a - start : b - start] = 7.0
        return y

    stream = RegionStream(fill, total, 1, gaps, context=100, margin=0)
    outputs = []
    for i in range(0, total, block):
        outputs.append(stream.push(audio[:, i : i + block]))
        held.append(stream.buffer.data.shape[1])
    out = np.concatenate(outputs + [stream.finish()], axis=1)
    changed = np.zeros(total, bool)
    for a, b in gaps:
        changed[a:b] = True
    assert np.all(out[:, changed] == 7.0)
    np.testing.assert_array_equal(out[:, ~changed], audio[:, ~changed])
    assert len(seen) > 1 and max(x.shape[1] for _, x in seen) <= 400
    assert max(held) <= 400 + block
    for _, x in seen[1:]:  # a later region's context holds the earlier region's last fill
        assert np.any(x == 7.0)


def test_region_stream_with_a_finder_matches_known_gaps(rng) -> None:
    total = 30000
    audio = (rng.standard_normal((1, total)) * 0.1).astype(np.float32)
    gaps = [(3000, 3040), (12000, 12200), (12500, 12510), (29000, 29100)]
    for a, b in gaps:
        audio[:, a:b] = 0

    def fill(x, start, spans):
        y = x.copy()
        for a, b in spans:
            y[:, a - start : b - start] = 1.0
        return y

    def run(**kwargs) -> np.ndarray:
        return stream_through(RegionStream(fill, total, 1, margin=0, context=500, **kwargs),
                              audio, rng)  # fmt: skip

    finder = DropoutScanner(5, 400, silence=1e-6)
    found = run(spans=[], finder=finder)
    np.testing.assert_array_equal(found, run(spans=gaps))
    assert np.count_nonzero(found == 1.0) == sum(b - a for a, b in gaps)


def test_region_stream_widens_found_dropouts_as_find_does(rng) -> None:
    """Dropouts with smeared edges (20 ms at -30 dB before the first, 10 ms at -26 dB after the
    second, 1 ms frames of 10 samples): streamed in random blocks, the batch fills exactly the
    widened spans a whole-clip ``find`` reports."""
    rate = 10000
    audio = np.full((1, rate), 0.5, np.float32)
    audio[:, 3000:4000] = 0.0
    audio[:, 2800:3000] = 0.5 * 10 ** (-30 / 20)
    audio[:, 7000:7300] = 0.0
    audio[:, 7300:7400] = 0.5 * 10 ** (-26 / 20)
    assert dropouts.find(audio, rate) == [(0.28, 0.4), (0.7, 0.74)]

    def fill(x, start, spans):
        y = x.copy()
        for a, b in spans:
            y[:, a - start : b - start] = 1.0
        return y

    finder = DropoutScanner.at_rate(rate, max_seconds=0.5)
    out = stream_through(RegionStream(fill, rate, 1, [], margin=0, context=500, finder=finder),
                         audio, rng)  # fmt: skip
    filled = np.flatnonzero(out[0] == 1.0)
    np.testing.assert_array_equal(filled, np.r_[2800:4000, 7000:7400])


def test_chunks_that_do_not_agree_keep_their_power_across_the_crossfade(rng) -> None:
    """Each chunk independent noise of unit variance (phase retrieval's chunks hardly
    correlate): a linear crossfade's middle has variance (1/2)^2 + (1/2)^2 = 1/2 (-3 dB); the
    power-normalised one keeps 1. 64 channels x 400 middle samples: the estimate's spread is
    about sqrt(2 / 25600) = 0.009."""
    overlap, channels = 4000, 64

    def fresh(x: np.ndarray, start: int, _) -> np.ndarray:
        return np.random.default_rng(start).standard_normal(x.shape).astype(np.float32)

    audio = np.zeros((channels, 20000), np.float32)
    middle = 6000 + overlap // 2  # the first overlap is [6000, 10000)
    for keep_power, variance in ((False, 0.5), (True, 1.0)):
        stream = OverlapStream(fresh, 20000, channels, 10000, overlap, keep_power=keep_power)
        out = stream_through(stream, audio, rng)
        assert abs(np.var(out[:, middle - 200 : middle + 200]) - variance) < 0.05


def test_chunks_that_agree_below_a_band_keep_the_band_s_power(rng) -> None:
    """Super-resolution's chunks share the band below the cutoff (correlation 0.9998 on a real
    mix) and rebuild the top band each on its own: one correlation for the whole signal read
    them as agreeing and left the top band's -3 dB dip (-4 dB measured). Here a common tone
    (power 1/2) under each chunk's own noise above a quarter of the rate (power 0.05): per bin,
    the top band keeps its 0.05 in the middle of the crossfade and the tone its 1/2."""
    overlap, channels, n = 4000, 32, 20000

    def fresh(x: np.ndarray, start: int, _) -> np.ndarray:
        t = start + np.arange(x.shape[1])
        tone = np.sin(2 * np.pi * 0.01 * t)  # a low tone, the same in file time in every chunk
        noise = np.random.default_rng(start).standard_normal(x.shape)
        spectrum = np.fft.rfft(noise)
        spectrum[:, : spectrum.shape[1] // 2] = 0  # only above a quarter of the rate
        top = np.fft.irfft(spectrum, x.shape[1]) * np.sqrt(0.05 / 0.5)
        return (tone + top).astype(np.float32)

    stream = OverlapStream(fresh, n, channels, 10000, overlap, keep_power=True)
    out = stream_through(stream, np.zeros((channels, n), np.float32), rng)

    def bands(first: int) -> np.ndarray:  # (tone, top band) power of 512 samples from first
        spectrum = np.abs(np.fft.rfft(out[:, first : first + 512] * np.hanning(512))) ** 2
        return np.array([spectrum[:, :16].sum(), spectrum[:, 136:].sum()])

    # the middle of the first crossfade against a stretch only the first chunk made
    ratio = bands(6000 + overlap // 2 - 256) / bands(2000)
    assert abs(ratio[1] - 1) < 0.15  # one correlation for all: about 0.5 (-3 dB)
    assert abs(ratio[0] - 1) < 0.05
