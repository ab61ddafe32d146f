"""What a regular (non-editable) install gets: the wheel built from this tree, installed into a
folder and imported from there, finds every preset (they live at the source's top level) and
the late-reverberation mask's weights (package data)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "bridge", "diffmusic_engine", "presets"]
PIP = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
PROBE = """
import json
from diffmusic_engine.preset_files import PRESETS_DIR, load_preset
names = sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))
for name in names:
    load_preset(name)
chains = sorted(p.name for p in PRESETS_DIR.glob("chains/*"))
from diffmusic_engine.dsp.late_mask import MODEL_FILE, shipped_net
print(json.dumps([str(PRESETS_DIR), names, chains, str(MODEL_FILE), len(shipped_net().weights)]))
"""


def test_every_package_of_the_tree_is_listed() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {  # every folder holding files (data folders too: unlisted, a wheel may drop them)
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("bridge", "diffmusic_engine")
        for p in (ROOT / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    presets = {"diffmusic_engine.presets", "diffmusic_engine.presets.chains"}
    assert set(setuptools["packages"]) == found | presets


@pytest.mark.slow
def test_a_wheel_install_finds_every_preset(tmp_path) -> None:
    source, wheels, site = tmp_path / "source", tmp_path / "wheel", tmp_path / "site"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(PIP + build, check=True, capture_output=True)
    wheel = next(wheels.glob("*.whl"))
    install = ["install", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(PIP + install, check=True, capture_output=True)
    shutil.rmtree(source)  # nothing may come from the tree the wheel was built from
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = [sys.executable, "-c", PROBE]
    out = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    where, names, chains, weights, arrays = json.loads(out.stdout)
    assert Path(where).is_relative_to(site) and Path(weights).is_relative_to(site)
    assert arrays == 2 * (2 + 2 * 6)  # weight and bias: input, 6 dilated + 6 mixes, output
    assert names == sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
    assert chains == sorted(p.name for p in (ROOT / "presets/chains").iterdir())
