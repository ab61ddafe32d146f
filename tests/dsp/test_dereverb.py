"""dsp dereverberation: Wiener deconvolution with a known IR; blind: WPE where it helps."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import restore
from diffmusic_engine.audio import write_audio
from diffmusic_engine.damage import Dereverb
from diffmusic_engine.dsp.dereverb import LONG_ROOM_S, _removed_too_much
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.evaluation.rooms import band_rir, hall_bands, reverberate
from diffmusic_engine.operators import ConvolutionOperator, synthetic_rir
from diffmusic_engine.room import RoomEstimate
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


@pytest.fixture(scope="module")
def hall():
    """4 s of stereo music and the same in a 2.5 s hall (DRR -3 dB)."""
    clean = music_excerpt(4.0, SR, channels=2, seed=2)
    return clean, reverberate(clean, band_rir(hall_bands(2.5), -3.0, SR, seed=5))


def test_blind_runs_wpe_in_a_long_room(hall, recorder):
    _, reverberant = hall
    callback = recorder()
    result = restore(reverberant, SR, Dereverb(), callback=callback)
    out = result.audio
    assert out.shape == reverberant.shape and out.dtype == np.float32
    assert result.details["method"] == "wpe", result.details
    assert result.details["room"]["rt60_s"] > LONG_ROOM_S
    assert callback.fractions[-1] == 1.0
    assert {p.stage for p in callback.reports} == {"room", "dereverb"}
    # WPE subtracts a prediction of the late reverberation: the output has less energy.
    assert np.sum(out.astype(np.float64) ** 2) < np.sum(reverberant.astype(np.float64) ** 2)
    half = restore(reverberant, SR, Dereverb(), options={"amount": 0.5}).audio
    np.testing.assert_allclose(half, reverberant + 0.5 * (out - reverberant), atol=1e-5)


def test_blind_leaves_a_short_room_alone_and_says_why(room):
    _, _, reverberant = room  # 1.5 s: too short to measure
    result = restore(reverberant, SR, Dereverb())
    assert result.details["method"] == "none" and "too short" in result.details["reason"]
    np.testing.assert_array_equal(result.audio, reverberant)


def test_blind_amount_zero_removes_nothing(hall):
    _, reverberant = hall
    result = restore(reverberant, SR, Dereverb(), options={"amount": 0})
    assert result.details["method"] == "none"
    np.testing.assert_array_equal(result.audio, reverberant)


def test_blind_cancels_while_estimating_the_room(hall, recorder):
    _, reverberant = hall
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(reverberant, SR, Dereverb(), options={"chunk": 16}, callback=stopper)
    assert len(stopper.reports) == 2 and stopper.reports[-1].stage == "room"


def test_blind_declines_when_wpe_removes_more_than_the_room_holds():
    """Reverberation at DRR d is 1 / (1 + 10^(d/10)) of the energy: removing it all leaves
    -10 log10(1 + 10^(-d/10)) dB (3.01 dB at 0 dB, 1.76 dB at +3 dB); the cap is 5 dB."""
    audio = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    room = RoomEstimate(2.5, {}, 0.0, 0.9)
    assert _removed_too_much(audio, 0.8 * audio, room) is None  # 1.94 dB < 3.01 dB
    wetter = RoomEstimate(2.5, {}, 3.0, 0.9)
    assert "1.9 dB" in _removed_too_much(audio, 0.8 * audio, wetter)  # > 1.76 dB
    very_wet = RoomEstimate(2.5, {}, -10.0, 0.9)  # holds 10.4 dB, but the cap is 5 dB
    assert "6.0 dB" in _removed_too_much(audio, 0.5 * audio, very_wet)
    assert _removed_too_much(audio, 0.6 * audio, very_wet) is None  # 4.4 dB
