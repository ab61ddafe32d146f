"""Audio folders and chains for the batch tests (generated here; no shared audio)."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import CHAIN_TOML, FILES, write

from diffmusic_engine.synth import music_excerpt


@pytest.fixture(scope="session")
def music_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three music files of different rates, lengths, channel counts and sample formats."""
    folder = tmp_path_factory.mktemp("inputs")
    for seed, (name, (rate, channels, seconds, depth)) in enumerate(FILES.items()):
        write(folder / name, music_excerpt(seconds, rate, channels, seed=seed), rate, depth)
    return folder


@pytest.fixture(scope="session")
def chain_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chain") / "chain.toml"
    path.write_text(CHAIN_TOML)
    return path
