"""luacheck is clean on the scripts; the ReaPack index lists every script and the library."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
from reaper_helpers import SCRIPTS

pytestmark = pytest.mark.lua

ACTIONS = [
    "Restore dropout in time selection", "Dereverberate selected items",
    "Extend bandwidth of selected items", "Rebuild phase of selected items",
    "Separate selected items", "Settings", "Import finished renders", "Cancel running jobs",
]  # fmt: skip


def test_luacheck_is_clean() -> None:
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        pytest.skip("luacheck is not installed (apt-get install lua-check)")
    proc = subprocess.run(
        [luacheck, "--no-color", "--codes", "."], cwd=SCRIPTS, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 warnings / 0 errors in 9 files" in proc.stdout


def test_luacheck_is_clean_on_the_stand_in() -> None:
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        pytest.skip("luacheck is not installed (apt-get install lua-check)")
    here = Path(__file__).resolve().parent
    proc = subprocess.run(
        [luacheck, "--no-color", "--std", "lua54", "--max-line-length", "120",
         "fake_reaper.lua", "harness.lua"],
        cwd=here, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_file_per_action_with_reapack_metadata() -> None:
    found = sorted(p.name for p in SCRIPTS.glob("DiffMusic - *.lua"))
    assert found == sorted(f"DiffMusic - {name}.lua" for name in ACTIONS)
    for name in found:
        text = (SCRIPTS / name).read_text()
        assert f"-- @description {name.removesuffix('.lua')}\n" in text
        assert "-- @version " in text and "GPL-3.0-or-later" in text
        assert 'dofile(script_path:match("^(.*)[/\\\\]") .. "/lib/diffmusic.lua")' in text


def test_reapack_index_lists_every_file() -> None:
    root = ET.parse(SCRIPTS / "index.xml").getroot()
    assert root.tag == "index" and root.get("version") == "1"
    (package,) = root.iter("reapack")
    assert package.get("type") == "script"
    (version,) = package.iter("version")
    scripts_version = re.search(
        r"@version (\S+)", (SCRIPTS / "DiffMusic - Settings.lua").read_text()
    )
    assert version.get("name") == scripts_version.group(1)
    sources = {s.get("file"): s for s in version.iter("source")}
    assert set(sources) == {f"DiffMusic - {a}.lua" for a in ACTIONS} | {"lib/diffmusic.lua"}
    for file, source in sources.items():
        assert (SCRIPTS / file).is_file()
        assert unquote(source.text.strip()).endswith("/reaper_scripts/" + file)
        # actions go to the Main section's action list; the library is only installed
        assert source.get("main") == (None if file.startswith("lib/") else "main")
