-- The ReaScript stand-in (see fake_reaper.lua):
-- time selection, ExtState, undo, dialogs, processes, defer and gfx.

local ctx = ... -- what fake_reaper.lua's new() shares: the API tables, state, checks
local reaper = ctx.reaper
local gfx = ctx.gfx
local state = ctx.state
local scenario = ctx.scenario
local fail = ctx.fail
local check_type = ctx.check_type
local check_kind = ctx.check_kind
local check_project = ctx.check_project
local changed = ctx.changed

-- ------------------------------------------------------------------------------- selection
function reaper.GetSet_LoopTimeRange(is_set, is_loop, start, stop, allow_autoseek)
  local name = "GetSet_LoopTimeRange"
  check_type(name, is_set, "boolean", 1)
  check_type(name, is_loop, "boolean", 2)
  check_type(name, start, "number", 3)
  check_type(name, stop, "number", 4)
  check_type(name, allow_autoseek, "boolean", 5)
  if is_set then
    state.time_selection = { start, stop }
    changed("time selection")
  end
  return state.time_selection[1], state.time_selection[2]
end

-- ------------------------------------------------------------------------------- markers
-- Project markers and regions, in position order (REAPER's enumeration order).
local function sort_markers()
  table.sort(state.markers, function(a, b) return a.pos < b.pos end)
end
function reaper.AddProjectMarker2(proj, isrgn, pos, rgnend, name, wantidx, color)
  local api = "AddProjectMarker2"
  check_project(api, proj)
  check_type(api, isrgn, "boolean", 2)
  check_type(api, pos, "number", 3)
  check_type(api, rgnend, "number", 4)
  check_type(api, name, "string", 5)
  check_type(api, wantidx, "number", 6)
  check_type(api, color, "number", 7)
  if isrgn and rgnend <= pos then fail(api, "a region must end after it starts") end
  changed("marker " .. name)
  local index = #state.markers + 1
  table.insert(state.markers, { isrgn = isrgn, pos = pos, rgnend = isrgn and rgnend or pos,
    name = name, index = index, color = color })
  sort_markers()
  return index
end
function reaper.CountProjectMarkers(proj)
  check_project("CountProjectMarkers", proj)
  local regions = 0
  for _, m in ipairs(state.markers) do if m.isrgn then regions = regions + 1 end end
  return #state.markers, #state.markers - regions, regions
end
function reaper.EnumProjectMarkers3(proj, idx)
  check_project("EnumProjectMarkers3", proj)
  check_type("EnumProjectMarkers3", idx, "number", 2)
  local m = state.markers[idx + 1]
  if not m then return 0, false, 0, 0, "", 0, 0 end
  return idx + 1, m.isrgn, m.pos, m.rgnend, m.name, m.index, m.color
end

-- ------------------------------------------------------------------------------- ExtState
-- The project's ExtState (saved with the project): state.proj_extstate[section][key].
function reaper.SetProjExtState(proj, section, key, value)
  check_project("SetProjExtState", proj)
  check_type("SetProjExtState", section, "string", 2)
  check_type("SetProjExtState", key, "string", 3)
  check_type("SetProjExtState", value, "string", 4)
  state.proj_extstate[section] = state.proj_extstate[section] or {}
  state.proj_extstate[section][key] = value ~= "" and value or nil -- "" deletes the key
  return 1
end
function reaper.GetProjExtState(proj, section, key)
  check_project("GetProjExtState", proj)
  check_type("GetProjExtState", section, "string", 2)
  check_type("GetProjExtState", key, "string", 3)
  local value = (state.proj_extstate[section] or {})[key]
  return value and 1 or 0, value or ""
end
function reaper.GetExtState(section, key)
  check_type("GetExtState", section, "string", 1)
  check_type("GetExtState", key, "string", 2)
  return (state.extstate[section] or {})[key] or ""
end
function reaper.HasExtState(section, key)
  check_type("HasExtState", section, "string", 1)
  check_type("HasExtState", key, "string", 2)
  return (state.extstate[section] or {})[key] ~= nil
end
function reaper.SetExtState(section, key, value, persist)
  check_type("SetExtState", section, "string", 1)
  check_type("SetExtState", key, "string", 2)
  check_type("SetExtState", value, "string", 3)
  check_type("SetExtState", persist, "boolean", 4)
  state.extstate[section] = state.extstate[section] or {}
  state.extstate[section][key] = value
  if persist then state.persisted[section .. "/" .. key] = true end
end
function reaper.DeleteExtState(section, key, persist)
  check_type("DeleteExtState", section, "string", 1)
  check_type("DeleteExtState", key, "string", 2)
  check_type("DeleteExtState", persist, "boolean", 3)
  if state.extstate[section] then state.extstate[section][key] = nil end
end

-- ------------------------------------------------------------------------------- undo, UI
function reaper.Undo_BeginBlock() state.undo_depth = state.undo_depth + 1 end
function reaper.Undo_BeginBlock2(proj) check_project("Undo_BeginBlock2", proj); reaper.Undo_BeginBlock() end
function reaper.Undo_EndBlock(description, flags)
  check_type("Undo_EndBlock", description, "string", 1)
  check_type("Undo_EndBlock", flags, "number", 2)
  if state.undo_depth < 1 then fail("Undo_EndBlock", "no open undo block") end
  state.undo_depth = state.undo_depth - 1
  if state.undo_depth == 0 then table.insert(state.undo_points, description) end
end
function reaper.Undo_EndBlock2(proj, description, flags)
  check_project("Undo_EndBlock2", proj)
  reaper.Undo_EndBlock(description, flags)
end
function reaper.PreventUIRefresh(delta) check_type("PreventUIRefresh", delta, "number", 1) end
function reaper.UpdateArrange() end
function reaper.UpdateTimeline() end
function reaper.UpdateItemInProject(item) check_kind("UpdateItemInProject", item, "MediaItem", 1) end
function reaper.TrackList_AdjustWindows(is_minor) check_type("TrackList_AdjustWindows", is_minor, "boolean", 1) end
function reaper.ShowMessageBox(message, title, kind)
  check_type("ShowMessageBox", message, "string", 1)
  check_type("ShowMessageBox", title, "string", 2)
  check_type("ShowMessageBox", kind, "number", 3)
  table.insert(state.messages, { title = title, message = message })
  return 1
end
function reaper.ShowConsoleMsg(message)
  check_type("ShowConsoleMsg", message, "string", 1)
  table.insert(state.console, message)
end
function reaper.ClearConsole() end
function reaper.GetUserInputs(title, count, captions, values)
  check_type("GetUserInputs", title, "string", 1)
  check_type("GetUserInputs", count, "number", 2)
  check_type("GetUserInputs", captions, "string", 3)
  check_type("GetUserInputs", values, "string", 4)
  local answer = table.remove(state.inputs, 1)
  if answer == nil then fail("GetUserInputs", "the test did not expect a dialog: " .. title) end
  state.last_dialog = { title = title, captions = captions, values = values }
  if answer == false then return false, values end
  return true, answer
end

-- ------------------------------------------------------------------------------- system
function reaper.GetResourcePath() return scenario.resource_path end
function reaper.GetProjectPath(_) return scenario.project_path or "" end
-- Only the current project (-1, or tab 0): its .rpp path, "" while unsaved.
function reaper.EnumProjects(idx)
  check_type("EnumProjects", idx, "number", 1)
  if idx ~= -1 and idx ~= 0 then return nil, "" end
  return 0, scenario.project_file or ""
end
function reaper.GetOS() return "Linux-x86_64" end
function reaper.time_precise() return state.now end -- advanced by the harness as it sleeps
function reaper.RecursiveCreateDirectory(path, _)
  check_type("RecursiveCreateDirectory", path, "string", 1)
  os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  return 1
end
function reaper.file_exists(path)
  check_type("file_exists", path, "string", 1)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
-- timeout -1 / -2: start the command and return at once (really spawned in the background);
-- otherwise run it to the end and return "exit code\noutput".
function reaper.ExecProcess(command, timeout)
  check_type("ExecProcess", command, "string", 1)
  check_type("ExecProcess", timeout, "number", 2)
  table.insert(state.exec, command)
  if timeout < 0 then
    os.execute(command .. " >/dev/null 2>&1 &")
    return ""
  end
  -- through files, not io.popen: lupa's Lua (the tests' interpreter) has no popen
  local out = os.tmpname()
  local quoted = "'" .. out:gsub("'", "'\\''") .. "'"
  os.execute("(" .. command .. ") > " .. quoted .. " 2>&1; echo $? > " .. quoted .. ".code")
  local f = assert(io.open(out, "rb"))
  local output = f:read("a")
  f:close()
  f = assert(io.open(out .. ".code", "rb"))
  local code = tonumber(f:read("a"):match("%d+"))
  f:close()
  os.remove(out)
  os.remove(out .. ".code")
  return string.format("%d\n%s", code or -1, output)
end
function reaper.defer(fn)
  check_type("defer", fn, "function", 1)
  table.insert(state.deferred, { fn = fn, script = state.current_script })
end
function reaper.atexit(fn)
  check_type("atexit", fn, "function", 1)
  table.insert(state.atexit, { fn = fn, script = state.current_script })
end
-- REAPER 7.03+: what a launch of the script while it runs does (harness.lua's launch() acts it
-- out). The documented flags alone: 1, the running instance ends; 2 with 1, the new one then
-- starts; 2 alone, the launch is ignored and the running one goes on (public scripts use it so:
-- "Ignore if run while other instance is running"); 4 / 8, the action's toggle state on / off.
function reaper.set_action_options(flags)
  check_type("set_action_options", flags, "number", 1)
  if math.type(flags) ~= "integer" or flags < 1 or flags & ~15 ~= 0 then
    fail("set_action_options", "flags " .. tostring(flags) .. " are not a sum of 1, 2, 4 and 8")
  end
  if flags & 12 == 12 then fail("set_action_options", "flags 4 and 8 (toggle on, off) together") end
  table.insert(state.action_options, { script = state.current_script, flags = flags })
  if flags & 3 ~= 0 then state.relaunch[state.current_script] = flags & 3 end
end
function reaper.get_action_context()
  return false, state.current_script, 0, 0, -1, -1, -1, ""
end

-- ------------------------------------------------------------------------------- gfx
gfx.x, gfx.y, gfx.w, gfx.h, gfx.mouse_x, gfx.mouse_y, gfx.mouse_cap = 0, 0, 0, 0, -1, -1, 0
gfx.r, gfx.g, gfx.b, gfx.a, gfx.texth = 1, 1, 1, 1, 12
function gfx.init(title, w, h)
  check_type("gfx.init", title, "string", 1)
  state.gfx_open, gfx.w, gfx.h = true, w or 400, h or 100
  table.insert(state.gfx_titles, title)
  return 1
end
function gfx.quit() state.gfx_open = false end
function gfx.getchar()
  if not state.gfx_open then return -1 end
  local key = state.gfx_keys[state.cycle]
  if key == -1 then state.gfx_open = false end
  return key or 0
end
function gfx.set(r, g, b, a) gfx.r, gfx.g, gfx.b, gfx.a = r, g or r, b or r, a or 1 end
function gfx.rect(x, y, w, h, _)
  check_type("gfx.rect", x, "number", 1); check_type("gfx.rect", y, "number", 2)
  check_type("gfx.rect", w, "number", 3); check_type("gfx.rect", h, "number", 4)
end
function gfx.setfont(_, _, _) end
function gfx.measurestr(text) check_type("gfx.measurestr", text, "string", 1); return #text * 7, 12 end
function gfx.drawstr(text)
  check_type("gfx.drawstr", text, "string", 1)
  state.gfx_text[#state.gfx_text + 1] = text
  if #state.gfx_text > 200 then table.remove(state.gfx_text, 1) end
end
function gfx.update() end
