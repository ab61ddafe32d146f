"""AudioLDM2 (``cvssp/audioldm2-music``, ``cvssp/audioldm2``) as a :class:`ModelAdapter`.

The UNet is conditioned on two sequences: the GPT-2 "language model" output
(``encoder_hidden_states``) and the T5 text embeddings (``encoder_hidden_states_1``). Even with
no prompt it needs both, so the empty-prompt embeddings are computed once and cached.

The text path is written here rather than borrowed from ``AudioLDM2Pipeline.encode_prompt``:
with transformers 5 the pipeline's GPT-2 generation loop relies on generation internals
(``_get_initial_cache_position``, ``_update_model_kwargs_for_generation``) that a plain
``GPT2Model`` no longer has, and CLAP's ``get_text_features`` returns a model output rather than
a tensor. Eight forward passes of the language model without a cache cost little once per prompt.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from diffmusic_engine.errors import ModelError
from diffmusic_engine.models.base import LatentAudioAdapter, freeze


class TextStack:
    """The AudioLDM2 text encoders: CLAP + T5, their projection, and the GPT-2 language model."""

    def __init__(
        self,
        *,
        tokenizer: object,
        text_encoder: torch.nn.Module,
        tokenizer_2: object,
        text_encoder_2: torch.nn.Module,
        projection_model: torch.nn.Module,
        language_model: torch.nn.Module,
    ) -> None:
        self.tokenizer, self.tokenizer_2 = tokenizer, tokenizer_2
        self.text_encoder, self.text_encoder_2 = text_encoder, text_encoder_2
        self.projection_model, self.language_model = projection_model, language_model

    def modules(self) -> list[torch.nn.Module]:
        return [self.text_encoder, self.text_encoder_2, self.projection_model, self.language_model]

    def embed(self, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        """UNet inputs for ``texts`` (as ``AudioLDM2Pipeline.encode_prompt`` computes them)."""
        # CLAP: one pooled, projected vector per text, attended as a one-token sequence
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).to(device)
        clap = clap_text_features(self.text_encoder, tokens.input_ids, tokens.attention_mask)
        clap = clap[:, None, :]
        clap_mask = torch.ones(clap.shape[:2], dtype=torch.long, device=device)
        # T5 (flan-t5-large): the token sequence, padded to the longest text
        tokens_2 = self.tokenizer_2(
            texts,
            padding=True,
            max_length=self.tokenizer_2.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).to(device)
        t5 = self.text_encoder_2(tokens_2.input_ids, attention_mask=tokens_2.attention_mask)[0]
        projected = self.projection_model(
            hidden_states=clap,
            hidden_states_1=t5,
            attention_mask=clap_mask,
            attention_mask_1=tokens_2.attention_mask,
        )
        generated = self.generate(projected.hidden_states, projected.attention_mask)
        return {
            "encoder_hidden_states": generated,
            "encoder_hidden_states_1": t5,
            "encoder_attention_mask_1": tokens_2.attention_mask,
        }

    def generate(self, embeds: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """GPT-2 continues the projected sequence by ``max_new_tokens`` hidden states."""
        new_tokens = int(getattr(self.language_model.config, "max_new_tokens", None) or 8)
        if mask is None:
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        for _ in range(new_tokens):
            out = self.language_model(
                inputs_embeds=embeds,
                attention_mask=mask,
                output_hidden_states=True,
                use_cache=False,
            )
            next_state = out.hidden_states[-1][:, -1:, :]
            embeds = torch.cat([embeds, next_state], dim=1)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        return embeds[:, -new_tokens:, :]


def clap_text_features(
    encoder: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """CLAP's projected text embedding ``(B, dim)`` under transformers 4 and 5 alike."""
    if hasattr(encoder, "get_text_features"):
        out = encoder.get_text_features(input_ids, attention_mask=attention_mask)
        # transformers 5 returns a BaseModelOutputWithPooling, transformers 4 a tensor
        return out.pooler_output if hasattr(out, "pooler_output") else out
    return encoder(
        input_ids, attention_mask=attention_mask
    ).text_embeds  # ClapTextModelWithProjection


class AudioLDM2Adapter(LatentAudioAdapter):
    """AudioLDM2: UNet with two cross-attention streams; CFG scale 3.5 (the pipeline default,
    :class:`LatentAudioAdapter`'s)."""

    def __init__(
        self,
        name: str,
        *,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        vocoder: torch.nn.Module,
        scheduler_config: Mapping,
        text: TextStack | None,
        device: torch.device | str,
        dtype: torch.dtype,
        unconditional: dict[str, torch.Tensor] | None = None,
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
        self.text = text
        if text is not None:
            for module in text.modules():
                freeze(module, self.device, dtype)
        if unconditional is not None:  # given embeddings (real-size random models in benches)
            self.__dict__.setdefault("_embedding_cache", {})[("",)] = unconditional

    def _text_embeddings(self, texts: list[str]) -> dict[str, torch.Tensor | None]:
        if self.text is None:
            raise ModelError(f"{self.name}: no text encoders loaded, so no prompt can be encoded")
        return self.text.embed(texts, self.device)
