"""dsp dereverberation: Wiener deconvolution with a known IR; blind WPE on stereo."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import restore
from diffmusic_engine.audio import write_audio
from diffmusic_engine.damage import Dereverb
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.operators import ConvolutionOperator, synthetic_rir
from diffmusic_engine.synth import music_excerpt

SR = 22050


@pytest.fixture(scope="module")
def room():
    """1.5 s of stereo music, the room's impulse response (RT60 0.6 s) and the reverberant mix."""
    clean = music_excerpt(1.5, SR, channels=2, seed=2)
    ir = synthetic_rir(0.6, SR, seed=5)
    return clean, ir, ConvolutionOperator(ir, SR).degrade(clean)


def test_known_ir_raises_si_sdr(room, tmp_path):
    clean, ir, reverberant = room
    path = tmp_path / "room.wav"
    write_audio(path, ir[None], SR)  # float32 WAV: exact
    result = restore(reverberant, SR, Dereverb(rir=path))
    before, after = metrics.si_sdr(clean, reverberant), metrics.si_sdr(clean, result.audio)
    assert after > before + 10.0, (before, after)
    assert result.details["method"] == "wiener"


def test_known_ir_per_channel_must_match_the_channels(room, tmp_path):
    clean, ir, reverberant = room
    path = tmp_path / "three.wav"
    write_audio(path, np.stack([ir, ir, ir]), SR)
    with pytest.raises(DamageError, match="3 channels, the audio 2"):
        restore(reverberant, SR, Dereverb(rir=path))


def test_blind_wpe_on_stereo(room, recorder):
    clean, _, reverberant = room
    callback = recorder()
    result = restore(reverberant, SR, Dereverb(), callback=callback)
    out = result.audio
    assert out.shape == reverberant.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and not np.allclose(out, reverberant)
    assert result.details["method"] == "wpe"
    assert callback.fractions[-1] == 1.0
    # WPE subtracts a prediction of the late reverberation: the output has less energy.
    assert np.sum(out.astype(np.float64) ** 2) < np.sum(reverberant.astype(np.float64) ** 2)


def test_blind_wpe_cancels_between_chunks(room, recorder):
    _, _, reverberant = room
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(reverberant, SR, Dereverb(), options={"chunk": 16}, callback=stopper)
    assert len(stopper.reports) == 2
