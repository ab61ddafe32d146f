"""The guidance loss: per-item sums, zero at the truth, gradients to z0 and nowhere else."""

from __future__ import annotations

import math

import pytest
import torch

from diffmusic_engine.damage import Gap
from diffmusic_engine.diffusion.guidance import bands_below, build_loss, observed_frames
from diffmusic_engine.errors import DamageError
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.operators import (
    ConvolutionOperator,
    InpaintOperator,
    LowPassOperator,
    MagnitudeOperator,
    MixOperator,
)

SR, N = 16000, 8000


def latents(adapter, rows, seed):
    return torch.randn(
        rows, *adapter.latent_shape(N), generator=torch.Generator().manual_seed(seed)
    )


def waveform(adapter, z):
    with torch.no_grad():
        return adapter.vocode(adapter.decode(z))[:, :N]


OPERATORS = {
    "inpaint": lambda: InpaintOperator((Gap(0.2, 0.3),), SR),
    "super-resolution": lambda: LowPassOperator(3000.0, SR),
    "phase-retrieval": lambda: MagnitudeOperator(1024, 256, SR),
    "dereverb": lambda: ConvolutionOperator(synthetic_rir(0.2, SR, seed=1), SR),
}


@pytest.mark.parametrize("task", sorted(OPERATORS))
def test_vmc_loss_is_zero_at_the_truth_and_positive_elsewhere(audioldm2, task):
    operator = OPERATORS[task]()
    truth = latents(audioldm2, 1, 0)
    damaged = (
        operator(waveform(audioldm2, truth))
        if task != "phase-retrieval"
        else waveform(audioldm2, truth)
    )  # phase retrieval: the loss measures |STFT| of the audio handed in
    loss = build_loss(audioldm2, operator, damaged, vmc=True)
    assert float(loss(truth)) == pytest.approx(0.0, abs=1e-3)
    assert float(loss(latents(audioldm2, 1, 1))) > 1.0


def test_loss_is_the_sum_of_item_losses_and_gradients_stay_per_item(audioldm2):
    operator = LowPassOperator(3000.0, SR)
    damaged = operator(waveform(audioldm2, latents(audioldm2, 2, 5)))
    batch_loss = build_loss(audioldm2, operator, damaged)
    z = latents(audioldm2, 2, 6).requires_grad_(True)
    total = batch_loss(z)
    total.backward()
    parts = [
        build_loss(audioldm2, operator, damaged[i : i + 1])(z[i : i + 1].detach()) for i in (0, 1)
    ]
    assert float(total.detach()) == pytest.approx(float(parts[0] + parts[1]), rel=1e-4)
    # item 1's gradient does not depend on item 0's latent
    z2 = z.detach().clone()
    z2[0] += 1.0
    z2.requires_grad_(True)
    batch_loss(z2).backward()
    torch.testing.assert_close(z2.grad[1], z.grad[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("vmc", [True, False])
def test_gradient_reaches_z0_and_no_parameter(adapter, vmc):
    operator = InpaintOperator((Gap(0.2, 0.3),), SR)
    damaged = operator(waveform(adapter, latents(adapter, 1, 0)))
    z = latents(adapter, 1, 2).requires_grad_(True)
    build_loss(adapter, operator, damaged, vmc=vmc)(z).backward()
    assert (
        z.grad is not None and bool(torch.isfinite(z.grad).all()) and float(z.grad.abs().sum()) > 0
    )
    for module in (adapter.unet, adapter.vae, adapter.vocoder):
        assert all(p.grad is None for p in module.parameters())


def test_separation_loss_is_zero_for_the_true_sources(audioldm2):
    operator = MixOperator((0.3, 0.7), SR)
    truth = latents(audioldm2, 2, 3)  # one item, two sources (source-fastest rows)
    mix = operator(waveform(audioldm2, truth).reshape(1, 2, N))
    loss = build_loss(audioldm2, operator, mix, sources=2)
    assert float(loss(truth)) == pytest.approx(0.0, abs=1e-3)
    assert float(loss(truth.flip(0))) > 1.0  # swapped sources mix with swapped weights


def test_inpainting_frame_mask_leaves_out_frames_touching_the_gap(audioldm2):
    front = audioldm2.front_end
    operator = InpaintOperator((Gap(0.2, 0.3),), SR)
    mask = observed_frames(operator(torch.ones(1, N)), front)[0, 0, :, 0]
    # frame k reads samples [160 k - 432, 160 k + 592); the gap is [3200, 4800)
    first_touching = math.floor((3200 - 592) / 160) + 1
    last_touching = math.ceil((4800 + 432) / 160) - 1
    expected = torch.ones(50)
    expected[first_touching : last_touching + 1] = 0
    torch.testing.assert_close(mask, expected)


def test_super_resolution_bands_end_below_the_cutoff(audioldm2):
    keep = bands_below(audioldm2, 3000.0).flatten()
    import librosa

    edges = librosa.mel_frequencies(audioldm2.n_mels + 2, fmin=0.0, fmax=SR / 2)
    upper = torch.tensor(edges[2:], dtype=torch.float32)
    # a band is kept iff its top edge (to one FFT bin, 15.6 Hz) is at or below the cutoff
    assert torch.equal(keep[upper < 3000.0 - 16], torch.ones(int((upper < 3000.0 - 16).sum())))
    assert torch.equal(keep[upper > 3000.0 + 16], torch.zeros(int((upper > 3000.0 + 16).sum())))


def test_dereverb_without_vmc_is_refused(audioldm2):
    operator = OPERATORS["dereverb"]()
    with pytest.raises(DamageError, match="dereverb needs VMC"):
        build_loss(audioldm2, operator, torch.zeros(1, N), vmc=False)
