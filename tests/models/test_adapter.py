"""The adapters' calls: CFG only with a prompt, shapes of D, V and the mel front end."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch


def unet_batches(adapter):
    """Record the batch size of every UNet call."""
    seen = []
    handle = adapter.unet.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[0]))
    return seen, handle


@pytest.mark.parametrize("batch", [1, 3])
def test_classifier_free_guidance_only_with_a_prompt(adapter, batch):
    z = torch.randn(batch, *adapter.latent_shape(8000), generator=torch.Generator().manual_seed(0))
    seen, handle = unet_batches(adapter)
    try:
        plain = adapter.predict_noise(z, 500, adapter.conditioning(None, batch))
        empty = adapter.predict_noise(z, 500, adapter.conditioning("", batch))
        prompted = adapter.predict_noise(z, 500, adapter.conditioning("soft jazz piano", batch))
    finally:
        handle.remove()
    assert seen == [batch, batch, 2 * batch]  # the doubled batch only for the prompt
    assert plain.shape == z.shape == prompted.shape
    assert torch.equal(plain, empty)
    assert not torch.allclose(plain, prompted)  # the prompt does steer the prediction


def test_prompted_guidance_is_the_cfg_combination(audioldm2):
    adapter = audioldm2
    z = torch.randn(2, *adapter.latent_shape(8000), generator=torch.Generator().manual_seed(1))
    conditioning = adapter.conditioning("bright synth", 2)
    guided = adapter.predict_noise(z, 300, conditioning)
    inputs = conditioning.inputs
    with torch.no_grad():  # the UNet as the adapter runs it: on its device, in its dtype
        z_model = torch.cat([z, z]).to(adapter.device, adapter.dtype)
        both = adapter.unet(z_model, 300, **inputs, return_dict=False)[0]
    uncond, cond = both.chunk(2)
    w = conditioning.guidance_scale
    # guidance that extrapolates: past the prompted prediction, away from the unprompted one
    assert w > 1 and not torch.allclose(cond, uncond)
    torch.testing.assert_close(guided, (uncond + w * (cond - uncond)).float())


def test_decode_vocode_mel_shapes(adapter):
    frames = 25
    z = torch.randn(2, adapter.latent_shape(1)[0], frames, adapter.latent_shape(1)[2])
    with torch.no_grad():
        mel = adapter.decode(z)
        wave = adapter.vocode(mel)
        again = adapter.mel(wave)
    mel_frames = frames * adapter.vae_scale_factor
    assert mel.shape == (2, 1, mel_frames, adapter.n_mels)
    assert wave.shape == (2, adapter.samples_for_latent(frames)) and wave.dtype == torch.float32
    assert again.shape == mel.shape


def test_mel_front_end_puts_a_tone_in_its_band(audioldm2):
    sr, f0 = 16000, 1000.0
    t = torch.arange(sr) / sr
    mel = audioldm2.mel(0.5 * torch.sin(2 * torch.pi * f0 * t)[None])
    assert mel.shape == (1, 1, 100, 16)  # one frame per hop of 160 samples
    band = int(mel[0, 0, 50].argmax())
    # the Slaney mel band edges for 16 bands over 0..8 kHz, from librosa
    edges = librosa.mel_frequencies(16 + 2, fmin=0.0, fmax=8000.0)
    assert edges[band] < f0 < edges[band + 2]
    # log-magnitude of a 0.5 sine under a Hann window of 1024: |X| ~ 0.5 * 1024 / 4 = 128
    bank = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=16, fmax=8000.0)
    expected = np.log(
        bank[band]
        @ np.abs(
            np.fft.rfft(0.5 * np.sin(2 * np.pi * f0 * np.arange(1024) / sr) * np.hanning(1024))
        )
    )
    assert float(mel[0, 0, 50, band]) == pytest.approx(expected, abs=0.1)
