"""What the adapters do for real checkpoints that the fp32 tiny pipelines do not exercise:
half precision on CUDA (fp32 D and V, T5's fp32 layers kept), deterministic kernels on CUDA,
v/x0-predicting schedulers, and the guidance precision (D and V under bf16 autocast while they
carry the gradient)."""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch
from diffusers import DDIMScheduler

from diffmusic_engine.damage import Gap
from diffmusic_engine.diffusion.guidance import (
    build_loss,
    guidance_precision,
    resolve_guidance_dtype,
)
from diffmusic_engine.diffusion.solver import solve
from diffmusic_engine.errors import DamageError, ModelError
from diffmusic_engine.models.base import freeze, reproducible
from diffmusic_engine.models.musicldm import MusicLDMAdapter
from diffmusic_engine.operators import InpaintOperator


def musicldm_like(adapter, *, dtype=torch.float32, **scheduler):
    """A MusicLDM adapter on copies of ``adapter``'s modules (freeze works in place)."""
    return MusicLDMAdapter(
        "copy",
        unet=copy.deepcopy(adapter.unet),
        vae=copy.deepcopy(adapter.vae),
        vocoder=copy.deepcopy(adapter.vocoder),
        scheduler_config={**adapter.scheduler_config, **scheduler},
        tokenizer=adapter.tokenizer,
        text_encoder=copy.deepcopy(adapter.text_encoder),
        device="cpu",
        dtype=dtype,
    )


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_v_and_x0_predictions_become_the_same_ddim_step_as_eps(musicldm, prediction_type):
    adapter = musicldm_like(musicldm, prediction_type=prediction_type)
    z = torch.randn(1, *adapter.latent_shape(8000), generator=torch.Generator().manual_seed(3))
    t = 601
    conditioning = adapter.conditioning(None, 1)
    with torch.no_grad():
        raw = adapter.unet(z, t, **conditioning.inputs, return_dict=False)[0]
    eps = adapter.predict_noise(z, t, conditioning)
    # diffusers' own DDIM step, told what the UNet predicts, must land where eps lands
    config = {k: v for k, v in adapter.scheduler_config.items() if not k.startswith("_")}
    steps = []
    for kind, output in ((prediction_type, raw), ("epsilon", eps)):
        scheduler = DDIMScheduler(**{**config, "prediction_type": kind})
        scheduler.set_timesteps(50)
        steps.append(scheduler.step(output, t, z).prev_sample)
    torch.testing.assert_close(steps[0], steps[1], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(eps, raw)  # the conversion did something


def test_unknown_prediction_type_is_refused(musicldm):
    with pytest.raises(ModelError, match="prediction_type"):
        musicldm_like(musicldm, prediction_type="flow")


def test_fp16_model_decodes_and_takes_gradients_in_fp32(musicldm):
    adapter = musicldm_like(musicldm, dtype=torch.float16)
    assert {p.dtype for p in adapter.unet.parameters()} == {torch.float16}
    assert {p.dtype for p in adapter.text_encoder.parameters()} == {torch.float16}
    for module in (adapter.vae, adapter.vocoder):
        assert {p.dtype for p in module.parameters()} == {torch.float32}
    z0 = torch.randn(1, *adapter.latent_shape(3200), requires_grad=True)
    wave = adapter.vocode(adapter.decode(z0))
    # a loss whose gradient is far beyond fp16's range (6.5e4) comes back finite
    (gradient,) = torch.autograd.grad((wave * 1e8).sum(), z0)
    assert gradient.dtype == torch.float32 and bool(torch.isfinite(gradient).all())
    assert float(gradient.abs().max()) > 6.6e4


def test_freeze_keeps_the_layers_transformers_loads_in_fp32(tmp_path):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=32, d_model=8, d_ff=8, d_kv=4, num_heads=2, num_layers=1)
    T5EncoderModel(config).save_pretrained(tmp_path)
    loaded = T5EncoderModel.from_pretrained(tmp_path, dtype=torch.float16)
    kept = {name for name, p in loaded.named_parameters() if p.dtype == torch.float32}
    assert kept and all(".wo." in name for name in kept)  # T5's _keep_in_fp32_modules
    frozen = freeze(loaded, torch.device("cpu"), torch.float16)
    assert {n for n, p in frozen.named_parameters() if p.dtype == torch.float32} == kept
    # a module built in fp32 from a config is cast
    built = freeze(T5EncoderModel(config), torch.device("cpu"), torch.float16)
    assert {p.dtype for p in built.parameters()} == {torch.float16}


# -- guidance precision ---------------------------------------------------------------------------


def test_guidance_dtype_names():
    assert resolve_guidance_dtype("float32") is None  # D and V as loaded
    assert resolve_guidance_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(DamageError, match="float16 overflows"):
        resolve_guidance_dtype("float16")


def test_bf16_guidance_chain_keeps_the_waveform_to_bf16_rounding(audioldm2):
    """bf16 keeps 8 significant bits (unit roundoff 2^-9): x = V(D(z0)) under autocast must
    stay within a few roundings of fp32's, 2^-6 relative, and the VMC gradient come back in fp32,
    finite and not fp32's bit for bit (autocast ran)."""
    n = 8000
    z0 = torch.randn(2, *audioldm2.latent_shape(n), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = audioldm2.vocode(audioldm2.decode(z0))
        with guidance_precision(audioldm2, torch.bfloat16):
            half = audioldm2.vocode(audioldm2.decode(z0))
    assert half.dtype == torch.float32
    assert 0 < float((half - full).norm() / full.norm()) < 2**-6
    gradients = [
        guidance_gradient(audioldm2, z0, n, precision) for precision in (None, torch.bfloat16)
    ]
    assert gradients[1].dtype == torch.float32 and bool(torch.isfinite(gradients[1]).all())
    assert not torch.equal(*gradients)


def test_bf16_mel_space_gradient_points_where_the_fp32_one_does(audioldm2):
    """Without VMC the loss compares the decoder's log-mel, where bf16's relative error is
    additive and tiny: the gradients agree to within a per cent in direction and size."""
    n = 8000
    z0 = torch.randn(2, *audioldm2.latent_shape(n), generator=torch.Generator().manual_seed(2))
    full, half = (
        guidance_gradient(audioldm2, z0, n, precision, vmc=False)
        for precision in (None, torch.bfloat16)
    )
    assert not torch.equal(half, full)
    cosine = torch.nn.functional.cosine_similarity(half.flatten(), full.flatten(), dim=0)
    assert cosine > 0.99 and abs(float(half.norm() / full.norm()) - 1.0) < 0.01


def guidance_gradient(adapter, z0, n, precision, vmc=True):
    """dL/dz0 of the inpainting loss (VMC or mel-space) at ``precision``."""
    damaged = torch.randn(z0.shape[0], n, generator=torch.Generator().manual_seed(1)) * 0.1
    operator = InpaintOperator((Gap(0.2, 0.3),), adapter.sample_rate)
    loss = build_loss(adapter, operator, damaged, vmc=vmc, precision=precision)
    z = z0.clone().requires_grad_(True)
    return torch.autograd.grad(loss(z), z)[0]


def test_the_output_is_decoded_without_autocast(audioldm2):
    """Unguided, the guidance precision has nothing to act on: the same bits either way."""
    damaged = torch.randn(1, 8000, generator=torch.Generator().manual_seed(4)) * 0.1
    operator = InpaintOperator((Gap(0.2, 0.3),), audioldm2.sample_rate)
    outputs = [
        solve(audioldm2, operator, damaged, sampler="ddim", steps=3, guidance_dtype=name)
        for name in ("float32", "bfloat16")
    ]
    assert torch.equal(outputs[0], outputs[1])
    guided = solve(audioldm2, operator, damaged, steps=3, guidance_dtype="bfloat16")
    assert not torch.equal(guided, outputs[0])


def test_a_model_on_cuda_makes_the_process_reproducible(monkeypatch):
    """The flags that make one seed give one output on CUDA (with PyTorch's defaults two runs on
    an H200 differed); the CPU is left alone. That they suffice is checked on a GPU: the same-seed
    tests under ``DIFFMUSIC_TEST_DEVICE=cuda`` (docs/results.md "On a GPU")."""
    # set first, so that monkeypatch puts back what was there (delenv of an absent variable
    # records nothing, and the value reproducible() sets had outlived the test)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "as it was")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    mode = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    with warnings.catch_warnings(record=True) as seen:  # the filters it adds end with the block
        warnings.simplefilter("always")
        try:
            reproducible(torch.device("cpu"))
            assert not torch.are_deterministic_algorithms_enabled()
            assert (
                not torch.backends.cudnn.deterministic
                and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
            )
            reproducible(torch.device("cuda"))
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()  # no kernel refused
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            # a workspace cuBLAS is deterministic with (PyTorch's reproducibility notes)
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")
            assert not torch.utils.deterministic.fill_uninitialized_memory
            for message in (
                "reflection_pad1d_backward_out_cuda does not have a deterministic implementation",
                "Memory Efficient attention defaults to a non-deterministic algorithm. To ...",
                "any other warning",
            ):
                warnings.warn(message, UserWarning, stacklevel=1)
            monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the user's own is kept
            reproducible(torch.device("cuda"))
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
        finally:
            torch.use_deterministic_algorithms(mode, warn_only=warn_only)
            torch.utils.deterministic.fill_uninitialized_memory = fill
    assert [str(w.message) for w in seen] == ["any other warning"]
