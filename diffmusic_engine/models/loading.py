"""``load_model``: a hub id or a local diffusers folder -> a ready :class:`ModelAdapter`.

Components are loaded one by one with the classes named in ``model_index.json`` (not through
the pipelines: ``MusicLDMPipeline`` is deprecated and both pipelines' text paths break on
transformers 5). Hub ids resolve to the local Hugging Face cache first; the network is tried
only when it is allowed (``HF_HUB_OFFLINE`` unset), and a model that cannot be had raises a
:class:`ModelError` that names it and says how to download it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from diffmusic_engine.diffusion.options import local_folder
from diffmusic_engine.errors import ModelError, first_line
from diffmusic_engine.models.base import (
    LatentAudioAdapter,
    ModelAdapter,
    decoder_dtype,
    default_device,
    default_dtype,
)

KNOWN_MODELS = ("cvssp/audioldm2-music", "cvssp/audioldm2", "ucsd-reach/musicldm")
PIPELINE_KINDS = {"AudioLDM2Pipeline": "audioldm2", "MusicLDMPipeline": "musicldm"}


def load_model(
    id_or_path: str, *, device: str | None = None, dtype: torch.dtype | None = None
) -> ModelAdapter:
    """The adapter for a diffusers AudioLDM2 or MusicLDM folder or hub id.

    ``device`` defaults to CUDA when available; ``dtype`` to fp16 on CUDA and fp32 on CPU
    (pass ``torch.bfloat16`` on CUDA if preferred; fp16/bf16 on CPU is refused as too slow).
    """
    target, dtype = _device_and_dtype(id_or_path, device, dtype)
    root = resolve_model_path(id_or_path)
    index = read_model_index(root, id_or_path)
    kind = PIPELINE_KINDS.get(index.get("_class_name", ""))
    if kind is None:
        raise ModelError(
            f"{id_or_path}: unsupported pipeline {index.get('_class_name')!r} "
            f"(supported: {', '.join(PIPELINE_KINDS)})"
        )
    components, scheduler_config = _load_components(root, index, dtype, id_or_path)
    common = {"scheduler_config": scheduler_config, "device": target, "dtype": dtype}
    return check_parts_fit(_adapter(id_or_path, kind, index, components, common))


def _adapter(
    id_or_path: str, kind: str, index: dict, components: dict[str, Any], common: dict[str, Any]
) -> LatentAudioAdapter:
    """The adapter of ``kind`` built from the loaded ``components``."""
    try:  # a folder whose model_index.json names the other pipeline's parts
        if kind == "audioldm2":
            return _audioldm2(str(id_or_path), components, common)
        from diffmusic_engine.models.musicldm import MusicLDMAdapter

        return MusicLDMAdapter(
            str(id_or_path),
            unet=components["unet"],
            vae=components["vae"],
            vocoder=components["vocoder"],
            tokenizer=components["tokenizer"],
            text_encoder=components["text_encoder"],
            **common,
        )
    except KeyError as error:  # a part the pipeline needs, not in the folder
        raise ModelError(
            f"{id_or_path}: its parts do not make the {index['_class_name']} it names "
            f"(no {error}): {_refetch(id_or_path)}"
        ) from error


def check_parts_fit(adapter: LatentAudioAdapter) -> LatentAudioAdapter:
    """``adapter``, once its parts have worked together on the shortest input they take (the
    text encoders, E, eps_theta, D and V, on silence): a folder with a part of another model
    had loaded, stayed listed, and failed every job with a shape error."""
    unet_levels = len(adapter.unet.config.block_out_channels)
    frames = 2 ** (unet_levels - 1)  # the fewest latent frames the UNet's halvings take
    silence = torch.zeros(1, adapter.samples_for_latent(frames))
    try:
        z0 = adapter.encode(silence)
        adapter.predict_noise(z0, 0, adapter.conditioning("music", 1))
        with torch.no_grad():
            adapter.vocode(adapter.decode(z0))
    except (RuntimeError, ValueError, IndexError) as error:
        if isinstance(error, NotImplementedError | torch.cuda.OutOfMemoryError):
            # the device's limits, not the folder's parts: a download would not help
            raise ModelError(f"{adapter.name}: {adapter.device} could not run its parts "
                             f"({first_line(error)}): free it, or load the model on another "
                             "device (--device)") from error  # fmt: skip
        raise ModelError(
            f"{adapter.name}: its parts do not work together ({first_line(error)}): a part "
            f"comes from another model; {_refetch(adapter.name)}"
        ) from error
    return adapter


def _device_and_dtype(
    id_or_path: str, device: str | None, dtype: torch.dtype | None
) -> tuple[torch.device, torch.dtype]:
    """The device asked for (CUDA when there is one) and its dtype, or a :class:`ModelError`."""
    target = torch.device(device or default_device())
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"{id_or_path}: device {device!r} requested but CUDA is not available: "
            "give --device cpu"
        )
    if target.type == "cuda" and (target.index or 0) >= torch.cuda.device_count():
        raise ModelError(
            f"{id_or_path}: device {device!r} requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    if target.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"{id_or_path}: device {device!r} requested but MPS is not available")
    dtype = dtype or default_dtype(target)
    if target.type == "cpu" and dtype != torch.float32:
        raise ModelError(f"{id_or_path}: {dtype} on CPU is not supported, use float32")
    return target, dtype


def _load_components(
    root: Path, index: dict[str, Any], dtype: torch.dtype, id_or_path: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every component ``model_index.json`` names (but the feature extractor and the scheduler,
    which the adapters build themselves) and the scheduler's config; any failure is one
    :class:`ModelError` line naming the part (a corrupt or half-downloaded weights file raises
    safetensors' own error, which had ended in a traceback)."""
    from safetensors import SafetensorError

    _quiet_libraries()
    components = {}
    for name, spec in index.items():
        if name.startswith("_") or name in ("feature_extractor", "scheduler"):
            continue
        if not isinstance(spec, list) or spec[0] is None:
            continue
        if not (root / name).is_dir():
            raise ModelError(f"{id_or_path}: its part {name!r} is missing ({root / name}): "
                             f"{_refetch(id_or_path)}")  # fmt: skip
        try:
            with _library_logs_off():
                components[name] = load_component(root, name, spec, dtype)
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, AttributeError, RuntimeError,
                SafetensorError) as error:  # fmt: skip
            raise ModelError(f"{id_or_path}: cannot load its {name} ({first_line(error)}): "
                             f"{_refetch(id_or_path)}") from error  # fmt: skip
    try:
        scheduler_config = json.loads((root / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError) as error:
        raise ModelError(
            f"{id_or_path}: cannot read its scheduler ({first_line(error)})"
        ) from error
    return components, scheduler_config


def _refetch(id_or_path: str) -> str:
    """What to do about a model with a part missing or broken (a download cut short)."""
    if local_folder(id_or_path) is not None:
        return "copy or save the folder again"
    return f"download it again: {hf_command()} download {id_or_path} --force-download"


def _audioldm2(name: str, components: dict[str, Any], common: dict[str, Any]) -> LatentAudioAdapter:
    """The AudioLDM2 adapter (its text stack: CLAP, T5, the projection and GPT-2)."""
    from diffmusic_engine.models.audioldm2 import AudioLDM2Adapter, TextStack

    if type(components["text_encoder_2"]).__name__ == "VitsModel":
        raise ModelError(f"{name}: AudioLDM2 text-to-speech checkpoints are not supported")
    text_parts = ("tokenizer", "text_encoder", "tokenizer_2", "text_encoder_2",
                  "projection_model", "language_model")  # fmt: skip
    return AudioLDM2Adapter(
        name,
        unet=components["unet"],
        vae=components["vae"],
        vocoder=components["vocoder"],
        text=TextStack(**{key: components[key] for key in text_parts}),
        **common,
    )


def resolve_model_path(id_or_path: str) -> Path:
    """A local folder as is; a hub id from the cache, else downloaded if the hub is allowed."""
    if not str(id_or_path).strip():  # Path("") is the current folder
        raise ModelError("no model given: pass --model with a hub id or a local folder")
    folder = local_folder(id_or_path)
    if folder is not None:
        return folder
    path = Path(id_or_path)  # "~user/..." is no hub id (startswith below); not expanded here
    id_or_path = str(id_or_path).rstrip("/")  # a hub id copied with its URL's slash
    how = (
        f"download it with `{hf_command()} download {id_or_path}`, or check the path if it is a "
        "folder (there is none of that name here)"
    )
    if path.is_absolute() or id_or_path.startswith((".", "~")) or id_or_path.count("/") != 1:
        raise ModelError(f"model {id_or_path!r} not found: no such folder, and not a hub id")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(id_or_path), local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure here means "not in the cache"
        pass
    if hub_offline():
        raise ModelError(f"model {id_or_path!r} is not in the local cache (offline): {how}")
    try:
        return Path(snapshot_download(str(id_or_path)))
    except Exception as error:  # noqa: BLE001 - network, auth, missing repo: all one message
        reason = first_line(error)
        raise ModelError(
            f"model {id_or_path!r} could not be downloaded ({reason}): {how}"
        ) from error


def hf_command() -> str:
    """How to run huggingface-hub's ``hf``: by name where it is on PATH, else beside this Python
    (a user who ran ``.venv/bin/diffmusic`` has no ``hf`` on PATH)."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "hf"
    return "hf" if shutil.which("hf") or not beside.exists() else str(beside)


def hub_offline() -> bool:
    """Whether the hub must not be contacted (``HF_HUB_OFFLINE`` now or at import)."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return flag in ("1", "ON", "YES", "TRUE") or bool(constants.HF_HUB_OFFLINE)


def read_model_index(root: Path, id_or_path: str) -> dict:
    index_file = root / "model_index.json"
    if not index_file.is_file():
        raise ModelError(f"{id_or_path}: not a diffusers pipeline folder (no model_index.json)")
    try:
        return json.loads(index_file.read_text())
    except ValueError as error:
        raise ModelError(f"{id_or_path}: unreadable model_index.json ({error})") from error


def _quiet_libraries() -> None:
    """No transformers or diffusers progress bars ("Loading weights"): they ignored --quiet, and
    the job's own progress is what the user follows."""
    import diffusers
    import transformers

    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.disable_progress_bar()


@contextmanager
def _library_logs_off() -> Iterator[None]:
    """No transformers or diffusers log lines while a part loads: a failed load's came before
    its one error line, which says it all ("An error occurred while trying to fetch ...")."""
    import diffusers
    import transformers

    libraries = (diffusers.utils.logging, transformers.utils.logging)
    before = [library.get_verbosity() for library in libraries]
    for library in libraries:
        library.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        for library, level in zip(libraries, before, strict=True):
            library.set_verbosity(level)


def load_component(root: Path, name: str, spec: list, dtype: torch.dtype) -> object:
    """One component by the (library, class) that ``model_index.json`` names for it."""
    library, class_name = spec
    import diffusers
    import transformers

    # diffusers records its pipeline-specific models under the pipeline's name ("audioldm2")
    module = transformers if library == "transformers" else diffusers
    cls = getattr(module, class_name, None)
    if cls is None and library == "transformers" and class_name.endswith("Fast"):
        cls = getattr(module, class_name[: -len("Fast")], None)  # transformers 5 merged them
    if cls is None:
        raise ModelError(f"{root}: unknown class {library}.{class_name} for {name}")
    folder = root / name
    if "Tokenizer" in class_name:
        return cls.from_pretrained(folder)
    if name in ("vae", "vocoder"):
        dtype = decoder_dtype(dtype)  # the guidance gradient runs through D and V
    if library == "transformers":
        return cls.from_pretrained(folder, dtype=dtype)  # transformers 5 name of torch_dtype
    return cls.from_pretrained(folder, torch_dtype=dtype)
