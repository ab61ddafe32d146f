"""``python run_lua.py SCRIPT [ARGS...]``: ``lua5.4 SCRIPT [ARGS...]`` on a machine with no Lua.

The REAPER tests run the ReaScripts under Lua 5.4. The ``lupa`` wheel (the ``test`` extra)
carries the reference Lua 5.4 interpreter, so this needs nothing from the system: it opens the
standard libraries, sets ``arg`` as the ``lua`` command does, removes lupa's ``python`` bridge
(scripts see plain Lua, as in REAPER) and runs the script; an error prints its traceback and
exits 1. lupa's Lua is built without POSIX extras: ``io.popen`` is missing (the stand-in runs
commands through ``os.execute``) and ``os.execute`` returns the raw wait status.
"""

from __future__ import annotations

import sys

RUN = """
local script = ...
local ok, problem = xpcall(dofile, debug.traceback, script)
if not ok then
  io.stderr:write(tostring(problem), "\\n")
  io.stderr:flush()
  os.exit(1)
end
"""


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: run_lua.py SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    try:
        from lupa import lua54
    except ImportError:
        print("lupa is not installed: pip install lupa (it is in the test extra)", file=sys.stderr)
        return 2
    runtime = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    runtime.globals().python = None
    set_arg = runtime.eval(
        "function(...) local a = table.pack(...); arg = {[0] = a[1]}; "
        "for i = 2, a.n do arg[i - 1] = a[i] end end"
    )
    set_arg(*argv)
    runtime.execute(RUN, argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
