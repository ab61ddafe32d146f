"""The lint (lint.lua, under Lua 5.4 from lupa) is clean on the scripts; the ReaPack index lists
every script and every library file."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
from reaper_helpers import HERE, LUA, SCRIPTS

pytestmark = pytest.mark.lua

ACTIONS = [
    "Restore dropout in time selection", "Dereverberate selected items",
    "Extend bandwidth of selected items", "Rebuild phase of selected items",
    "Separate selected items", "Find damage in selected items", "Repair marked damage",
    "Settings", "Import finished renders", "Cancel running jobs",
]  # fmt: skip


def lint(*args: str | Path) -> subprocess.CompletedProcess:
    """tests/reaper/lint.lua under the tests' Lua (lupa's unless $DIFFMUSIC_TEST_LUA says)."""
    command = [*LUA, str(HERE / "lint.lua"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_lint_is_clean_on_the_scripts() -> None:
    files = sorted(SCRIPTS.glob("*.lua")) + sorted(SCRIPTS.glob("lib/**/*.lua"))
    proc = lint("--api", HERE / "fake_reaper.lua", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith(f"0 problem(s) in {len(files)} file(s)\n")


def test_lint_is_clean_on_the_stand_in() -> None:
    files = sorted(HERE.glob("*.lua"))
    assert HERE / "fake_audio.lua" in files
    proc = lint("--allow", "arg", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_finds_each_kind_of_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.lua"
    bad.write_text(
        "local x = undeclared + 1\n"
        "reaper.NoSuchFunction()\n"
        "reaper.ShowConsoleMsg('known')\n"
        "gfx.x, gfx.bogus = 1, 2\n"
        "leaked = 5\n"
        "local function f() return string.format('%d', x) .. inner end\n"
        "return f -- " + "x" * 120 + "\n"
    )
    broken = tmp_path / "broken.lua"
    broken.write_text("local ok = 1\nlocal = 2\n")
    proc = lint("--api", HERE / "fake_reaper.lua", bad, broken)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{bad}:7: line is longer than 120 characters",
        f"{bad}:1: reads undeclared global 'undeclared'",
        f"{bad}:2: 'reaper.NoSuchFunction' is not ReaScript API known to the stand-in",
        f"{bad}:4: 'gfx.bogus' is not ReaScript API known to the stand-in",
        f"{bad}:5: assigns global 'leaked' (declare it local)",
        f"{bad}:6: reads undeclared global 'inner'",
        f"{broken}:2: syntax: <name> expected near '='",
        "7 problem(s) in 2 file(s)",
    ]


def test_one_file_per_action_with_reapack_metadata() -> None:
    found = sorted(p.name for p in SCRIPTS.glob("DiffMusic - *.lua"))
    assert found == sorted(f"DiffMusic - {name}.lua" for name in ACTIONS)
    for name in found:
        text = (SCRIPTS / name).read_text()
        assert f"-- @description {name.removesuffix('.lua')}\n" in text
        assert "-- @version " in text and "GPL-3.0-or-later" in text
        assert 'dofile(script_path:match("^(.*)[/\\\\]") .. "/lib/diffmusic.lua")' in text


def test_no_lua_file_over_400_lines() -> None:
    files = [*SCRIPTS.rglob("*.lua"), *HERE.glob("*.lua")]
    assert len(files) > 10
    longest = max(files, key=lambda p: len(p.read_text().splitlines()))
    assert len(longest.read_text().splitlines()) <= 400, longest


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
    library = {p.relative_to(SCRIPTS).as_posix() for p in SCRIPTS.glob("lib/**/*.lua")}
    assert "lib/diffmusic.lua" in library and "lib/diffmusic/json.lua" in library
    assert set(sources) == {f"DiffMusic - {a}.lua" for a in ACTIONS} | library
    for file, source in sources.items():
        assert (SCRIPTS / file).is_file()
        assert unquote(source.text.strip()).endswith("/reaper_scripts/" + file)
        # actions go to the Main section's action list; the library is only installed
        assert source.get("main") == (None if file.startswith("lib/") else "main")
