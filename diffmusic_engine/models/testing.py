"""Random-weight models for tests and benchmarks (no downloads: everything is built from configs).

- :func:`save_tiny_pipeline`: a tiny AudioLDM2 or MusicLDM diffusers folder (UNet, VAE, HiFi-GAN,
  text encoders, tokenizers) that ``load_model`` reads like a real checkpoint; 1 s of audio
  solves in about a second on a CPU.
- :func:`real_size_audioldm2`: an adapter with AudioLDM2-music's real layer shapes (from
  ``../shared/model-shapes/audioldm2-music.json``) and random weights, for speed measurements.
- :data:`TEST_DEVICE`: the device the tests run the tiny models on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

# AudioLDM2's DDIM settings (1000 training steps, scaled-linear betas 0.0015 .. 0.0195)
SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0015,
    "beta_end": 0.0195,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}
# The tiny pipelines' schedule keeps abar_T near 0.4 instead of AudioLDM2's 0.005: a random UNet
# predicts no useful noise, so with the real schedule Tweedie's z0 = z_t / sqrt(abar_t) would blow
# up to ~15x the prior's scale and guidance steps would be lost in it.
TINY_SCHEDULER = {**SCHEDULER, "beta_start": 1e-4, "beta_end": 2e-3}
# The device of the tiny-model tests: the CPU here and in CI; ``DIFFMUSIC_TEST_DEVICE=cuda`` runs
# the same tests on a GPU, where the UNet runs in float16 (docs/results.md "On a GPU").
TEST_DEVICE = os.environ.get("DIFFMUSIC_TEST_DEVICE", "cpu")
SAMPLE_RATE, HOP, TINY_MELS = 16000, 160, 16


def save_tiny_pipeline(kind: str, path: Path, seed: int = 0) -> Path:
    """Build a tiny random ``kind`` pipeline ("audioldm2" | "musicldm"), save it to ``path``."""
    from diffusers import DDIMScheduler

    builders = {"audioldm2": _tiny_audioldm2, "musicldm": _tiny_musicldm}
    if kind not in builders:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(builders)}")
    torch.manual_seed(seed)
    pipeline = builders[kind](DDIMScheduler(**TINY_SCHEDULER))
    with torch.no_grad():
        # a random UNet's eps is O(1) noise; scaled down, the chain stays near the prior's scale
        pipeline.unet.conv_out.weight.mul_(0.05)
        pipeline.unet.conv_out.bias.zero_()
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    path = Path(path)
    pipeline.save_pretrained(path)
    return path


def tiny_vocoder() -> torch.nn.Module:
    """HiFi-GAN at 16 kHz, hop 160 (10 x 4 x 4), 16 mel bins, a handful of channels."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=TINY_MELS,
            sampling_rate=SAMPLE_RATE,
            upsample_initial_channel=16,
            upsample_rates=[10, 4, 4],
            upsample_kernel_sizes=[20, 8, 8],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            normalize_before=False,
        )
    )
    # HiFi-GAN initialises its convolutions with std 0.01 (for training from scratch), which makes
    # a random vocoder output ~1e-8; PyTorch's default init gives audible, gradient-carrying output
    for module in vocoder.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            module.reset_parameters()
    return vocoder


def tiny_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=1,
        out_channels=1,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        scaling_factor=0.41,
    )


def tiny_clap(projection_dim: int = 16) -> torch.nn.Module:
    from transformers import ClapAudioConfig, ClapConfig, ClapModel, ClapTextConfig

    text = ClapTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=1,
        vocab_size=300,
        max_position_embeddings=40,
        projection_dim=projection_dim,
    )
    audio = ClapAudioConfig(
        spec_size=64,
        window_size=4,
        num_mel_bins=64,
        intermediate_size=32,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        num_hidden_layers=2,
        hidden_size=32,
        patch_size=2,
        patch_stride=2,
        patch_embed_input_channels=4,
        projection_dim=projection_dim,
    )
    config = ClapConfig(
        text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=projection_dim
    )
    return ClapModel(config)


def byte_level_roberta_tokenizer(max_length: int = 32) -> object:
    """A RoBERTa tokenizer over the 256 byte-level symbols (no merges), built in code."""
    from tokenizers import pre_tokenizers
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def character_t5_tokenizer(max_length: int = 32) -> object:
    """A T5 (unigram) tokenizer over lower-case letters, digits and a few marks, built in code."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,'-"]
    pieces += [("▁" + c, -2.5) for c in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def _tiny_audioldm2(scheduler: object) -> object:
    from diffusers import AudioLDM2Pipeline, AudioLDM2ProjectionModel, AudioLDM2UNet2DConditionModel
    from transformers import (
        ClapFeatureExtractor,
        GPT2Config,
        GPT2LMHeadModel,
        T5Config,
        T5EncoderModel,
    )

    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=128,  # 128 latent frames x 2 x 160 samples: a 2.56 s window
        in_channels=4,
        out_channels=4,
        norm_num_groups=8,
        attention_head_dim=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=([None, 16, 32], [None, 16, 32]),  # [self, GPT-2 (16), T5 (32)]
    )
    tokenizer_2 = character_t5_tokenizer()
    t5 = T5EncoderModel(
        T5Config(vocab_size=len(tokenizer_2), d_model=32, d_ff=32, d_kv=8, num_heads=2,
                 num_layers=1)
    )  # fmt: skip
    language_model = GPT2LMHeadModel(
        GPT2Config(
            n_embd=16,
            n_head=2,
            n_layer=1,
            vocab_size=64,
            n_ctx=64,
            n_positions=64,
            bos_token_id=0,
            eos_token_id=0,
        )
    )
    language_model.config.max_new_tokens = 8
    return AudioLDM2Pipeline(
        vae=tiny_vae(),
        text_encoder=tiny_clap(16),
        text_encoder_2=t5,
        projection_model=AudioLDM2ProjectionModel(
            text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16
        ),
        language_model=language_model,
        tokenizer=byte_level_roberta_tokenizer(),
        tokenizer_2=tokenizer_2,
        feature_extractor=ClapFeatureExtractor(),
        unet=unet,
        scheduler=scheduler,
        vocoder=tiny_vocoder(),
    )


def _tiny_musicldm(scheduler: object) -> object:
    from diffusers import MusicLDMPipeline, UNet2DConditionModel
    from transformers import ClapFeatureExtractor

    unet = UNet2DConditionModel(
        block_out_channels=(16, 32),
        layers_per_block=1,
        sample_size=128,
        in_channels=4,
        out_channels=4,
        norm_num_groups=8,
        attention_head_dim=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=(16, 32),  # no text sequence: "cross" attention attends to itself
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=16,
        class_embeddings_concat=True,
    )
    return MusicLDMPipeline(
        vae=tiny_vae(),
        text_encoder=tiny_clap(16),
        tokenizer=byte_level_roberta_tokenizer(),
        feature_extractor=ClapFeatureExtractor(),
        unet=unet,
        scheduler=scheduler,
        vocoder=tiny_vocoder(),
    )


def real_size_audioldm2(
    shapes_file: Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
) -> object:
    """An AudioLDM2 adapter with the real layer shapes and random weights (no text encoders:
    random "empty prompt" embeddings of the real shapes stand in for them)."""
    from diffusers import AudioLDM2UNet2DConditionModel, AutoencoderKL
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from diffmusic_engine.models.audioldm2 import AudioLDM2Adapter

    shapes = json.loads(Path(shapes_file).read_text())
    torch.manual_seed(seed)
    unet_config = dict(shapes["unet"])
    unet_config["cross_attention_dim"] = [list(dims) for dims in unet_config["cross_attention_dim"]]
    unet = AudioLDM2UNet2DConditionModel(**unet_config)
    vae = AutoencoderKL(**shapes["vae"])
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**shapes["vocoder"]))
    conditioning = shapes["unet_conditioning_shapes"]
    unconditional = {
        "encoder_hidden_states": torch.randn(conditioning["encoder_hidden_states"]),
        "encoder_hidden_states_1": torch.randn(conditioning["encoder_hidden_states_1"]),
        "encoder_attention_mask_1": torch.ones(
            conditioning["encoder_hidden_states_1"][:2], dtype=torch.long
        ),
    }
    unconditional = {
        k: v.to(device, dtype) if v.is_floating_point() else v.to(device)
        for k, v in unconditional.items()
    }
    return AudioLDM2Adapter(
        "random-audioldm2-music",
        unet=unet,
        vae=vae,
        vocoder=vocoder,
        scheduler_config=SCHEDULER,
        text=None,
        device=device,
        dtype=dtype,
        unconditional=unconditional,
    )
