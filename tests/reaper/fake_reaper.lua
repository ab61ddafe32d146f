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

local M = {}

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

local function strict(table_, what)
  return setmetatable(table_, {
    __index = function(_, key)
      error(what .. "." .. tostring(key) .. ": not defined in the ReaScript stand-in", 2)
    end,
  })
end

-- ---------------------------------------------------------------------------------------------

function M.new(scenario)
  local state = {
    tracks = {}, undo_points = {}, undo_depth = 0, changes = {}, messages = {}, console = {},
    exec = {}, deferred = {}, atexit = {}, extstate = {}, persisted = {}, peaks = {},
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
      B_PPITCH = 0, I_CHANMODE = 0, midi = false,
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
        if tk.midi then take.source = { __kind = "PCM_source", file = "", midi = true } end
        table.insert(item.takes, take)
      end
      item.active = item.takes[it.active_take or 1]
      table.insert(track.items, item)
    end
  end
  if scenario.time_selection then state.time_selection = { table.unpack(scenario.time_selection) } end
  for section, keys in pairs(scenario.extstate or {}) do
    state.extstate[section] = {}
    for k, v in pairs(keys) do state.extstate[section][k] = v end
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

  -- ------------------------------------------------------------------------------- arrays
  function reaper.new_array(size)
    check_type("new_array", size, "number", 1)
    local values = {}
    for i = 1, size do values[i] = 0.0 end
    local array = { __kind = "reaper.array", values = values, size = size }
    local methods = {}
    function methods.get_alloc() return array.size end
    function methods.clear(value)
      if type(value) == "table" then value = nil end -- called as buf:clear()
      for i = 1, array.size do values[i] = value or 0.0 end
    end
    function methods.table(a, b, c)
      local offset, count = a, b
      if type(a) == "table" then offset, count = b, c end -- called as buf:table(...)
      offset = offset or 1
      count = count or (array.size - offset + 1)
      return table.move(values, offset, offset + count - 1, 1, {})
    end
    return setmetatable({}, {
      __index = function(_, key)
        if type(key) == "number" then
          if key < 1 or key > array.size or key % 1 ~= 0 then
            error("reaper.array: index " .. key .. " out of range 1.." .. array.size, 2)
          end
          return values[key]
        end
        if methods[key] then return methods[key] end
        if key == "__array" then return array end
        error("reaper.array." .. tostring(key) .. ": not defined in the ReaScript stand-in", 2)
      end,
      __newindex = function(_, key, value)
        if type(key) ~= "number" or key < 1 or key > array.size then
          error("reaper.array: cannot set " .. tostring(key), 2)
        end
        values[key] = value
      end,
      __len = function() return array.size end,
    })
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

  -- ------------------------------------------------------------------------------- sources
  function reaper.GetMediaItemTake_Source(take)
    return check_kind("GetMediaItemTake_Source", take, "MediaItem_Take", 1).source
  end
  function reaper.PCM_Source_CreateFromFile(path)
    check_type("PCM_Source_CreateFromFile", path, "string", 1)
    local ok, source = pcall(new_source, path)
    if not ok then fail("PCM_Source_CreateFromFile", source) end
    return source
  end
  function reaper.SetMediaItemTake_Source(take, source)
    check_kind("SetMediaItemTake_Source", take, "MediaItem_Take", 1)
    check_kind("SetMediaItemTake_Source", source, "PCM_source", 2)
    take.source = source
    changed("SetMediaItemTake_Source")
    return true
  end
  function reaper.GetMediaSourceFileName(source, _)
    return check_kind("GetMediaSourceFileName", source, "PCM_source", 1).file
  end
  function reaper.GetMediaSourceSampleRate(source)
    local s = check_kind("GetMediaSourceSampleRate", source, "PCM_source", 1)
    return s.midi and 0 or s.wav.rate
  end
  function reaper.GetMediaSourceNumChannels(source)
    local s = check_kind("GetMediaSourceNumChannels", source, "PCM_source", 1)
    return s.midi and 0 or s.wav.channels
  end
  function reaper.GetMediaSourceLength(source)
    local s = check_kind("GetMediaSourceLength", source, "PCM_source", 1)
    if s.midi then return 0, true end
    return s.wav.frames / s.wav.rate, false
  end
  function reaper.PCM_Source_BuildPeaks(source, mode)
    local s = check_kind("PCM_Source_BuildPeaks", source, "PCM_source", 1)
    check_type("PCM_Source_BuildPeaks", mode, "number", 2)
    if mode == 0 then
      s.peaks_state = "building"
      s.peaks_left = 2
      return 1
    elseif mode == 1 then
      if s.peaks_state ~= "building" then fail("PCM_Source_BuildPeaks", "mode 1 before mode 0") end
      s.peaks_left = s.peaks_left - 1
      return s.peaks_left > 0 and 1 or 0
    elseif mode == 2 then
      if s.peaks_state ~= "building" then fail("PCM_Source_BuildPeaks", "mode 2 before mode 0") end
      s.peaks_state = "built"
      state.peaks[s.file] = true
      return 0
    end
    fail("PCM_Source_BuildPeaks", "mode must be 0, 1 or 2")
  end
  function reaper.Main_OnCommand(command, flag)
    check_type("Main_OnCommand", command, "number", 1)
    check_type("Main_OnCommand", flag, "number", 2)
    if command == 40441 or command == 40245 then -- rebuild peaks / build missing peaks (selection)
      for _, item in ipairs(selected_items()) do
        for _, take in ipairs(item.takes) do
          if take.source and not take.source.midi then state.peaks[take.source.file] = true end
        end
      end
      return
    end
    fail("Main_OnCommand", "command " .. command .. " not supported")
  end

  -- ------------------------------------------------------------------------------- accessors
  function reaper.CreateTakeAudioAccessor(take)
    check_kind("CreateTakeAudioAccessor", take, "MediaItem_Take", 1)
    if take.midi then fail("CreateTakeAudioAccessor", "MIDI take") end
    local accessor = { __kind = "AudioAccessor", take = take }
    state.accessors_open = (state.accessors_open or 0) + 1
    return accessor
  end
  function reaper.DestroyAudioAccessor(accessor)
    check_kind("DestroyAudioAccessor", accessor, "AudioAccessor", 1)
    accessor.deleted = true
    state.accessors_open = state.accessors_open - 1
  end
  function reaper.GetAudioAccessorStartTime(accessor)
    check_kind("GetAudioAccessorStartTime", accessor, "AudioAccessor", 1)
    return 0.0
  end
  function reaper.GetAudioAccessorEndTime(accessor)
    check_kind("GetAudioAccessorEndTime", accessor, "AudioAccessor", 1)
    return accessor.take.item.D_LENGTH
  end
  -- Samples of the take as it plays: frame j is at take-relative project time
  -- t = start + j / rate, i.e. source time D_STARTOFFS + t * D_PLAYRATE (linear interpolation
  -- between source samples; exact where that falls on a source sample). Silence outside the
  -- item and outside the source. Interleaved, `channels` per frame.
  function reaper.GetAudioAccessorSamples(accessor, rate, channels, start, frames, buffer)
    local name = "GetAudioAccessorSamples"
    check_kind(name, accessor, "AudioAccessor", 1)
    check_type(name, rate, "number", 2)
    check_type(name, channels, "number", 3)
    check_type(name, start, "number", 4)
    check_type(name, frames, "number", 5)
    if rate % 1 ~= 0 or rate <= 0 then fail(name, "sample rate must be a positive integer") end
    if frames % 1 ~= 0 or channels % 1 ~= 0 then fail(name, "counts must be integers") end
    local array = type(buffer) == "table" and buffer.__array
    if not array then fail(name, "argument 6 must be a reaper.array") end
    if array.size < frames * channels then fail(name, "buffer smaller than frames * channels") end
    local take = accessor.take
    local wav = take.source.wav
    local values, length = array.values, take.item.D_LENGTH
    local any = false
    for j = 0, frames - 1 do
      local t = start + j / rate
      local inside = t >= 0 and t < length
      local position = (take.D_STARTOFFS + t * take.D_PLAYRATE) * wav.rate
      local nearest = math.floor(position + 0.5)
      if math.abs(position - nearest) < 1e-7 then position = nearest end
      local i0 = math.floor(position)
      local frac = position - i0
      for c = 1, channels do
        local v = 0.0
        if inside and c <= wav.channels and i0 >= 0 and i0 < wav.frames then
          local a = wav.samples[i0 * wav.channels + c]
          local b = (i0 + 1 < wav.frames) and wav.samples[(i0 + 1) * wav.channels + c] or 0.0
          v = frac == 0 and a or a + (b - a) * frac
          any = true
        end
        values[j * channels + c] = v
      end
    end
    return any and 1 or 0
  end

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

  -- ------------------------------------------------------------------------------- ExtState
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

  strict(reaper, "reaper")
  strict(gfx, "gfx")
  return reaper, gfx, state
end

return M
