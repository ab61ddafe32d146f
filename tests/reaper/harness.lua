-- Runs ReaScripts under Lua 5.4 (run_lua.py: lupa's, or lua5.4) against the ReaScript stand-in,
-- the way REAPER would.
--
--   python run_lua.py harness.lua SCENARIO.lua OUT.json   (or: lua5.4 harness.lua ...)
--
-- SCENARIO.lua returns a table: the project (tracks, items, takes, time_selection, extstate),
-- `runs` ({script = path, cycle = n}: start that script at that defer cycle, like a user
-- pressing its action), `sleep` (seconds between defer cycles) and `max_seconds`. Each script
-- gets its own global environment (REAPER gives each its own Lua state); deferred functions are
-- called once per cycle until none remain. A script started while it runs meets REAPER's
-- "already running" dialog (recorded as running_dialogs) unless it called set_action_options;
-- `absent_api` names ReaScript functions the REAPER played lacks (an older version). The
-- resulting project and everything the scripts showed are written to OUT.json for the Python
-- tests to check.

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local fake = dofile(here .. "/fake_reaper.lua")
-- the report is written with the library's own JSON encoder
local json = dofile(here .. "/../../reaper_scripts/lib/diffmusic/json.lua")
local scenario = dofile(arg[1])
local out_path = arg[2]

local reaper, gfx, state = fake.new(scenario)
state.errors = {}

local function run_protected(script, fn)
  state.current_script = script
  local ok, message = xpcall(fn, debug.traceback)
  if not ok then
    table.insert(state.errors, { script = script, error = message })
  end
  state.current_script = nil
end

local function start_script(path)
  -- strict: reading an undeclared global or assigning any global is an error (the lint checks
  -- the same statically; this catches what a script builds at run time)
  local env = setmetatable({ reaper = reaper, gfx = gfx }, {
    __index = function(_, key)
      local value = _G[key]
      if value == nil then error("read of undeclared global '" .. tostring(key) .. "'", 2) end
      return value
    end,
    __newindex = function(_, key)
      error("assignment to global '" .. tostring(key) .. "' (declare it local)", 2)
    end,
  })
  -- files a script loads share its environment, as they share its Lua state in REAPER
  rawset(env, "dofile", function(file)
    local loaded = assert(loadfile(file, "t", env))
    return loaded()
  end)
  local chunk, message = loadfile(path, "t", env)
  if not chunk then
    table.insert(state.errors, { script = path, error = message })
    return
  end
  run_protected(path, chunk)
end

-- The atexit functions of the scripts that have ended (no deferred call left), called as REAPER
-- calls them when a script finishes or is ended.
local function call_atexit()
  local running, keep, due = {}, {}, {}
  for _, entry in ipairs(state.deferred) do running[entry.script] = true end
  for _, entry in ipairs(state.atexit) do
    if running[entry.script] then keep[#keep + 1] = entry else due[#due + 1] = entry end
  end
  state.atexit = keep
  for _, entry in ipairs(due) do run_protected(entry.script, entry.fn) end
end

-- The instance of `path` that runs ends (the user stops it, or a launch of it ends it): REAPER
-- drops its deferred calls, closes its window and calls its atexit functions.
local function end_instance(path)
  local keep = {}
  for _, entry in ipairs(state.deferred) do
    if entry.script ~= path then keep[#keep + 1] = entry end
  end
  state.deferred, state.gfx_open, state.relaunch[path] = keep, false, nil
  call_atexit()
end

-- A launch of `path` (the user's key, the daemon's OSC trigger) while it runs: REAPER asks the
-- user in its "already running" dialog (recorded here, answered "new instance": both run)
-- unless the script said otherwise (reaper.set_action_options in fake_system.lua).
local function launch(path)
  local running = false
  for _, entry in ipairs(state.deferred) do running = running or entry.script == path end
  local options = state.relaunch[path] or 0
  if running and options == 2 then
    return -- the launch is ignored: the running instance goes on
  elseif running and options & 1 == 0 then
    table.insert(state.running_dialogs, path)
  elseif running then
    end_instance(path)
    if options & 2 == 0 then return end -- ended, and nothing started: a toggle
  end
  start_script(path)
end
state.running_dialogs = {}

local runs = scenario.runs or {}
local sleep = scenario.sleep or 0.05
local max_seconds = scenario.max_seconds or 60
local timed_out = false

local function start_due(cycle)
  local pending = false
  for _, run in ipairs(runs) do
    -- `kill_cycle`: the user stops the script there
    if run.started and run.kill_cycle and run.kill_cycle <= cycle and not run.killed then
      run.killed = true
      end_instance(run.script)
    end
    if run.kill_cycle and not run.killed then pending = true end
    if not run.started then
      if (run.cycle or 0) <= cycle then
        run.started = true
        launch(run.script)
      else
        pending = true
      end
    end
  end
  return pending
end

state.cycle = 0
local pending = start_due(0)
call_atexit()
while #state.deferred > 0 or pending do
  if state.now > max_seconds then
    timed_out = true
    break
  end
  os.execute("sleep " .. sleep)
  state.now = state.now + sleep
  state.cycle = state.cycle + 1
  local due = state.deferred
  state.deferred = {}
  for _, entry in ipairs(due) do run_protected(entry.script, entry.fn) end
  pending = start_due(state.cycle)
  call_atexit()
end
for _, entry in ipairs(state.atexit) do run_protected(entry.script, entry.fn) end -- timed out

local tracks = {}
for _, track in ipairs(state.tracks) do
  local items = {}
  for _, item in ipairs(track.items) do
    local takes = {}
    for _, take in ipairs(item.takes) do
      takes[#takes + 1] = {
        name = take.name, guid = take.guid, midi = take.midi, active = item.active == take,
        file = take.source and take.source.file or nil, startoffs = take.D_STARTOFFS,
        playrate = take.D_PLAYRATE, vol = take.D_VOL, pan = take.D_PAN,
        fx = take.fx,
        source_rate = take.source and take.source.wav and take.source.wav.rate or nil,
        source_frames = take.source and take.source.wav and take.source.wav.frames or nil,
      }
    end
    items[#items + 1] = {
      guid = item.guid, position = item.D_POSITION, length = item.D_LENGTH,
      selected = item.B_UISEL == 1, notes = item.notes, takes = takes,
    }
  end
  tracks[#tracks + 1] = { name = track.name, guid = track.guid, items = items }
end

local peaks = {}
for file in pairs(state.peaks) do peaks[#peaks + 1] = file end
table.sort(peaks)

local report = json.encode({
  tracks = tracks, undo_points = state.undo_points, undo_depth = state.undo_depth,
  changes = state.changes, messages = state.messages, console = table.concat(state.console),
  exec = state.exec, extstate = state.extstate, peaks = peaks, errors = state.errors,
  gfx_titles = state.gfx_titles, gfx_text = state.gfx_text,
  accessors_open = state.accessors_open or 0, cycles = state.cycle, timed_out = timed_out,
  time_selection = state.time_selection, seconds = state.now, markers = state.markers,
  proj_extstate = state.proj_extstate, action_options = state.action_options,
  running_dialogs = state.running_dialogs,
})
local f = assert(io.open(out_path, "w"))
f:write(report)
f:close()
