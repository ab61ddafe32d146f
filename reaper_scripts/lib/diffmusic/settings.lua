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
  context = "2",            -- seconds of audio sent on each side of a dropout
  sources = "2",            -- separation: number of sources
  job_folder = "",          -- where job folders go ("" = <project media folder>/DiffMusic)
}
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
  if not context or context < 0 or context > 30 then
    return "context '" .. s.context .. "': expected seconds between 0 and 30"
  end
  local sources = tonumber(s.sources)
  if not sources or sources % 1 ~= 0 or sources < 2 or sources > 8 then
    return "sources '" .. s.sources .. "': expected a whole number from 2 to 8"
  end
  return nil
end

return M
