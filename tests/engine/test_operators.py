"""Forward models checked against outputs derived by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffmusic_engine.band_limit import cutoff_of, long_term_level
from diffmusic_engine.damage import Dereverb, Gap, Inpaint, PhaseRetrieval, Separate, gap_samples
from diffmusic_engine.errors import DamageError
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.operators import (
    ConvolutionOperator,
    InpaintOperator,
    LowPassOperator,
    MagnitudeOperator,
    MaskOperator,
    MixOperator,
    make_operator,
)

SR = 16000


def sine(freq: float, n: int = SR, amplitude: float = 0.5) -> torch.Tensor:
    return amplitude * torch.sin(2 * torch.pi * freq * torch.arange(n, dtype=torch.float64) / SR)


def test_inpaint_zeroes_exactly_the_gap_samples():
    op = InpaintOperator((Gap(0.25, 0.5),), SR)
    x = torch.ones(2, SR)
    y = op(x)
    first, stop = gap_samples(Gap(0.25, 0.5), SR)
    assert (first, stop) == (4000, 8000)
    assert torch.all(y[:, first:stop] == 0)
    assert torch.all(y[:, :first] == 1) and torch.all(y[:, stop:] == 1)
    per_window = MaskOperator(torch.stack([op.mask(SR), torch.ones(SR)]), SR)
    assert torch.equal(per_window(x)[0], y[0]) and torch.equal(per_window(x)[1], x[1])


def test_low_pass_keeps_the_band_below_and_removes_the_band_above():
    op = LowPassOperator(4000.0, SR)
    # whole-period sines sit exactly on FFT bins, so the filter acts on them exactly
    below, above = sine(1000.0), sine(6000.0)
    torch.testing.assert_close(op(below), below, atol=1e-9, rtol=0)
    assert op(above).abs().max() < 1e-9
    torch.testing.assert_close(op(below + above), below, atol=1e-9, rtol=0)


def test_low_pass_is_linear_and_differentiable():
    op = LowPassOperator(3000.0, SR)
    x = torch.randn(4000, dtype=torch.float64, requires_grad=True)
    z = torch.randn(4000, dtype=torch.float64)
    torch.testing.assert_close(op(2 * x + 3 * z), 2 * op(x) + 3 * op(z))
    op(x).pow(2).sum().backward()
    # a real zero-phase filter is symmetric, so grad ||T x||^2 = 2 T^T T x = 2 T(T(x))
    torch.testing.assert_close(x.grad, 2 * op(op(x.detach())))


def test_magnitude_of_a_bin_centred_sine():
    n_fft, hop, k, amplitude = 512, 128, 32, 0.5
    op = MagnitudeOperator(n_fft, hop, SR)
    magnitude = op(sine(k * SR / n_fft, amplitude=amplitude).float())
    middle = magnitude[:, 10:-10]
    # periodic Hann window sums to n_fft / 2, and a real sine puts half its amplitude in bin k
    expected = amplitude * (n_fft / 2) / 2
    torch.testing.assert_close(middle[k], torch.full_like(middle[k], expected), rtol=1e-4, atol=0)
    assert middle[k + 3].max() < 1e-3 * expected


def test_phase_retrieval_degrade_keeps_length_and_is_seeded():
    op = make_operator(PhaseRetrieval(n_fft=512, hop=128), SR)
    clean = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    a, b = op.degrade(clean), op.degrade(clean)
    assert a.shape == clean.shape and np.array_equal(a, b)
    assert not np.allclose(a, clean, atol=0.1)


def test_mix_is_the_weighted_sum_over_sources():
    op = make_operator(Separate(sources=3, weights=(0.5, 0.3, 0.2)), SR)
    sources = torch.randn(2, 3, 100, dtype=torch.float64)  # (channels, sources, samples)
    expected = 0.5 * sources[:, 0] + 0.3 * sources[:, 1] + 0.2 * sources[:, 2]
    torch.testing.assert_close(op(sources), expected)
    with pytest.raises(ValueError, match="expected 3 sources"):
        op(torch.randn(2, 2, 100))
    assert isinstance(op, MixOperator)
    stacked = np.random.default_rng(1).standard_normal((3, 2, 50)).astype(np.float32)
    np.testing.assert_allclose(
        op.degrade(stacked), 0.5 * stacked[0] + 0.3 * stacked[1] + 0.2 * stacked[2], atol=1e-6
    )


def test_convolution_equals_numpy_and_uses_one_fixed_response():
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal(3000), rng.standard_normal(400)
    op = ConvolutionOperator(h.astype(np.float32), SR)
    y = op(torch.from_numpy(x))
    np.testing.assert_allclose(y.numpy(), np.convolve(x, h)[:3000], atol=1e-4)
    assert torch.equal(op(torch.from_numpy(x)), y)  # the same room on every call


def test_dereverb_operator_needs_a_response():
    with pytest.raises(DamageError, match="blind"):
        make_operator(Dereverb(), SR)
    ir = synthetic_rir(0.3, SR)
    assert isinstance(make_operator(Dereverb(), SR, impulse_response=ir), ConvolutionOperator)


def test_synthetic_rir_decays_sixty_db_over_rt60():
    rt60 = 0.5
    ir = synthetic_rir(rt60, SR, seed=3).astype(np.float64)
    assert ir[0] == 1.0 and len(ir) == int(rt60 * SR)
    # 10 ms energy windows rt60/2 apart differ by 30 dB (up to the noise of 160 samples)
    window = int(0.01 * SR)

    def energy(t: float) -> float:
        start = int(t * SR)
        return float(np.sum(ir[start : start + window] ** 2))

    drop = 10 * np.log10(energy(0.05) / energy(0.05 + rt60 / 2))
    assert 27 < drop < 33


def test_inpaint_factory():
    op = make_operator(Inpaint(gaps=(Gap(0.1, 0.2),)), SR)
    assert isinstance(op, InpaintOperator)


@pytest.mark.parametrize("cutoff", [3000.0, 5000.0])
def test_cutoff_of_the_long_term_level_finds_a_low_pass_edge(cutoff):
    noise = np.random.default_rng(4).standard_normal((2, 2 * 44100)).astype(np.float32)
    limited = LowPassOperator(cutoff, 44100).degrade(noise)
    assert abs(cutoff_of(*long_term_level(limited, 44100), 44100) - cutoff) < 0.05 * cutoff
    assert cutoff_of(*long_term_level(noise, 44100), 44100) > 0.95 * 22050
