"""MusicLDM (``ucsd-reach/musicldm``) as a :class:`ModelAdapter`.

The UNet takes the CLAP text embedding as ``class_labels`` (a "simple_projection" class embedding)
and no cross-attention sequence. ``MusicLDMPipeline`` is deprecated in diffusers and its prompt
encoding expects CLAP to return a tensor (transformers 5 returns a model output), so the
embedding is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from diffmusic_engine.models.audioldm2 import clap_text_features
from diffmusic_engine.models.base import LatentAudioAdapter, freeze


class MusicLDMAdapter(LatentAudioAdapter):
    """MusicLDM: CLAP-conditioned UNet; CFG scale 2.0 (the pipeline default)."""

    default_guidance_scale = 2.0

    def __init__(
        self,
        name: str,
        *,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        vocoder: torch.nn.Module,
        scheduler_config: Mapping,
        tokenizer: object,
        text_encoder: torch.nn.Module,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(
            name,
            unet=unet,
            vae=vae,
            vocoder=vocoder,
            scheduler_config=scheduler_config,
            device=device,
            dtype=dtype,
        )
        self.tokenizer = tokenizer
        self.text_encoder = freeze(text_encoder, self.device, dtype)

    def _text_embeddings(self, texts: list[str]) -> dict[str, torch.Tensor | None]:
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).to(self.device)
        embedding = clap_text_features(self.text_encoder, tokens.input_ids, tokens.attention_mask)
        return {"encoder_hidden_states": None, "class_labels": embedding}
