"""dsp separation (a weak baseline): exact mixing identity; HPSS finds the drums."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Separate
from diffmusic_engine.errors import Cancelled

SR = 44100


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.2, 0.3, 0.5)])
def test_mixing_identity(stems, weights):
    damage = Separate(sources=len(weights), weights=weights)
    names = list(stems)
    groups = np.array_split(np.arange(len(names)), len(weights))
    sources = np.stack([sum(stems[names[i]] for i in group) for group in groups])
    mix = degrade(sources, SR, damage)
    result = restore(mix, SR, damage)
    assert len(result.tracks) == len(weights)
    remix = sum(w * x.astype(np.float64) for w, x in zip(weights, result.tracks, strict=True))
    assert np.abs(remix - mix).max() < 1e-6
    for track in result.tracks:
        assert track.shape == mix.shape and track.dtype == np.float32
        assert np.abs(track).max() > 1e-3  # no empty source


def test_hpss_puts_the_drums_in_the_percussive_source(stems):
    damage = Separate(sources=2, weights=(0.5, 0.5))
    drums = stems["drums"]
    tonal = stems["bass"] + stems["keys"] + stems["lead"]
    mix = degrade(np.stack([tonal, drums]), SR, damage)
    harmonic, percussive = restore(mix, SR, damage).tracks
    assert metrics.si_sdr(drums, percussive) > metrics.si_sdr(drums, harmonic) + 3.0
    assert metrics.si_sdr(tonal, harmonic) > metrics.si_sdr(tonal, percussive) + 3.0


def test_progress_and_cancel(excerpt, recorder):
    damage = Separate(sources=3)
    callback = recorder()
    restore(excerpt, SR, damage, callback=callback)
    assert callback.fractions[-1] == 1.0
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(excerpt, SR, damage, callback=stopper)
    assert len(stopper.reports) == 2
