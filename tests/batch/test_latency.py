"""Plugin latency compensation: streamed outputs stay aligned sample for sample with inputs.

pedalboard's built-in ``BrickwallLimiter`` delays its input by its look-ahead and reports it;
pedalboard's own test plugin ``AddLatency`` (``pedalboard_native._internal``) is a pure delay
that reports its delay. Compensated, a pure delay is the identity: that is what is tested.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard
import pytest
from batch_helpers import write
from pedalboard_native._internal import AddLatency

from bridge.batch import Chain
from bridge.batch.chain import PluginStep
from bridge.batch.stream import Pipeline, PluginStage, render_file
from diffmusic_engine.audio import read_audio


def push_in_blocks(stage, audio: np.ndarray, sizes: list[int]) -> np.ndarray:
    outputs, i, k = [], 0, 0
    while i < audio.shape[1]:
        outputs.append(stage.push(audio[:, i : i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    outputs.append(stage.finish())
    return np.concatenate(outputs, axis=1)


def test_a_compensated_pure_delay_is_the_identity(rng) -> None:
    audio = (rng.standard_normal((2, 30000)) * 0.2).astype(np.float32)
    board = pedalboard.Pedalboard([AddLatency(1234), AddLatency(777)])
    out = push_in_blocks(PluginStage(board, 44100, 2), audio, [5000, 1, 999, 4096])
    np.testing.assert_array_equal(out, audio)
    # without compensation the stream would lag: the first call gives less than it takes
    board.reset()
    assert board.process(audio[:, :5000], 44100, reset=False).shape[1] == 5000 - 2011


def test_look_ahead_limiter_is_aligned(rng) -> None:
    audio = (rng.standard_normal((1, 20000)) * 0.05).astype(np.float32)  # far below the ceiling
    board = pedalboard.Pedalboard([pedalboard.BrickwallLimiter(ceiling_db=-1, lookahead_ms=5)])
    out = push_in_blocks(PluginStage(board, 48000, 1), audio, [3000])
    np.testing.assert_array_equal(out, board(audio, 48000))  # as pedalboard does in memory
    np.testing.assert_allclose(out, audio, atol=1e-6)  # no gain reduction: identity, no lag


def test_pipeline_flushes_latency_through_later_stages(rng) -> None:
    audio = (rng.standard_normal((2, 10000)) * 0.2).astype(np.float32)
    stages = [
        PluginStage(pedalboard.Pedalboard([AddLatency(500)]), 44100, 2),
        PluginStage(pedalboard.Pedalboard([pedalboard.Gain(6.0), AddLatency(300)]), 44100, 2),
    ]
    out = push_in_blocks(Pipeline(stages), audio, [4000])
    np.testing.assert_allclose(out, audio * 10 ** (6 / 20), rtol=1e-6)


def test_rendered_file_is_aligned_with_its_input(
    rng, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AddLatency is not a public plugin: expose it to the chain for this test only
    monkeypatch.setattr(pedalboard, "AddLatency", AddLatency, raising=False)
    audio = (rng.standard_normal((2, 150000)) * 0.1).astype(np.float32)
    source = write(tmp_path / "in.wav", audio, 44100)  # float32: no rounding
    chain = Chain((PluginStep("AddLatency", {"samples": 3000}),
                   PluginStep("BrickwallLimiter", {"ceiling_db": -0.5})))  # fmt: skip
    render_file(source, tmp_path / "out.wav", chain, block_frames=8192)
    out, info = read_audio(tmp_path / "out.wav")
    assert info.frames == audio.shape[1]
    np.testing.assert_allclose(out, audio, atol=1e-6)
