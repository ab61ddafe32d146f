-- A strict, in-memory stand-in for the part of the ReaScript API the DiffMusic scripts use.
--
-- REAPER itself cannot run here, so this plays its part: a project with tracks, media items,
-- takes and PCM sources backed by real WAV files, audio accessors with REAPER's semantics (time
-- in take-relative project seconds, take start offset and playrate applied, interleaved
-- channels), the time selection, ExtState, undo blocks, peaks, ExecProcess (really spawning the
-- command) and defer. Every function that is not defined here raises an error naming it, and
-- every defined one checks its arguments, so a typo or a wrong call in a script fails the test.
--
-- Usage: local fake = dofile("fake_reaper.lua"); local reaper, gfx, state = fake.new(scenario)
-- The project (tracks, items, takes) is here; arrays, sources and accessors are in
-- fake_audio.lua; selection, ExtState, undo, dialogs, processes, defer and gfx in fake_system.lua.

local M = {}
local HERE = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."

-- ---------------------------------------------------------------------------------------------
-- WAV files (written by hand: Lua has no audio library, and the format is a few fixed fields).

local function read_wav(path)
  local f = io.open(path, "rb")
  if not f then error("no such file: " .. path, 0) end
  local data = f:read("a")
  f:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then
    error(path .. ": not a RIFF/WAVE file", 0)
  end
  local pos, fmt, body = 13, nil, nil
  while pos + 8 <= #data + 1 do
    local id, size = data:sub(pos, pos + 3), string.unpack("<I4", data, pos + 4)
    if id == "fmt " then
      local tag, channels, rate, _, _, bits = string.unpack("<I2I2I4I4I2I2", data, pos + 8)
      if tag == 0xFFFE then tag = string.unpack("<I2", data, pos + 8 + 24) end
      fmt = { tag = tag, channels = channels, rate = rate, bits = bits }
    elseif id == "data" then
      body = { first = pos + 8, size = math.min(size, #data - pos - 7) }
    end
    pos = pos + 8 + size + (size % 2)
  end
  if not fmt or not body then error(path .. ": no fmt or data chunk", 0) end
  local code, scale
  if fmt.tag == 3 and fmt.bits == 32 then code, scale = "f", 1
  elseif fmt.tag == 3 and fmt.bits == 64 then code, scale = "d", 1
  elseif fmt.tag == 1 and fmt.bits == 16 then code, scale = "i2", 1 / 32768
  elseif fmt.tag == 1 and fmt.bits == 24 then code, scale = "i3", 1 / 8388608
  elseif fmt.tag == 1 and fmt.bits == 32 then code, scale = "i4", 1 / 2147483648
  else error(string.format("%s: unsupported WAV format tag %d, %d bits", path, fmt.tag, fmt.bits), 0)
  end
  local width = fmt.bits // 8
  local count = body.size // width
  local samples, batch = {}, 256
  local p, n = body.first, 0
  while n < count do
    local k = math.min(batch, count - n)
    local values = table.pack(string.unpack("<" .. string.rep(code, k), data, p))
    for i = 1, k do samples[n + i] = values[i] * scale end
    n, p = n + k, values[k + 1]
  end
  return {
    rate = fmt.rate, channels = fmt.channels, frames = count // fmt.channels,
    samples = samples, bits = fmt.bits, float = fmt.tag == 3,
  }
end
M.read_wav = read_wav

-- ---------------------------------------------------------------------------------------------
-- Helpers for strict argument checking.

local function fail(name, message) error("reaper." .. name .. ": " .. message, 3) end

local function check_kind(name, value, kind, position)
  if type(value) ~= "table" or value.__kind ~= kind then
    fail(name, string.format("argument %d must be a %s, got %s", position, kind, tostring(value)))
  end
  if value.deleted then fail(name, string.format("argument %d: %s was deleted", position, kind)) end
  return value
end

local function check_type(name, value, lua_type, position)
  if type(value) ~= lua_type then
    fail(name, string.format("argument %d must be a %s, got %s", position, lua_type, type(value)))
  end
  return value
end

local function check_project(name, proj)
  if proj ~= 0 and proj ~= nil then fail(name, "only project 0 (the current one) exists here") end
end

-- `absent`: names this REAPER version lacks (scenario.absent_api): they read as nil, as there
local function strict(table_, what, absent)
  return setmetatable(table_, {
    __index = function(_, key)
      if absent[key] then return nil end
      error(what .. "." .. tostring(key) .. ": not defined in the ReaScript stand-in", 2)
    end,
  })
end

-- ---------------------------------------------------------------------------------------------

function M.new(scenario)
  local state = {
    tracks = {}, undo_points = {}, undo_depth = 0, changes = {}, messages = {}, console = {},
    exec = {}, deferred = {}, atexit = {}, action_options = {}, relaunch = {}, extstate = {},
    persisted = {}, peaks = {},
    time_selection = { 0, 0 }, now = 0, guid_counter = 0, current_script = nil,
    inputs = scenario.user_inputs or {}, gfx_keys = scenario.gfx_keys or {}, cycle = 0,
    gfx_open = false, gfx_titles = {}, gfx_text = {},
  }
  local reaper = {}
  local gfx = {}

  local function guid()
    state.guid_counter = state.guid_counter + 1
    return string.format("{00000000-0000-0000-0000-%012d}", state.guid_counter)
  end

  -- Every change to the project goes through here, so tests can tell whether it happened
  -- inside an undo block (one undo point) or outside (a stray, unrecorded change).
  local function changed(what)
    table.insert(state.changes, { what = what, in_undo_block = state.undo_depth > 0 })
  end

  local function new_source(path)
    local wav = read_wav(path)
    return { __kind = "PCM_source", file = path, wav = wav }
  end

  local function new_take(item, source)
    return {
      __kind = "MediaItem_Take", item = item, source = source, name = "", guid = guid(),
      D_STARTOFFS = 0.0, D_PLAYRATE = 1.0, D_VOL = 1.0, D_PAN = 0.0, D_PITCH = 0.0,
      B_PPITCH = 0, I_CHANMODE = 0, midi = false, fx = {},
    }
  end

  local function new_item(track)
    return {
      __kind = "MediaItem", track = track, takes = {}, active = nil, guid = guid(),
      D_POSITION = 0.0, D_LENGTH = 0.0, B_MUTE = 0, B_UISEL = 0, D_VOL = 1.0, notes = "",
    }
  end

  local function new_track(name)
    return { __kind = "MediaTrack", name = name or "", items = {}, guid = guid() }
  end

  -- Build the project the scenario describes.
  for _, t in ipairs(scenario.tracks or {}) do
    local track = new_track(t.name)
    table.insert(state.tracks, track)
    for _, it in ipairs(t.items or {}) do
      local item = new_item(track)
      item.D_POSITION, item.D_LENGTH = it.position, it.length
      item.B_UISEL = it.selected and 1 or 0
      for _, tk in ipairs(it.takes or {}) do
        local take = new_take(item, (not tk.midi) and new_source(tk.file) or nil)
        take.name = tk.name or ""
        take.D_STARTOFFS = tk.startoffs or 0.0
        take.D_PLAYRATE = tk.playrate or 1.0
        take.midi = tk.midi or false
        take.fx = table.move(tk.fx or {}, 1, #(tk.fx or {}), 1, {}) -- its take FX's names
        if tk.midi then take.source = { __kind = "PCM_source", file = "", midi = true } end
        if tk.source_type then take.source.type = tk.source_type end -- the samples: still tk.file's
        if tk.section then -- a section (or reversed) source over the file's own
          take.source = setmetatable({ type = "SECTION", parent = take.source }, { __index = take.source })
        end
        table.insert(item.takes, take)
      end
      item.active = item.takes[it.active_take or 1]
      table.insert(track.items, item)
    end
  end
  state.markers = {}
  for i, m in ipairs(scenario.markers or {}) do
    state.markers[i] = { isrgn = m.isrgn, pos = m.pos, rgnend = m.rgnend or m.pos, name = m.name,
      index = i, color = 0 }
  end
  if scenario.time_selection then state.time_selection = { table.unpack(scenario.time_selection) } end
  for section, keys in pairs(scenario.extstate or {}) do
    state.extstate[section] = {}
    for k, v in pairs(keys) do state.extstate[section][k] = v end
  end
  state.proj_extstate = {}
  for section, keys in pairs(scenario.proj_extstate or {}) do
    state.proj_extstate[section] = {}
    for k, v in pairs(keys) do state.proj_extstate[section][k] = v end
  end

  local function all_items()
    local items = {}
    for _, track in ipairs(state.tracks) do
      for _, item in ipairs(track.items) do table.insert(items, item) end
    end
    return items
  end

  local function selected_items()
    local items = {}
    for _, item in ipairs(all_items()) do
      if item.B_UISEL == 1 then table.insert(items, item) end
    end
    return items
  end

  -- ------------------------------------------------------------------------------- project
  function reaper.CountSelectedMediaItems(proj)
    check_project("CountSelectedMediaItems", proj)
    return #selected_items()
  end
  function reaper.GetSelectedMediaItem(proj, index)
    check_project("GetSelectedMediaItem", proj)
    check_type("GetSelectedMediaItem", index, "number", 2)
    return selected_items()[index + 1]
  end
  function reaper.CountMediaItems(proj)
    check_project("CountMediaItems", proj)
    return #all_items()
  end
  function reaper.GetMediaItem(proj, index)
    check_project("GetMediaItem", proj)
    check_type("GetMediaItem", index, "number", 2)
    return all_items()[index + 1]
  end
  function reaper.CountTracks(proj)
    check_project("CountTracks", proj)
    return #state.tracks
  end
  function reaper.GetTrack(proj, index)
    check_project("GetTrack", proj)
    check_type("GetTrack", index, "number", 2)
    return state.tracks[index + 1]
  end
  function reaper.InsertTrackAtIndex(index, want_defaults)
    check_type("InsertTrackAtIndex", index, "number", 1)
    check_type("InsertTrackAtIndex", want_defaults, "boolean", 2)
    if index < 0 or index > #state.tracks then fail("InsertTrackAtIndex", "index out of range") end
    table.insert(state.tracks, index + 1, new_track(""))
    changed("InsertTrackAtIndex")
  end
  function reaper.GetMediaItem_Track(item)
    return check_kind("GetMediaItem_Track", item, "MediaItem", 1).track
  end
  function reaper.GetMediaTrackInfo_Value(track, param)
    check_kind("GetMediaTrackInfo_Value", track, "MediaTrack", 1)
    if param == "IP_TRACKNUMBER" then
      for i, t in ipairs(state.tracks) do if t == track then return i end end
      return 0
    end
    fail("GetMediaTrackInfo_Value", "parameter " .. tostring(param) .. " not supported")
  end
  function reaper.GetSetMediaTrackInfo_String(track, param, value, set)
    check_kind("GetSetMediaTrackInfo_String", track, "MediaTrack", 1)
    check_type("GetSetMediaTrackInfo_String", value, "string", 3)
    check_type("GetSetMediaTrackInfo_String", set, "boolean", 4)
    if param == "P_NAME" then
      if set then track.name = value; changed("track P_NAME") end
      return true, track.name
    elseif param == "GUID" and not set then
      return true, track.guid
    end
    fail("GetSetMediaTrackInfo_String", "parameter " .. tostring(param) .. " not supported")
  end
  function reaper.AddMediaItemToTrack(track)
    check_kind("AddMediaItemToTrack", track, "MediaTrack", 1)
    local item = new_item(track)
    table.insert(track.items, item)
    changed("AddMediaItemToTrack")
    return item
  end
  function reaper.ValidatePtr2(proj, pointer, kind)
    check_project("ValidatePtr2", proj)
    check_type("ValidatePtr2", kind, "string", 3)
    local bare = kind:gsub("%*$", "")
    return type(pointer) == "table" and pointer.__kind == bare and not pointer.deleted
  end

  local ITEM_PARAMS = { D_POSITION = true, D_LENGTH = true, B_MUTE = true, B_UISEL = true, D_VOL = true }
  function reaper.GetMediaItemInfo_Value(item, param)
    check_kind("GetMediaItemInfo_Value", item, "MediaItem", 1)
    if not ITEM_PARAMS[param] then
      fail("GetMediaItemInfo_Value", "parameter " .. tostring(param) .. " not supported")
    end
    return item[param]
  end
  function reaper.SetMediaItemInfo_Value(item, param, value)
    check_kind("SetMediaItemInfo_Value", item, "MediaItem", 1)
    check_type("SetMediaItemInfo_Value", value, "number", 3)
    if not ITEM_PARAMS[param] then
      fail("SetMediaItemInfo_Value", "parameter " .. tostring(param) .. " not supported")
    end
    item[param] = value
    changed("item " .. param)
    return true
  end
  function reaper.SetMediaItemSelected(item, selected)
    check_kind("SetMediaItemSelected", item, "MediaItem", 1)
    check_type("SetMediaItemSelected", selected, "boolean", 2)
    item.B_UISEL = selected and 1 or 0
  end
  function reaper.GetSetMediaItemInfo_String(item, param, value, set)
    check_kind("GetSetMediaItemInfo_String", item, "MediaItem", 1)
    check_type("GetSetMediaItemInfo_String", value, "string", 3)
    check_type("GetSetMediaItemInfo_String", set, "boolean", 4)
    if param == "GUID" and not set then return true, item.guid end
    if param == "P_NOTES" then
      if set then item.notes = value; changed("item P_NOTES") end
      return true, item.notes
    end
    fail("GetSetMediaItemInfo_String", "parameter " .. tostring(param) .. " not supported")
  end
  function reaper.CountTakes(item) return #check_kind("CountTakes", item, "MediaItem", 1).takes end
  function reaper.GetTake(item, index)
    check_kind("GetTake", item, "MediaItem", 1)
    check_type("GetTake", index, "number", 2)
    return item.takes[index + 1]
  end
  function reaper.GetActiveTake(item) return check_kind("GetActiveTake", item, "MediaItem", 1).active end
  function reaper.SetActiveTake(take)
    check_kind("SetActiveTake", take, "MediaItem_Take", 1)
    take.item.active = take
    changed("SetActiveTake")
  end
  function reaper.AddTakeToMediaItem(item)
    check_kind("AddTakeToMediaItem", item, "MediaItem", 1)
    local take = new_take(item, nil)
    table.insert(item.takes, take)
    if not item.active then item.active = take end
    changed("AddTakeToMediaItem")
    return take
  end
  function reaper.GetMediaItemTake_Item(take)
    return check_kind("GetMediaItemTake_Item", take, "MediaItem_Take", 1).item
  end
  function reaper.TakeIsMIDI(take) return check_kind("TakeIsMIDI", take, "MediaItem_Take", 1).midi end
  function reaper.GetTakeName(take) return check_kind("GetTakeName", take, "MediaItem_Take", 1).name end

  local TAKE_PARAMS = {
    D_STARTOFFS = true, D_PLAYRATE = true, D_VOL = true, D_PAN = true, D_PITCH = true,
    B_PPITCH = true, I_CHANMODE = true,
  }
  function reaper.GetMediaItemTakeInfo_Value(take, param)
    check_kind("GetMediaItemTakeInfo_Value", take, "MediaItem_Take", 1)
    if not TAKE_PARAMS[param] then
      fail("GetMediaItemTakeInfo_Value", "parameter " .. tostring(param) .. " not supported")
    end
    return take[param]
  end
  function reaper.SetMediaItemTakeInfo_Value(take, param, value)
    check_kind("SetMediaItemTakeInfo_Value", take, "MediaItem_Take", 1)
    check_type("SetMediaItemTakeInfo_Value", value, "number", 3)
    if not TAKE_PARAMS[param] then
      fail("SetMediaItemTakeInfo_Value", "parameter " .. tostring(param) .. " not supported")
    end
    if param == "D_PLAYRATE" and value <= 0 then fail("SetMediaItemTakeInfo_Value", "playrate <= 0") end
    take[param] = value
    changed("take " .. param)
    return true
  end
  function reaper.GetSetMediaItemTakeInfo_String(take, param, value, set)
    check_kind("GetSetMediaItemTakeInfo_String", take, "MediaItem_Take", 1)
    check_type("GetSetMediaItemTakeInfo_String", value, "string", 3)
    check_type("GetSetMediaItemTakeInfo_String", set, "boolean", 4)
    if param == "P_NAME" then
      if set then take.name = value; changed("take P_NAME") end
      return true, take.name
    elseif param == "GUID" and not set then
      return true, take.guid
    end
    fail("GetSetMediaItemTakeInfo_String", "parameter " .. tostring(param) .. " not supported")
  end

  -- the rest of the API, in files beside this one (one concept each)
  local ctx = {
    reaper = reaper, gfx = gfx, state = state, scenario = scenario, fail = fail,
    check_type = check_type, check_kind = check_kind, check_project = check_project,
    changed = changed, selected_items = selected_items, new_source = new_source
  }
  for _, part in ipairs({ "fake_audio.lua", "fake_system.lua" }) do
    assert(loadfile(HERE .. "/" .. part))(ctx)
  end

  local absent = {}
  for _, name in ipairs(scenario.absent_api or {}) do
    if reaper[name] == nil then error("absent_api: reaper." .. name .. " is not in the stand-in", 0) end
    reaper[name], absent[name] = nil, true
  end
  strict(reaper, "reaper", absent)
  strict(gfx, "gfx", {})
  return reaper, gfx, state
end

return M
