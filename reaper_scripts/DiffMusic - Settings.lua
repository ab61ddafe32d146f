-- @description DiffMusic - Settings
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Sets how the DiffMusic actions reach the daemon (command, connection file) and what they
--   ask for (backend, model, preset, steps, dropout context, number of sources, job folder).
--   Kept in REAPER's ExtState (section "DiffMusic"); checks the daemon with `diffmusic ping`.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local CAPTIONS = {
  "diffmusic command", "Connection file (empty: default)", "Backend (dsp/diffusion)",
  "Model (diffusion)", "Preset (empty: none)", "Steps (empty: default)",
  "Dropout context (s or item)", "Sources (separation)", "Job folder (empty: project)",
}

local current = dm.settings()
local values = {}
for i, key in ipairs(dm.SETTING_ORDER) do values[i] = current[key] end

local ok, answer = reaper.GetUserInputs("DiffMusic - Settings", #CAPTIONS,
  table.concat(CAPTIONS, ",") .. ",extrawidth=260", table.concat(values, ","))
if not ok then return end

-- GetUserInputs joins the fields with commas (so no field can hold one).
local fields = {}
for field in (answer .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field:match("^%s*(.-)%s*$") end
if #fields ~= #CAPTIONS then
  dm.message("Settings not saved: a field contains a comma.")
  return
end
local new = {}
for i, key in ipairs(dm.SETTING_ORDER) do
  new[key] = fields[i]
end
for _, key in ipairs({ "cli", "backend", "context", "sources" }) do
  if new[key] == "" then new[key] = dm.DEFAULTS[key] end
end
local problem = dm.check_settings(new)
if problem then
  dm.message("Settings not saved: " .. problem .. ".")
  return
end
for _, key in ipairs(dm.SETTING_ORDER) do reaper.SetExtState(dm.SECTION, key, new[key], true) end

-- Check the daemon now (a short wait, only in this dialog): `diffmusic ping`, its tries (3) of
-- PING_TIMEOUT s well within ExecProcess's wait (a stale connection file had taken 30 s).
local PING_TIMEOUT = 3
local code, output = dm.run_client(new, "ping", "--timeout", tostring(PING_TIMEOUT))
if code == 0 then
  dm.message("Settings saved. The daemon answers.")
else
  dm.message("Settings saved, but the daemon did not answer:\n" .. dm.last_line(output)
    .. "\n\nStart it with: diffmusic serve")
end
