-- luacheck configuration for the DiffMusic ReaScripts (REAPER runs Lua 5.4).
std = "lua54"
max_line_length = 120
-- REAPER's API table is read-only; gfx has fields the scripts set (gfx.x, gfx.y).
read_globals = { "reaper" }
globals = { "gfx" }
