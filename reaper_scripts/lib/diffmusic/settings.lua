-- DiffMusic for REAPER: the settings kept in REAPER's ExtState (section "DiffMusic") and their checks.
-- SPDX-License-Identifier: GPL-3.0-or-later

local M = {}
M.SECTION = "DiffMusic"

-- Defaults of every setting kept in ExtState (section "DiffMusic"); "" means "not given".
M.DEFAULTS = {
  cli = "diffmusic",        -- the diffmusic command (a full path if REAPER's PATH lacks it)
  connection_file = "",     -- daemon connection file ("" = the CLI's default)
  backend = "dsp",          -- dsp | diffusion
  model = "",               -- diffusion model id or folder
  preset = "",              -- preset name or file
  steps = "",               -- diffusion steps
  context = "30",           -- dropout: seconds sent on each side for the pattern search, or "item"
                            -- (the engine's SEARCH_CONTEXT_S, diffmusic_engine/dsp/pattern.py)
  sources = "2",            -- separation: number of sources
  job_folder = "",          -- where job folders go ("" = <project media folder>/DiffMusic)
}
-- The dropout context: the engine looks for material to fill a gap in everything it is sent,
-- so the more context, the better the fill (up to this many seconds on each side).
M.CONTEXT_MAX = 600
M.CONTEXT_MIN = 0.1 -- less leaves the engine too little around a dropout to fill it from
-- the engine's diffmusic_engine.damage.SOURCES_RANGE (a test holds them equal)
M.SOURCES_MIN, M.SOURCES_MAX = 2, 8

M.SETTING_ORDER = {
  "cli", "connection_file", "backend", "model", "preset", "steps", "context", "sources",
  "job_folder",
}

function M.get(key)
  local value = reaper.GetExtState(M.SECTION, key)
  if value == "" then return M.DEFAULTS[key] end
  return value
end

function M.read()
  local s = {}
  for _, key in ipairs(M.SETTING_ORDER) do s[key] = M.get(key) end
  return s
end

-- Whether `path` is a full path: POSIX, a drive letter or a UNC share.
local function full_path(path)
  return path:match("^/") or path:match("^%a:[/\\]") or path:match("^\\\\")
end

-- For a path under ~, what it reads as in full (the remedy to give); "" otherwise.
local function expanded(path)
  local home = os.getenv("HOME")
  local rest = path:match("^~([/\\].*)$")
  if not home or home == "" or not rest then return "" end
  return " (" .. home .. rest .. ")"
end

-- The settings that name a file or folder, in the order they are checked: what each is called,
-- whether a bare name (no folder, no ~) is something else (a command on REAPER's PATH, a shipped
-- preset's name), the endings that make a bare name a file all the same (a preset file: the
-- engine reads one from the working folder before the shipped presets) and what to give instead.
local PATH_SETTINGS = {
  { key = "job_folder", what = "job folder", otherwise = " (empty: the project's media folder)" },
  { key = "connection_file", what = "connection file",
    otherwise = " (empty: the default, the file diffmusic serve writes)" },
  { key = "cli", what = "diffmusic command", name_too = true,
    otherwise = ", or a command on REAPER's PATH" },
  { key = "preset", what = "preset", name_too = true, file_ends = { "%.toml$", "%.json$" },
    otherwise = ", or a shipped preset's name" },
}

-- Check settings; returns nil or a one-line problem.
function M.check(s)
  if s.cli == "" then return "the diffmusic command is empty" end
  if s.backend ~= "dsp" and s.backend ~= "diffusion" then
    return "backend '" .. s.backend .. "': expected dsp or diffusion"
  end
  if s.steps ~= "" and not s.steps:match("^%d+$") then
    return "steps '" .. s.steps .. "': expected a whole number"
  end
  local context = tonumber(s.context)
  if s.context ~= "item" and (not context or context < M.CONTEXT_MIN or context > M.CONTEXT_MAX) then
    return string.format("context '%s': expected seconds from %g to %d, or item", s.context,
      M.CONTEXT_MIN, M.CONTEXT_MAX)
  end
  local sources = s.sources:match("^%d+$") and tonumber(s.sources) -- "2.0": the CLI wants 2
  if not sources or sources < M.SOURCES_MIN or sources > M.SOURCES_MAX then
    return string.format("sources '%s': expected a whole number from %d to %d", s.sources,
      M.SOURCES_MIN, M.SOURCES_MAX)
  end
  -- a relative path (or ~, which no shell expands here) is read from REAPER's working folder:
  -- a job folder there loses its takes once the project opens from elsewhere; a connection file,
  -- a command or a preset file given so is looked for there, not where it is (a user trial: the
  -- connection file typed as this README's default, ~/.config/diffmusic/connection.json, saved,
  -- and every action then said "no connection file ...: is the daemon running?")
  for _, setting in ipairs(PATH_SETTINGS) do
    local value = s[setting.key]
    local a_path = not setting.name_too or value:find("[/\\]") or value:match("^~")
    for _, ending in ipairs(setting.file_ends or {}) do
      a_path = a_path or value:lower():match(ending)
    end
    if value ~= "" and a_path and not full_path(value) then
      return setting.what .. " '" .. value .. "': give a full path" .. expanded(value)
        .. setting.otherwise
    end
  end
  return nil
end

return M
