"""Pretrained latent audio diffusion models (AudioLDM2, MusicLDM) behind one adapter interface.

>>> adapter = load_model("cvssp/audioldm2-music")          # or a local diffusers folder
>>> adapter.latent_shape(80000)                             # (8, 125, 16) for 5 s at 16 kHz
"""

from diffmusic_engine.models.base import Conditioning, ModelAdapter
from diffmusic_engine.models.loading import KNOWN_MODELS, load_model

__all__ = ["KNOWN_MODELS", "Conditioning", "ModelAdapter", "load_model"]
