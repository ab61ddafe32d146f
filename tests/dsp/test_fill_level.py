"""A dropout's fill far under the music beside its gap is said, never silently."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.notes import fill_under_line
from diffmusic_engine.api import restore
from diffmusic_engine.backends import FILL_LEVELS
from diffmusic_engine.damage import Gap, Inpaint
from diffmusic_engine.dsp import fill_level

SR = 22050


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def test_side_levels_keep_within_the_bounds_and_know_a_missing_side():
    audio = np.zeros((2, 1000))
    audio[0, :75], audio[0, 200:] = 1.0, 3.0  # the left side: 25 ones, 25 zeros
    audio[1] = 2.0
    sides = fill_level.side_levels(audio, (100, 200), (50, 1000), sample_rate=2000)  # 100 samples
    np.testing.assert_allclose(sides, [[0.5, 9.0], [4.0, 4.0]])  # the left side from 50 only
    alone = fill_level.side_levels(audio, (0, 200), (0, 1000), sample_rate=2000)
    assert np.isnan(alone[:, 0]).all() and np.allclose(alone[:, 1], [9.0, 4.0])


def test_a_fill_far_under_both_sides_is_said_and_one_near_them_is_not():
    sides = np.array([[0.01, 0.04]])  # the quieter side at -20 dB
    assert fill_level.under_db([np.full(30, 0.01)], slice(0, 30), sides) == 20.0
    assert fill_level.under_db([np.full(30, 0.05)], slice(0, 30), sides) is None  # 6 dB under
    silent_side = np.array([[0.0, 0.04]])  # nothing to be under
    assert fill_level.under_db([np.full(30, 1e-6)], slice(0, 30), silent_side) is None
    line = fill_under_line(1.0, 2.0, 20.0)
    assert line.startswith("the fill of the gap 1.0000-2.0000 s is 20 dB under the music beside")


def test_a_fill_copied_from_a_quiet_passage_into_a_loud_gap_is_said():
    """The only passages of the gap's length are 40 dB quieter than the 50 ms of music either
    side of it: the level match stops at +12 dB, and the fill lies 22 dB under both sides."""
    rng = np.random.default_rng(0)
    music = 0.003 * rng.standard_normal((1, 6 * SR)).astype(np.float32)
    music[:, int(2.45 * SR) : int(3.55 * SR)] *= 100  # loud around (and in) the gap
    first, stop = int(2.5 * SR), int(3.5 * SR)
    damaged = music.copy()
    damaged[:, first:stop] = 0.0
    result = restore(damaged, SR, Inpaint(gaps=(Gap(2.5, 3.5),)))
    quieter = min(db(music[:, first - SR // 20 : first]), db(music[:, stop : stop + SR // 20]))
    under = quieter - db(result.audio[:, first:stop])
    ((start, end, said),) = result.details[FILL_LEVELS]
    assert (start, end) == (2.5, 3.5) and said == pytest.approx(under, abs=0.05)
    assert under > fill_level.HOLE_DB
    loud = restore(music[:, : 5 * SR], SR, Inpaint(gaps=(Gap(1.0, 1.3),)))  # noise: level kept
    assert FILL_LEVELS not in loud.details


def test_a_batch_says_a_quiet_fill_in_the_files_time(tmp_path):
    from bridge.batch.restorer import Restorer

    rng = np.random.default_rng(0)
    music = 0.003 * rng.standard_normal((1, 6 * SR)).astype(np.float32)
    music[:, int(2.45 * SR) : int(3.55 * SR)] *= 100
    music[:, int(2.5 * SR) : int(3.5 * SR)] = 0.0
    restorer = Restorer("inpaint", gaps=[[2.5, 3.5]])
    stream = restorer.stream(SR, 1, music.shape[1])
    blocks = [stream.push(music[:, i : i + 8192]) for i in range(0, music.shape[1], 8192)]
    assert np.concatenate([*blocks, stream.finish()], axis=1).shape == music.shape
    note = Restorer.note_of(stream)
    assert note is not None and "inpaint: the fill of the gap 2.5000-3.5000 s is " in note


def test_a_short_ar_fill_at_a_zero_crossing_is_not_said_nor_a_silent_channel_the_others():
    t = np.arange(2 * SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 100 * t))[None].astype(np.float32)
    damaged = tone.copy()
    damaged[:, SR - 5 : SR + 6] = 0.0  # 0.5 ms around a zero crossing: AR, exact
    result = restore(damaged, SR, Inpaint(gaps=(Gap((SR - 5) / SR, (SR + 6) / SR),)))
    assert np.abs(result.audio - tone).max() < 1e-3 and FILL_LEVELS not in result.details
    sides = np.array([[0.01, 0.04], [0.0, 0.0]])  # the second channel silent either side
    quiet = [np.full(30, 0.001), np.zeros(30)]
    assert fill_level.under_db(quiet, slice(0, 30), sides) == 40.0
