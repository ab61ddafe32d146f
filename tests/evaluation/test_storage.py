"""Fixed-point storage with and without dither, against the numbers each one implies."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine.evaluation.storage import fixed_point


def test_silence_through_each_dither() -> None:
    silence = np.zeros((2, 200000), np.float32)
    step = 2.0**-15
    assert not fixed_point(silence, 16).any()  # plain rounding keeps digital silence
    tpdf = fixed_point(silence, 16, "tpdf") / step
    # TPDF of +-1 step rounds to 0 with probability 3/4 and to +-1 with 1/8 each: power 1/4
    assert set(np.unique(tpdf)) == {-1.0, 0.0, 1.0}
    assert np.mean(tpdf**2) == pytest.approx(0.25, rel=0.02)
    shaped = fixed_point(silence, 16, "shaped") / step
    # the error fed back through (1 - z^-1)^2: its power moves up, its low end falls away
    spectrum = np.abs(np.fft.rfft(shaped[0])) ** 2
    low, high = spectrum[1 : len(spectrum) // 16].mean(), spectrum[-len(spectrum) // 4 :].mean()
    assert high > 1000 * low and np.abs(shaped).max() >= 4


def test_levels_survive_and_bad_dither_is_named() -> None:
    level = np.full((1, 100000), 0.3 * 2**-15, np.float32)  # a third of a step
    assert not fixed_point(level, 16).any()
    for dither in ("tpdf", "shaped"):  # dither keeps the level on average
        assert fixed_point(level, 16, dither).mean() / 2**-15 == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="use one of"):
        fixed_point(level, 16, "rpdf")
