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

LIB = Path(__file__).parents[2] / "reaper_scripts/lib/diffmusic"
SYSTEM_LUA = LIB / "system.lua"
pytestmark = pytest.mark.lua
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


def system_for(os_name: str):
    from lupa import lua54

    lua = lua54.LuaRuntime()
    lua.execute(f"reaper = {{GetOS = function() return {os_name!r} end}}")
    return lua.execute(SYSTEM_LUA.read_text())


def batch_line(line: str) -> str:
    """A .cmd file's line as cmd hands it on: ``%%`` -> ``%`` (a lone ``%`` starts a variable)."""
    return line.replace("%%", "\0").replace("%", "").replace("\0", "%")


def windows_split(line: str) -> list[str]:
    """A command line split as the C runtime splits it."""
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
    system = system_for("Win64")
    line = " ".join(system.quote_for_script(arg) for arg in ARGS)
    assert windows_split(batch_line(line)) == ARGS
    # a command line run directly (ExecProcess: the Settings' ping) is not a batch file
    assert windows_split(" ".join(system.quote(arg) for arg in ARGS)) == ARGS


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
def test_posix_quoting_survives_the_shell() -> None:
    system = system_for("Linux-x86_64")
    for arg in ARGS:
        for quoted in (system.quote(arg), system.quote_for_script(arg)):
            out = subprocess.run(["/bin/sh", "-c", "printf %s " + quoted], capture_output=True)
            assert out.stdout.decode() == arg


def test_windows_starts_the_job_script_through_cmd_in_any_folder(tmp_path) -> None:
    """``cmd /C`` keeps a line's quotes only when it has exactly two and nothing special (such
    as the parentheses of "Program Files (x86)") between them; otherwise it strips the first
    and the last quote and runs the rest."""
    from lupa import lua54

    lua = lua54.LuaRuntime()
    lua.execute(
        "started = {}; reaper = {GetOS = function() return 'Win64' end, "
        "ExecProcess = function(command) started[#started + 1] = command end}"
    )
    start = lua.execute(
        "local system_lua, runner_lua = ...; local modules = {json = {}}; "
        "modules.system = load(system_lua)(); "
        "return load(runner_lua)(function(name) return modules[name] end).start_script",
        SYSTEM_LUA.read_text(), (LIB / "runner.lua").read_text(),
    )  # fmt: skip
    folder = "C:\\Program Files (x86)\\DiffMusic jobs\\job 1"
    start(folder, "submit")
    command = lua.eval("started[1]")
    assert command.startswith("cmd.exe /C ")
    line = command[len("cmd.exe /C ") :]
    assert line.count('"') > 2
    line = line[: line.index('"')] + line[line.index('"') + 1 :]  # the first quote
    line = line[: line.rindex('"')] + line[line.rindex('"') + 1 :]  # and the last
    assert windows_split(line) == [folder + "\\submit.cmd"]


def test_windows_a_probe_left_over_does_not_keep_a_gone_client_alive(tmp_path) -> None:
    """A client's life on Windows is whether its open submit.log can be renamed; a rename
    fails onto a file that exists (MoveFile), as onto the submit.log.probe of a probe cut
    short: it is removed first."""
    from lupa import lua54

    lua = lua54.LuaRuntime()
    lua.execute(
        "reaper = {GetOS = function() return 'Win64' end, file_exists = function(path) "
        "local f = io.open(path, 'rb'); if f then f:close() end; return f ~= nil end}; "
        "local rename = os.rename; os.rename = function(from, to) "
        "if reaper.file_exists(to) then return nil, to .. ': exists' end; "
        "return rename(from, to) end"
    )
    alive, join = lua.execute(
        "local system_lua, runner_lua = ...; local modules = {json = {}}; "
        "modules.system = load(system_lua)(); "
        "local runner = load(runner_lua)(function(name) return modules[name] end); "
        "return runner.client_alive, modules.system.join",
        SYSTEM_LUA.read_text(), (LIB / "runner.lua").read_text(),
    )  # fmt: skip
    log = Path(join(str(tmp_path), "submit.log"))
    log.write_text("")
    Path(str(log) + ".probe").write_text("")
    job = lua.table_from({"dir": str(tmp_path), "id": "reaper-1"})
    assert alive(job) is False
    assert log.exists()
