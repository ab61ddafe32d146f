"""The job script's argument quoting (system.lua ``quote``), read back by the rules that split it.

Windows has no shell here, so its side is checked against the documented rules: a batch file
turns ``%%`` into ``%``, then the C runtime splits the command line (Microsoft's "Parsing C
command-line arguments": 2n backslashes and a quote are n backslashes and a delimiter, 2n + 1
and a quote are n backslashes and a literal quote, other backslashes are literal). POSIX is
checked with the real ``/bin/sh``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SYSTEM_LUA = Path(__file__).parents[2] / "reaper_scripts/lib/diffmusic/system.lua"
ARGS = [
    "C:\\Users\\me\\Mix 100%\\take.wav",
    "C:\\out dir\\",  # a trailing backslash would escape the closing quote
    'say "hi"',
    'a\\"b',
    "%PATH% and %%",
    "it's",
    "plain",
    "",
]


def quote_with(os_name: str):
    from lupa import lua54

    lua = lua54.LuaRuntime()
    lua.execute(f"reaper = {{GetOS = function() return {os_name!r} end}}")
    return lua.execute(SYSTEM_LUA.read_text()).quote


def windows_split(line: str) -> list[str]:
    """A batch file's line (``%%`` -> ``%``) split as the C runtime splits a command line."""
    line = line.replace("%%", "\0").replace("%", "").replace("\0", "%")
    args, current, quoted, started, i = [], [], False, False, 0
    while i < len(line):
        if line[i] == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            i += n
            if i < len(line) and line[i] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += 1
            else:
                current.append("\\" * n)
            started = True
        elif line[i] == '"':
            quoted, started, i = not quoted, True, i + 1
        elif line[i] == " " and not quoted:
            if started:
                args.append("".join(current))
            current, started, i = [], False, i + 1
        else:
            current.append(line[i])
            started, i = True, i + 1
    if started:
        args.append("".join(current))
    return args


def test_windows_quoting_survives_the_batch_file_and_the_c_runtime() -> None:
    quote = quote_with("Win64")
    line = " ".join(quote(arg) for arg in ARGS)
    assert windows_split(line) == ARGS


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
def test_posix_quoting_survives_the_shell() -> None:
    quote = quote_with("Linux-x86_64")
    for arg in ARGS:
        out = subprocess.run(["/bin/sh", "-c", "printf %s " + quote(arg)], capture_output=True)
        assert out.stdout.decode() == arg
