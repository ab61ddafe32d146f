"""Window planning and weighted overlap-add, against numbers derived from the plan itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diffmusic_engine.longform.gaps import (
    group_gaps,
    model_rate_ranges,
    plan_gap_windows,
    splice,
    window_masks,
)
from diffmusic_engine.longform.windows import (
    OVERLAP,
    WindowPlan,
    overlap_add,
    plan_windows,
    split,
    taper,
)


@pytest.mark.parametrize("total", [1000, 16000, 16001, 40000, 163840 * 3 + 17])
def test_plan_covers_with_the_fewest_windows(total):
    window = 16000 if total < 100000 else 163840
    plan = plan_windows(total, window)
    if total <= window:
        assert plan.starts == (0,) and plan.length == total
        return
    hop = window - int(window * OVERLAP)
    assert len(plan) == math.ceil((total - window) / hop) + 1
    assert plan.starts[0] == 0 and plan.starts[-1] + window == total
    gaps_between = np.diff(plan.starts)
    assert gaps_between.max() <= hop  # every neighbour pair overlaps by >= OVERLAP * window


@pytest.mark.parametrize("total", [5000, 16000, 47123])
def test_overlap_add_of_the_windows_gives_the_signal_back(total, rng):
    signal = rng.standard_normal((2, total)).astype(np.float32)
    plan = plan_windows(total, 16000)
    joined, norm = overlap_add(split(signal, plan), plan)
    np.testing.assert_allclose(joined, signal, atol=1e-6)
    assert norm.min() > 0


def test_overlap_add_weights_a_crossfade_between_windows():
    # two windows, each constant: inside the overlap the result is the weighted average
    plan = WindowPlan((0, 600), 1000, 1600, fade=400)
    chunks = np.stack([np.zeros(1000), np.ones(1000)])[None].astype(np.float32)
    joined, _ = overlap_add(chunks, plan)
    rise = taper(1000, 400, rise=True, fall=False)[:400]  # second window's weight in the overlap
    fall = taper(1000, 400, rise=False, fall=True)[600:]  # first window's weight, same samples
    np.testing.assert_allclose(joined[0, 600:1000], rise / (rise + fall), rtol=1e-6)
    assert np.all(joined[0, :600] == 0) and np.all(joined[0, 1000:] == 1)


def test_close_gaps_share_a_window_far_gaps_do_not():
    window, context = 16000, 4000
    assert group_gaps([(5000, 5500), (9000, 9300)], window, context) == [(5000, 9300)]
    assert group_gaps([(5000, 5500), (30000, 30300)], window, context) == [
        (5000, 5500),
        (30000, 30300),
    ]


def test_gap_windows_cover_each_gap_with_context_and_mask_every_gap():
    total, window, rate = 160000, 16000, 16000
    ranges = [(20000, 20800), (21500, 21600), (100000, 101000)]
    plan = plan_gap_windows(ranges, total, window, rate)
    assert len(plan) == 2 and plan.length <= window
    masks = window_masks(ranges, plan)
    for a, b in ranges:
        holders = [i for i, s in enumerate(plan.starts) if s <= a and b <= s + plan.length]
        assert holders, f"gap {a}:{b} not inside a window"
        for i in holders:
            s = plan.starts[i]
            assert masks[i, a - s : b - s].max() == 0  # the gap is never trusted
            assert min(a - s, s + plan.length - b) >= plan.fade  # ... and lies past the taper
    assert masks.sum() == 2 * plan.length - sum(b - a for a, b in ranges)


def test_a_gap_longer_than_the_window_gets_overlapping_windows():
    total, window = 100000, 16000
    plan = plan_gap_windows([(30000, 60000)], total, window, 16000)
    assert plan.length == window and len(plan) >= 3
    covered = np.zeros(total, bool)
    for s in plan.starts:
        covered[s : s + window] = True
    assert covered[30000:60000].all()


def test_model_rate_ranges_widen_and_clip():
    ranges = model_rate_ranges([(48000, 96000), (0, 30)], 48000, 16000, 40000)
    guard = 32  # 2 ms at 16 kHz
    assert ranges == [(0, 10 + guard), (16000 - guard, 32000 + guard)]


def test_splice_changes_only_the_gaps(rng):
    original = rng.standard_normal((2, 1000)).astype(np.float32)
    fill = np.full_like(original, 3.0)
    out = splice(original, fill, [(100, 200), (500, 503)], crossfade=10)
    outside = np.ones(1000, bool)
    outside[100:200] = outside[500:503] = False
    assert np.array_equal(out[:, outside], original[:, outside])
    ramp = taper(100, 10)
    np.testing.assert_allclose(
        out[:, 100:200], original[:, 100:200] + ramp * (3 - original[:, 100:200]), rtol=1e-6
    )  # noqa: E501
    np.testing.assert_allclose(out[:, 150], 3.0)
