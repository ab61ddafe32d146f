"""dsp phase retrieval: fast Griffin-Lim converges as iterations grow, from a sensible start."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import PhaseRetrieval
from diffmusic_engine.errors import Cancelled
from diffmusic_engine.synth import music_excerpt

SR = 22050
DAMAGE = PhaseRetrieval(n_fft=1024, hop=256)


@pytest.fixture(scope="module")
def scrambled():
    """1 s of stereo music whose phase was replaced by random phase."""
    return degrade(music_excerpt(1.0, SR, channels=2, seed=3), SR, DAMAGE)


def convergence(measured: np.ndarray, estimate: np.ndarray) -> float:
    """Spectral convergence against the measurement ``|STFT(input)|`` (the same STFT)."""
    return metrics.spectral_convergence(measured, estimate, n_fft=DAMAGE.n_fft, hop=DAMAGE.hop)


def test_spectral_convergence_decreases_with_iterations(scrambled):
    values = []
    for iterations in (0, 5, 20, 60, 150):
        result = restore(scrambled, SR, DAMAGE, options={"iterations": iterations})
        assert result.audio.shape == scrambled.shape
        values.append(convergence(scrambled, result.audio))
    assert all(b < a for a, b in zip(values, values[1:], strict=False)), values
    assert values[-1] < 0.5 * values[0], values


def test_momentum_beats_plain_griffin_lim(scrambled):
    fast = restore(scrambled, SR, DAMAGE, options={"iterations": 40})
    plain = restore(scrambled, SR, DAMAGE, options={"iterations": 40, "momentum": 0.0})
    assert convergence(scrambled, fast.audio) < convergence(scrambled, plain.audio)


def test_progress_reaches_one_and_cancel_stops(scrambled, recorder):
    callback = recorder()
    restore(scrambled, SR, DAMAGE, options={"iterations": 7}, callback=callback)
    assert [p.step for p in callback.reports] == list(range(8))
    assert callback.fractions[-1] == 1.0
    stopper = recorder(cancel_at=3)
    with pytest.raises(Cancelled):
        restore(scrambled, SR, DAMAGE, options={"iterations": 500}, callback=stopper)
    assert len(stopper.reports) == 3
