"""load_model: tiny saved pipelines load back; missing models fail with a useful message."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from diffmusic_engine.errors import ModelError
from diffmusic_engine.models import ModelAdapter, load_model
from diffmusic_engine.models.audioldm2 import AudioLDM2Adapter
from diffmusic_engine.models.loading import hf_command
from diffmusic_engine.models.musicldm import MusicLDMAdapter


@pytest.mark.parametrize(
    ("kind", "cls"), [("audioldm2", AudioLDM2Adapter), ("musicldm", MusicLDMAdapter)]
)
def test_saved_tiny_pipeline_loads_back(tiny_folders, kind, cls):
    folder = tiny_folders[kind]
    adapter = load_model(str(folder), device="cpu")
    assert isinstance(adapter, cls) and isinstance(adapter, ModelAdapter)
    assert adapter.dtype == torch.float32 and adapter.device.type == "cpu"
    # shapes follow the saved configs: vocoder 16 kHz, hop 10*4*4 = 160, 16 mels; VAE 2 levels
    assert adapter.sample_rate == 16000
    assert adapter.latent_shape(16000) == (4, 50, 8)  # ceil(16000 / (160 * 2)) frames, 16 / 2
    assert adapter.samples_for_latent(50) == 16000
    assert adapter.window_samples == 128 * 2 * 160  # UNet sample_size x VAE factor x hop
    saved = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert adapter.scheduler_config["beta_end"] == saved["beta_end"]
    modules = [adapter.unet, adapter.vae, adapter.vocoder]
    for module in modules:
        assert not module.training
        assert not any(p.requires_grad for p in module.parameters())


def test_missing_folder_names_the_model(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="no-such-model"):
        load_model(str(missing))


@pytest.mark.parametrize("name", ["~nosuchuser-xyz/m", "x" * 5000, "a\0b"])
def test_a_name_no_folder_can_have_is_not_found_in_one_line(name):
    """A home folder that does not exist had been a RuntimeError's traceback, a name too long
    for the file system an OSError's."""
    with pytest.raises(ModelError, match="not found: no such folder, and not a hub id"):
        load_model(name)


def test_uncached_hub_id_offline_says_how_to_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError) as error:
        load_model("nobody-here/not-a-model")
    message = str(error.value)
    assert "nobody-here/not-a-model" in message
    assert "hf download nobody-here/not-a-model" in message
    assert "\n" not in message
    assert f"`{hf_command()} download nobody-here/not-a-model`" in message
    # copied with a trailing slash it is the same hub id (it had read as no folder, no hub id)
    with pytest.raises(ModelError, match="hf download nobody-here/not-a-model`"):
        load_model("nobody-here/not-a-model/")


def test_the_hf_command_named_is_one_that_runs(monkeypatch, tmp_path):
    """``hf`` by name where it is on PATH; else the one beside this Python (a user who ran
    ``.venv/bin/diffmusic`` has no ``hf`` on PATH); else ``hf``, the name to install."""
    on_path, venv = tmp_path / "path", tmp_path / "venv" / "bin"
    for folder in (on_path, venv):
        folder.mkdir(parents=True)
        (folder / "hf").write_text("#!/bin/sh\n")
        (folder / "hf").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.setenv("PATH", str(on_path))
    assert hf_command() == "hf"
    monkeypatch.setenv("PATH", str(tmp_path))  # no hf on PATH: the one beside this Python
    assert hf_command() == str(venv / "hf")
    (venv / "hf").unlink()
    assert hf_command() == "hf"


def test_folder_without_model_index(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ModelError, match="model_index.json"):
        load_model(str(tmp_path))


def test_half_precision_on_cpu_is_refused(tiny_folders):
    with pytest.raises(ModelError, match="float32"):
        load_model(str(tiny_folders["musicldm"]), device="cpu", dtype=torch.float16)


def test_cuda_asked_for_without_cuda_is_refused(tiny_folders, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="CUDA is not available"):
        load_model(str(tiny_folders["musicldm"]), device="cuda")


def test_another_pipeline_names_the_supported_ones(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableAudioPipeline"}))
    with pytest.raises(ModelError, match="'StableAudioPipeline'.*AudioLDM2Pipeline"):
        load_model(str(tmp_path))


def test_a_broken_component_is_one_line_naming_the_model(tiny_folders, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_folders["musicldm"], broken)
    (broken / "scheduler" / "scheduler_config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"broken: cannot read its scheduler \(") as error:
        load_model(str(broken))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("part", "damage"),
    [("vocoder", b"\xff" * 64), ("text_encoder", b"version https://git-lfs.github.com/spec/v1\n")],
)
def test_a_corrupt_weights_file_is_one_line_naming_the_part(tiny_folders, tmp_path, part, damage):
    """A damaged header or a git-lfs pointer where the vocoder's or the text encoder's weights
    should be (a download cut short): safetensors' own error had ended in a traceback."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_folders["musicldm"], broken)
    (weights,) = (broken / part).glob("*.safetensors")
    weights.write_bytes(damage)
    with pytest.raises(ModelError, match=rf"broken: cannot load its {part} \(") as error:
        load_model(str(broken))
    assert "\n" not in str(error.value) and "copy or save the folder again" in str(error.value)


def test_a_missing_part_is_named(tiny_folders, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_folders["musicldm"], broken)
    shutil.rmtree(broken / "vocoder")
    with pytest.raises(ModelError, match="broken: its part 'vocoder' is missing"):
        load_model(str(broken))


def test_a_folder_naming_the_other_pipeline_is_one_line(tiny_folders, tmp_path):
    """A MusicLDM folder whose model_index.json says AudioLDM2: a KeyError traceback had
    ended it (no text_encoder_2)."""
    mislabelled = tmp_path / "mislabelled"
    shutil.copytree(tiny_folders["musicldm"], mislabelled)
    index = json.loads((mislabelled / "model_index.json").read_text())
    index["_class_name"] = "AudioLDM2Pipeline"
    (mislabelled / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="its parts do not make the AudioLDM2Pipeline it names"):
        load_model(str(mislabelled))


def test_a_failed_part_is_said_in_its_one_line_alone(tiny_folders, tmp_path, cli_command):
    """A part without its weights file: diffusers had logged "An error occurred while trying to
    fetch ..." on stderr before the command's one error line."""
    import subprocess

    import numpy as np
    import soundfile as sf

    broken = tmp_path / "broken"
    shutil.copytree(tiny_folders["musicldm"], broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.unlink()
    take = tmp_path / "take.wav"
    sf.write(take, np.zeros((16000, 1), np.float32) + 0.1, 16000)
    argv = ["restore", str(take), "-o", str(tmp_path / "out.wav"), "--task", "inpaint", "--gap",
            "0.4:0.5", "--backend", "diffusion", "--model", str(broken), "--quiet"]  # fmt: skip
    done = subprocess.run([*cli_command, *argv], capture_output=True, text=True)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {broken}: cannot load its unet")


def test_a_folder_with_a_part_of_another_model_is_refused_at_load(tiny_folders, tmp_path):
    """A MusicLDM folder whose CLAP projects to 8 values where its UNet takes 16: it had
    loaded, stayed listed by ``models``, and failed every job with a shape error."""
    from diffmusic_engine.models.testing import tiny_clap

    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_folders["musicldm"], mixed)
    shutil.rmtree(mixed / "text_encoder")
    tiny_clap(projection_dim=8).save_pretrained(mixed / "text_encoder")
    with pytest.raises(ModelError, match=r"mixed: its parts do not work together \(") as error:
        load_model(str(mixed))
    assert "\n" not in str(error.value) and "copy or save the folder again" in str(error.value)


def test_a_device_that_runs_out_while_the_parts_are_tried_is_not_called_a_mixed_folder():
    """Out of GPU memory (a RuntimeError in torch) during the fit check had been said as "its
    parts do not work together ... download it again": a download would not help."""
    from types import SimpleNamespace

    from diffmusic_engine.models.loading import check_parts_fit

    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    adapter = SimpleNamespace(
        name="big", device="cuda:0", samples_for_latent=lambda frames: 160 * frames,
        unet=SimpleNamespace(config=SimpleNamespace(block_out_channels=(1, 2))),
        encode=out_of_memory,
    )  # fmt: skip
    with pytest.raises(ModelError) as error:
        check_parts_fit(adapter)
    assert str(error.value) == (
        "big: cuda:0 could not run its parts (CUDA out of memory): free it, or load the model "
        "on another device (--device)"
    )
