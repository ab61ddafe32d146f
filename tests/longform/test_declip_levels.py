"""Diffusion declip of channels clipped at different levels: each channel guided at its own.

A stereo track clipped at 0.6 (left) and 0.4 (right): one level (0.6) for both had taken the
right channel's samples at 0.4 for reliable ones, and pulled its guess to those flat tops.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffmusic_engine.api import restore
from diffmusic_engine.clipping import auto_levels, clipped_mask
from diffmusic_engine.damage import Declip
from diffmusic_engine.errors import DamageError
from diffmusic_engine.longform.pipeline import SolverSettings, to_model_rate
from diffmusic_engine.longform.restore import restore_long
from diffmusic_engine.longform.windows import plan_windows, split
from diffmusic_engine.models.testing import TEST_DEVICE
from diffmusic_engine.operators import ClipOperator, make_operator

LEVELS = (0.6, 0.4)  # left, right


def clipped_apart(music: np.ndarray) -> np.ndarray:
    """``music`` at peak 0.95, each channel clipped at its own level of :data:`LEVELS`."""
    loud = music / np.abs(music).max() * 0.95
    return np.clip(loud, -np.array(LEVELS)[:, None], np.array(LEVELS)[:, None]).astype(np.float32)


def test_the_consistency_takes_each_rows_samples_at_its_own_level_as_clipped():
    y = torch.tensor([[0.6, 0.3, 0.4], [0.4, -0.4, 0.1]])
    x = torch.tensor([[0.5, 0.2, 0.7], [0.5, -0.5, 0.3]])
    # left (0.6): 0.6 clipped, relu(0.6 - 0.5)^2 = 0.01; 0.3 and 0.4 reliable: 0.01 + 0.09.
    # right (0.4): 0.4 and -0.4 clipped, x beyond them: 0; 0.1 reliable: (0.3 - 0.1)^2 = 0.04
    per_channel = ClipOperator(LEVELS, 16000).consistency(x, y)
    assert float(per_channel) == pytest.approx(0.15)
    # at 0.6 for both the right one's +-0.4 were reliable: (0.5 - 0.4)^2 twice more
    assert float(ClipOperator(0.6, 16000).consistency(x, y)) == pytest.approx(0.17)
    clamped = ClipOperator(LEVELS, 16000)(x)
    assert torch.equal(clamped, torch.tensor([[0.5, 0.2, 0.6], [0.4, -0.4, 0.3]]))


def test_a_batch_takes_its_rows_levels_and_one_level_stays_one():
    operator = make_operator(Declip(level=0.6, channel_levels=LEVELS), 16000)
    rows = operator.for_signals(np.array([1, 1, 0]))
    assert rows.positive == rows.negative == (0.4, 0.4, 0.6)
    assert torch.equal(rows(torch.full((3, 2), 0.5)), torch.tensor([[0.4] * 2] * 2 + [[0.5] * 2]))
    one = make_operator(Declip(level=0.6), 16000)
    assert one.for_signals(np.array([0, 1])) is one and one.positive == one.negative == 0.6


def test_each_side_is_clamped_and_held_at_its_own_level():
    damage = Declip(level=0.7, channel_levels=(0.5, 0.6), negative_levels=(0.7, 0.6))
    rows = make_operator(damage, 16000).for_signals(np.array([0, 1]))
    assert torch.equal(
        rows(torch.tensor([[0.9, -0.9]] * 2)), torch.tensor([[0.5, -0.7], [0.6, -0.6]])
    )
    y = torch.tensor([[0.5, -0.7, -0.6], [0.6, -0.6, 0.1]])
    x = torch.tensor([[0.4, -0.5, -0.5], [0.7, -0.5, 0.3]])
    # row 0 (+0.5 / -0.7): relu(0.5 - 0.4)^2 = 0.01, relu(-0.5 + 0.7)^2 = 0.04, and -0.6 is
    # reliable: (-0.5 + 0.6)^2 = 0.01. Row 1 (0.6): 0.7 beyond 0.6: 0, relu(-0.5 + 0.6)^2 = 0.01,
    # 0.1 reliable: (0.3 - 0.1)^2 = 0.04
    assert float(rows.consistency(x, y)) == pytest.approx(0.11)
    with pytest.raises(DamageError, match="negative_levels: found by --level auto"):
        Declip(level=0.7, negative_levels=(0.7,))


def test_channels_clipped_apart_are_solved_per_channel_at_their_levels(
    adapter, stand_in, music_48k
):
    audio = clipped_apart(music_48k)
    assert auto_levels(audio)[1] == pytest.approx(LEVELS)
    settings = SolverSettings(stereo="mid-side", batch_size=3)
    damage = Declip(level=0.6, channel_levels=LEVELS)
    result = restore_long(audio, 48000, damage, adapter, solve=stand_in, settings=settings)
    assert result.details["stereo"] == "per-channel (channels or sides clipped at different levels)"
    # rows signal-major, 2 channels x 5 windows in chunks of 3: each row guided at its level
    row_levels = [level for call in stand_in.calls for level in call["operator"].positive]
    assert row_levels == [0.6] * 5 + [0.4] * 5
    # the rows are the channels' windows at the model's rate (not mid and side)
    rows = torch.cat([call["y"] for call in stand_in.calls]).numpy()
    windows = split(to_model_rate(audio, 48000, 16000), plan_windows(64000, 16000))
    assert np.array_equal(rows, windows.reshape(len(rows), -1))
    out = result.tracks[0]
    held = ~clipped_mask(audio, LEVELS)
    assert np.array_equal(out[held], audio[held])
    for channel, level in enumerate(LEVELS):
        clipped = ~held[channel]
        assert clipped.sum() > 10 and np.all(np.abs(out[channel, clipped]) >= level * (1 - 1e-4))


def test_sides_clipped_apart_are_each_guided_and_held_at_their_own_level(
    adapter, stand_in, music_48k
):
    """Left clipped at +0.4 / -0.6, right at +0.5 / -0.3: solved per channel, each row's
    operator clamps each side at its channel's level, and the output holds each side's clipped
    samples beyond it."""
    loud = music_48k / np.abs(music_48k).max() * 0.95
    high_levels, low_levels = np.array([[0.4], [0.5]]), np.array([[0.6], [0.3]])
    audio = np.clip(loud, -low_levels, high_levels).astype(np.float32)
    highest, positive, negative = auto_levels(audio)
    assert highest == pytest.approx(0.6) and positive == pytest.approx((0.4, 0.5))
    assert negative == pytest.approx((0.6, 0.3))
    damage = Declip(level=highest, channel_levels=positive, negative_levels=negative)
    result = restore_long(audio, 48000, damage, adapter, solve=stand_in,
                          settings=SolverSettings(stereo="mid-side", batch_size=3))  # fmt: skip
    assert result.details["stereo"] == "per-channel (channels or sides clipped at different levels)"
    # rows signal-major, 2 channels x 5 windows in chunks of 3: each row at its channel's sides
    rows = [
        pair for call in stand_in.calls
        for pair in zip(call["operator"].positive, call["operator"].negative, strict=True)
    ]  # fmt: skip
    assert rows == [(positive[0], negative[0])] * 5 + [(positive[1], negative[1])] * 5
    out = result.tracks[0]
    high, low = audio >= high_levels * (1 - 1e-4), audio <= -low_levels * (1 - 1e-4)
    assert high.sum(axis=1).min() > 10 and low.sum(axis=1).min() > 10
    assert np.all((out >= high_levels * (1 - 1e-4))[high])
    assert np.all((out <= -low_levels * (1 - 1e-4))[low])
    assert np.array_equal(out[~high & ~low], audio[~high & ~low])


def test_one_level_still_solves_mid_side(adapter, stand_in, music_48k):
    audio = np.clip(music_48k / np.abs(music_48k).max() * 0.95, -0.6, 0.6).astype(np.float32)
    result = restore_long(audio, 48000, Declip(level=0.6), adapter, solve=stand_in,
                          settings=SolverSettings(stereo="mid-side", batch_size=3))  # fmt: skip
    assert result.details["stereo"] == "mid-side"
    assert {call["operator"].positive for call in stand_in.calls} == {0.6}


@pytest.mark.slow
def test_the_tiny_model_declips_each_channel_at_its_own_level(tiny_model, music_48k):
    audio = clipped_apart(music_48k[:, :24000])
    options = {"model": tiny_model, "steps": 2, "device": TEST_DEVICE, "batch_size": 32}
    result = restore(audio, 48000, Declip(), backend="diffusion", options=options)
    assert result.details["stereo"] == "per-channel (channels or sides clipped at different levels)"
    out, held = result.audio, ~clipped_mask(audio, LEVELS)
    assert np.array_equal(out[held], audio[held])  # every unclipped sample, bit for bit
    for channel, level in enumerate(LEVELS):
        clipped = ~held[channel]
        assert clipped.sum() > 10 and np.all(np.abs(out[channel, clipped]) >= level * (1 - 1e-4))
