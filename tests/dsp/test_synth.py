"""The test music: deterministic, shaped as promised, and music rather than a few sines."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine.synth import STEMS, music_excerpt, music_stems

SR = 44100


def test_stems_shape_dtype_and_sum(stems, excerpt):
    assert tuple(stems) == STEMS
    for stem in stems.values():
        assert stem.shape == (2, 2 * SR) and stem.dtype == np.float32
        assert np.abs(stem).max() > 0.01  # every instrument plays
    assert np.array_equal(sum(stems[name] for name in STEMS), excerpt)
    assert np.abs(excerpt).max() == pytest.approx(0.5, abs=1e-6)


def test_deterministic_by_seed(excerpt):
    assert np.array_equal(music_excerpt(2.0, SR, 2, seed=0), excerpt)
    assert not np.allclose(music_excerpt(2.0, SR, 2, seed=1), excerpt)


def test_stereo_is_panned_and_mono_is_the_mid(excerpt):
    assert not np.allclose(excerpt[0], excerpt[1])
    mono = music_excerpt(2.0, SR, channels=1, seed=0)
    assert mono.shape == (1, 2 * SR)
    np.testing.assert_allclose(mono[0] / np.abs(mono).max(), excerpt.mean(0) / np.abs(
        excerpt.mean(0)).max(), atol=1e-5)  # fmt: skip


def test_is_broadband_music_not_sines(excerpt):
    spectrum = np.abs(np.fft.rfft(excerpt.mean(0)))
    freqs = np.fft.rfftfreq(excerpt.shape[1], 1 / SR)
    high = np.sum(spectrum[freqs > 8000] ** 2) / np.sum(spectrum**2)
    assert high > 1e-4  # hats, snare and bright partials above 8 kHz
    # Many spectral peaks (notes and partials), not a handful of sinusoids.
    level = spectrum / spectrum.max()
    peaks = np.sum((level[1:-1] > level[:-2]) & (level[1:-1] > level[2:]) & (level[1:-1] > 1e-2))
    assert peaks > 50


def test_other_rates_and_bad_arguments():
    assert music_excerpt(0.5, 22050, 1).shape == (1, 11025)
    with pytest.raises(ValueError, match="duration"):
        music_stems(0.0)
