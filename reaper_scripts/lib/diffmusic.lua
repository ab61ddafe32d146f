-- DiffMusic Bridge for REAPER: the library every DiffMusic action loads (a thin facade).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- The round trip of one action:
--   1. collect: check the selection (audio takes, a time selection inside the item, ...) before
--      touching anything, and show one clear message if something is wrong (diffmusic/items.lua);
--   2. export: read each take through an audio accessor (item position, take start offset and
--      playrate honoured, all channels, at the source's sample rate) and write it as a 32-bit
--      float WAV into a job folder, a block per defer cycle (diffmusic/jobs.lua, wav.lua);
--   3. run: start `diffmusic submit ... --wait --status-file ...` in the background (REAPER's Lua
--      has no sockets; the CLI client is the transport) and poll its status file with
--      reaper.defer, showing progress in a small window; Esc or the button cancels
--      (diffmusic/runner.lua, ui.lua);
--   4. place: when every job has ended, add the renders as new takes on the same items (or new
--      tracks, one per separated source) inside one undo block, and build their peaks
--      (diffmusic/placement.lua).
-- Jobs are also kept in a registry (ExtState + a job.json per job folder) so that
-- "DiffMusic - Import finished renders" can place renders that finished while no script waited.
-- The `diffmusic submit` command line and its status file are documented in docs/protocol.md.
--
-- Each module in lib/diffmusic/ is one concept and returns a table; `use(name)` loads it once,
-- in the caller's environment (REAPER gives each script its own Lua state). This file gathers
-- the names the actions use into one table.

local folder = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") .. "/diffmusic/"
local loaded = {}
local function use(name)
  if not loaded[name] then
    loaded[name] = assert(loadfile(folder .. name .. ".lua", "t", _ENV))(use)
  end
  return loaded[name]
end

local system, settings, json = use("system"), use("settings"), use("json")
local wav, selection, job_store = use("wav"), use("items"), use("jobs")
local runner, placement, ui = use("runner"), use("placement"), use("ui")
local diagnosis, repairs = use("diagnosis"), use("repairs")

local M = {
  use = use,
  SECTION = settings.SECTION, TITLE = system.TITLE,
  DEFAULTS = settings.DEFAULTS, SETTING_ORDER = settings.SETTING_ORDER,
  get_setting = settings.get, settings = settings.read, check_settings = settings.check,
  message = system.message, log = system.log, read_file = system.read_file,
  write_file = system.write_file, join = system.join, is_windows = system.is_windows,
  quote = system.quote,
  null = json.null, json_decode = json.decode, json_encode = json.encode,
  wav_header = wav.header, wav_info = wav.info, exporter = wav.exporter, splice_wav = wav.splice,
  describe_item = selection.describe, selected_items = selection.selected,
  is_impulse_response = selection.is_impulse_response, diagnosis = diagnosis,
  frames_of = selection.frames_of, window = selection.window,
  span_arguments = selection.span_arguments,
  pending_jobs = job_store.pending_jobs, unregister_job = job_store.unregister_job,
  spent = job_store.spent,
  new_job = job_store.new_job,
  poll_job = runner.poll_job, cancel_job = runner.cancel_job, FINAL = runner.FINAL,
  client_command = runner.client_command, last_line = system.last_line,
  place_jobs = placement.place_jobs, for_project = placement.for_project,
  separate_repairs = repairs.separate_repairs, hold_with = repairs.hold_with,
  ask_daemon = runner.ask_daemon,
  daemon_answer = runner.daemon_answer, settle = runner.settle, run_client = runner.run_client,
  watched = job_store.watched, process_of = runner.process_of,
  watch = ui.watch,
}


-- The common body of every action: check settings and items, build the jobs (spec_for(info)
-- gives a job spec, a list of specs, or nil and a problem), start them, and watch them.
function M.run_action(title, undo_name, spec_for, nothing_message)
  local s = settings.read()
  local problem = settings.check(s)
  if problem then
    system.message("Settings: " .. problem .. ".\nFix it in 'DiffMusic - Settings'.")
    return
  end
  local items
  items, problem = selection.selected()
  if not items then
    system.message(problem)
    return
  end
  local specs = {}
  for _, info in ipairs(items) do
    local spec, why = spec_for(info, s)
    for _, one in ipairs(spec and (spec[1] and spec or { spec }) or {}) do
      specs[#specs + 1] = { info = info, spec = one }
    end
    if not spec and why then
      system.message(why)
      return
    end
  end
  if #specs == 0 then
    system.message(nothing_message or "Nothing to do for the selected items.")
    return
  end
  local jobs, readings = {}, {}
  for _, entry in ipairs(specs) do
    local ok, job, reading = pcall(job_store.new_job, entry.info, entry.spec, s)
    if not ok then
      system.message("Could not create a job folder for '" .. entry.info.label .. "': " .. tostring(job))
      return
    end
    job.state, job.fraction = "reading", 0
    jobs[#jobs + 1], readings[job.id] = job, reading
  end
  repairs.link(jobs)
  ui.watch(jobs, s, title, undo_name, readings)
end

-- A whole-item task (dereverb, bandwidth, phase, separation): the spec for one item.
function M.whole_item(task, flags, label, kind)
  return function(info)
    return { task = task, flags = flags, label = label, kind = kind or "take", first = 0, frames = info.frames }
  end
end

return M
