"""Tiny random-weight AudioLDM2 and MusicLDM pipelines, saved once per session and loaded back
through the real loader."""

from __future__ import annotations

import pytest

from diffmusic_engine.models import load_model
from diffmusic_engine.models.testing import TEST_DEVICE, save_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-pipelines")
    return {
        kind: save_tiny_pipeline(kind, root / kind, seed=0) for kind in ("audioldm2", "musicldm")
    }


@pytest.fixture(scope="session")
def audioldm2(tiny_folders):
    return load_model(str(tiny_folders["audioldm2"]), device=TEST_DEVICE)


@pytest.fixture(scope="session")
def musicldm(tiny_folders):
    return load_model(str(tiny_folders["musicldm"]), device=TEST_DEVICE)


@pytest.fixture(params=["audioldm2", "musicldm"])
def adapter(request):
    return request.getfixturevalue(request.param)
