"""What the solver needs from a latent audio diffusion model, and the parts every model shares.

Symbols (docs/method.md): eps_theta = :meth:`predict_noise`, D = :meth:`decode`,
V = :meth:`vocode`. All modules are frozen (``eval()``, ``requires_grad_(False)``); the noise
prediction runs under ``no_grad``, while decode and vocode stay differentiable for the guidance
gradient, which therefore reaches z0 but never a parameter.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from diffmusic_engine.errors import ModelError
from diffmusic_engine.models.mel import MelFrontEnd
from diffmusic_engine.samplers.schedule import DDIMSchedule


@runtime_checkable
class ModelAdapter(Protocol):
    """One pretrained latent diffusion model, seen through the few calls the solver makes."""

    name: str
    sample_rate: int
    window_samples: int
    device: torch.device
    dtype: torch.dtype
    scheduler_config: Mapping

    def latent_shape(self, n_samples: int) -> tuple[int, ...]:
        """Shape of one latent item for ``n_samples`` of audio, e.g. ``(8, frames, 16)``."""
        ...

    def samples_for_latent(self, frames: int) -> int:
        """Samples of audio that ``frames`` latent frames decode to."""
        ...

    def conditioning(self, prompt: str | None, batch: int) -> Any:
        """UNet conditioning for ``batch`` items; classifier-free guidance only with a prompt."""
        ...

    def predict_noise(self, z_t: torch.Tensor, t: int, conditioning: Any) -> torch.Tensor:
        """eps_theta(z_t, t), computed without gradients."""
        ...

    def encode(self, waveform: torch.Tensor) -> torch.Tensor:
        """E: waveform ``(B, n)`` -> latents ``(B, *latent_shape(n))``, the VAE posterior's mean."""
        ...

    def decode(self, z0: torch.Tensor) -> torch.Tensor:
        """D: latents ``(B, C, frames, F)`` -> log-mel ``(B, 1, mel_frames, n_mels)``."""
        ...

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """V: log-mel ``(B, 1, mel_frames, n_mels)`` -> waveform ``(B, samples)`` float32."""
        ...

    def mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """The model's own mel front end: ``(B, n)`` -> ``(B, 1, ceil(n / hop), n_mels)``."""
        ...


@dataclass
class Conditioning:
    """UNet keyword inputs for one batch.

    With classifier-free guidance (``guidance_scale > 1``) every tensor holds ``2 * batch`` rows,
    the unconditional ones first, and the UNet runs once on the doubled batch.
    """

    inputs: dict[str, torch.Tensor | None] = field(default_factory=dict)
    batch: int = 1
    guidance_scale: float = 1.0

    @property
    def classifier_free(self) -> bool:
        return self.guidance_scale > 1.0


def expand_rows(embeddings: dict[str, torch.Tensor | None], rows: int) -> dict:
    """Repeat one-row embeddings to ``rows`` rows (``None`` values pass through)."""
    return {
        key: None if value is None else value.expand(rows, *value.shape[1:]).contiguous()
        for key, value in embeddings.items()
    }


def stack_guidance(
    unconditional: dict[str, torch.Tensor | None],
    conditional: dict[str, torch.Tensor | None],
    batch: int,
) -> dict:
    """[unconditional x batch; conditional x batch] for one doubled UNet call."""
    uncond, cond = expand_rows(unconditional, batch), expand_rows(conditional, batch)
    return {
        key: None if value is None else torch.cat([value, cond[key]])
        for key, value in uncond.items()
    }


def default_device() -> str:
    """Where a model runs when no device is named: CUDA when there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class LatentAudioAdapter:
    """The shared half of AudioLDM2 and MusicLDM: VAE, HiFi-GAN vocoder, UNet call and CFG.

    Subclasses provide ``_text_embeddings`` (the UNet's text inputs) and, if needed, ``_call_unet``.
    """

    default_guidance_scale = 3.5

    def __init__(
        self,
        name: str,
        *,
        unet: torch.nn.Module,
        vae: torch.nn.Module,
        vocoder: torch.nn.Module,
        scheduler_config: Mapping,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        self.name = name
        self.device = torch.device(device)
        self.dtype = dtype
        reproducible(self.device)
        # D and V carry the guidance gradient: see decoder_dtype
        self.decoder_dtype = decoder_dtype(dtype)
        self.unet = freeze(unet, self.device, dtype)
        self.vae, self.vocoder = (
            freeze(module, self.device, self.decoder_dtype) for module in (vae, vocoder)
        )
        self.scheduler_config = dict(scheduler_config)
        self.prediction_type = self.scheduler_config.get("prediction_type") or "epsilon"
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ModelError(f"{name}: unsupported prediction_type {self.prediction_type!r}")
        # abar_t over the training timesteps, to turn a v or x0 prediction into eps
        self.alphas_cumprod = DDIMSchedule.from_scheduler_config(
            self.scheduler_config, 1
        ).alphas_cumprod
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.scaling_factor = float(vae.config.scaling_factor)
        self.sample_rate = int(vocoder.config.sampling_rate)
        self.hop = math.prod(vocoder.config.upsample_rates)  # vocoder samples per mel frame
        self.n_mels = int(vocoder.config.model_in_dim)
        self.samples_per_frame = self.hop * self.vae_scale_factor  # per latent frame
        self.window_samples = int(unet.config.sample_size) * self.samples_per_frame
        self.front_end = MelFrontEnd(self.sample_rate, self.hop, self.n_mels)

    # -- shapes -------------------------------------------------------------------------------
    def latent_shape(self, n_samples: int) -> tuple[int, ...]:
        frames = math.ceil(n_samples / self.samples_per_frame)
        return (int(self.unet.config.in_channels), frames, self.n_mels // self.vae_scale_factor)

    def samples_for_latent(self, frames: int) -> int:
        return int(frames) * self.samples_per_frame

    # -- eps_theta ----------------------------------------------------------------------------
    def predict_noise(self, z_t: torch.Tensor, t: int, conditioning: Conditioning) -> torch.Tensor:
        with torch.no_grad():
            z = z_t.to(self.device, self.dtype)
            if conditioning.classifier_free:
                z = torch.cat([z, z])
            inputs = conditioning.inputs
            rows = z.shape[0]
            if any(v is not None and v.shape[0] != rows for v in inputs.values()):
                raise ValueError(
                    f"conditioning is for batch {conditioning.batch}, latents have {z_t.shape[0]}"
                )
            eps = self._call_unet(z, int(t), inputs)
            if conditioning.classifier_free:
                # eps = eps_uncond + w (eps_cond - eps_uncond)
                uncond, cond = eps.chunk(2)
                eps = uncond + conditioning.guidance_scale * (cond - uncond)
            return self._as_noise(eps.float(), z_t.float(), int(t)).to(z_t.dtype)

    def _as_noise(self, output: torch.Tensor, z_t: torch.Tensor, t: int) -> torch.Tensor:
        """The UNet's output as eps, whatever the scheduler says it predicts."""
        if self.prediction_type == "epsilon":
            return output
        abar = float(self.alphas_cumprod[t])
        a, s = math.sqrt(abar), math.sqrt(1.0 - abar)
        z_t = z_t.to(output.device)
        if self.prediction_type == "v_prediction":
            # v = a eps - s z0 and z_t = a z0 + s eps  =>  eps = a v + s z_t
            return a * output + s * z_t
        # x0 prediction: eps = (z_t - a z0) / s
        return (z_t - a * output) / s

    def _call_unet(self, z: torch.Tensor, t: int, inputs: dict) -> torch.Tensor:
        return self.unet(z, t, **inputs, return_dict=False)[0]

    # -- E, D, V and the mel front end ------------------------------------------------------------
    def encode(self, waveform: torch.Tensor) -> torch.Tensor:
        """E: the VAE posterior's mean of the log-mel of ``waveform`` ``(B, n)``, times
        ``scaling_factor`` (the space the prior was trained in). The waveform is zero-padded to
        whole latent frames, so the result has ``latent_shape(n)``."""
        n = waveform.shape[-1]
        frames = self.latent_shape(n)[1]
        padded = torch.nn.functional.pad(waveform, (0, self.samples_for_latent(frames) - n))
        with torch.no_grad():
            mel = self.mel(padded).to(self.decoder_dtype)  # (B, 1, frames * scale, n_mels)
            posterior = self.vae.encode(mel).latent_dist
            return (posterior.mode() * self.scaling_factor).float()

    def decode(self, z0: torch.Tensor) -> torch.Tensor:
        # the VAE was trained on latents multiplied by scaling_factor: undo it first
        latents = z0.to(self.device, self.decoder_dtype) / self.scaling_factor
        return self.vae.decode(latents).sample

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() == 4:
            mel = mel.squeeze(1)
        return self.vocoder(mel.to(self.decoder_dtype)).float()

    def mel(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.front_end(waveform.to(self.device))

    # -- conditioning -------------------------------------------------------------------------
    def conditioning(self, prompt: str | None, batch: int) -> Conditioning:
        """Empty prompt: one UNet row per item. A prompt: CFG against the empty prompt."""
        if not prompt:
            return Conditioning(expand_rows(self._cached_embeddings(("",)), batch), batch, 1.0)
        # both texts in one call, so that their token sequences are padded to one length
        pair = self._cached_embeddings(("", prompt))
        unconditional = {k: None if v is None else v[:1] for k, v in pair.items()}
        conditional = {k: None if v is None else v[1:] for k, v in pair.items()}
        return Conditioning(
            stack_guidance(unconditional, conditional, batch), batch, self.default_guidance_scale
        )

    def _cached_embeddings(self, texts: tuple[str, ...]) -> dict:
        cache = self.__dict__.setdefault("_embedding_cache", {})
        if texts not in cache:
            with torch.no_grad():
                embeddings = self._text_embeddings(list(texts))
            cache[texts] = {key: self._to_model(value) for key, value in embeddings.items()}
        return cache[texts]

    def _to_model(self, value: torch.Tensor | None) -> torch.Tensor | None:
        if value is None:
            return None
        return value.to(self.device, self.dtype if value.is_floating_point() else value.dtype)

    def _text_embeddings(self, texts: list[str]) -> dict[str, torch.Tensor | None]:
        """UNet inputs, one row per text ("" = unconditional)."""
        raise NotImplementedError


def freeze(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move to ``device``/``dtype``, evaluation mode, no parameter gradients.

    A module that already holds ``dtype`` parameters was loaded with ``from_pretrained(dtype)``
    and keeps the layers that loader left in fp32 on purpose (transformers'
    ``_keep_in_fp32_modules``, e.g. T5's feed-forward output ``wo``, which overflows in fp16);
    only a module that has none (built from a config in fp32) is cast.
    """
    module = module.to(device=device)
    floating = {p.dtype for p in module.parameters() if p.is_floating_point()}
    if floating and dtype not in floating:
        module = module.to(dtype=dtype)
    return module.eval().requires_grad_(False)


def decoder_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision of D and V, through which the guidance gradient runs: fp32 when the model
    runs in fp16, whose range (6.5e4) the gradient of the mel-dB loss overflows (it grows as
    1 / power in quiet bins, and sums over the vocoder's and decoder's layers); an overflowed
    gradient would silently leave the step unguided. bf16 has fp32's range and is kept."""
    return torch.float32 if dtype == torch.float16 else dtype


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA (the checkpoints' published precision), fp32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


def reproducible(device: torch.device) -> None:
    """Same seed, same output on CUDA too, as on the CPU (``details.seed`` promises it).

    The chain's noise is drawn on the CPU whatever the device (samplers.sample), but CUDA's
    fastest kernels for some passes (cuDNN's, and backward passes that add with atomics) sum in
    a varying order: two runs of one seed on an H200 differed (tests/models/test_solver.py's
    same-seed test failed there with PyTorch's defaults). This pins cuDNN to
    deterministic algorithms and turns on PyTorch's deterministic implementations, with the cuBLAS
    workspace its docs require. Process-wide, set once a model is placed on CUDA: a process holding
    a model on a GPU is a restoring worker, and every job in it wants the same. Measured on an H200
    (docs/results.md "On a GPU"): three tasks of 100 steps bit for bit the same run to run (without
    this: 151 dB apart), no slower. Two backward kernels have no deterministic version in PyTorch
    2.11 (reflection padding, under the STFT's centring; memory-efficient attention, in the VAE) and
    stay as they were (``warn_only``); their warnings, repeated at every step, are silenced.
    """
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    # filling every torch.empty with NaN (the default under deterministic mode) costs time and
    # guards nothing here: no kernel of ours reads memory it did not write
    torch.utils.deterministic.fill_uninitialized_memory = False
    for message in _NO_DETERMINISTIC_KERNEL:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


# what PyTorch says, at every backward pass, of the kernels that have no deterministic version
_NO_DETERMINISTIC_KERNEL = (
    r".* does not have a deterministic implementation",
    r"Memory Efficient attention defaults to a non-deterministic algorithm",
)
