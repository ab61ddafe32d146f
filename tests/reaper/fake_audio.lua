-- The ReaScript stand-in (see fake_reaper.lua):
-- arrays (reaper.new_array), PCM sources and audio accessors.

local ctx = ... -- what fake_reaper.lua's new() shares: the API tables, state, checks
local reaper = ctx.reaper
local state = ctx.state
local fail = ctx.fail
local check_type = ctx.check_type
local check_kind = ctx.check_kind
local changed = ctx.changed
local selected_items = ctx.selected_items
local new_source = ctx.new_source

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
-- REAPER's name of the source's kind: "WAVE", "MP3", "VORBIS", "OPUS", "FLAC", "MIDI", or
-- "SECTION" for a take's section or reversed source (its file is its parent's). The second
-- argument is the string buffer the C API fills; Lua passes "" and reads the return value.
function reaper.GetMediaSourceType(source, typebuf)
  local s = check_kind("GetMediaSourceType", source, "PCM_source", 1)
  check_type("GetMediaSourceType", typebuf, "string", 2)
  if s.midi then return "MIDI" end
  return s.type or "WAVE"
end
-- The source a section or reversed source plays from; nil for any other source.
function reaper.GetMediaSourceParent(source)
  return check_kind("GetMediaSourceParent", source, "PCM_source", 1).parent
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

-- ------------------------------------------------------------------------------- take FX
-- A take's FX chain, as the names of its FX in order (what a copy must keep).
function reaper.TakeFX_GetCount(take)
  return #check_kind("TakeFX_GetCount", take, "MediaItem_Take", 1).fx
end
-- Copy (is_move false) or move FX `src_fx` of `src` to index `dest_fx` of `dest` (0 to its count:
-- inserted there). REAPER's C function returns nothing.
function reaper.TakeFX_CopyToTake(src, src_fx, dest, dest_fx, is_move)
  local name = "TakeFX_CopyToTake"
  check_kind(name, src, "MediaItem_Take", 1)
  check_type(name, src_fx, "number", 2)
  check_kind(name, dest, "MediaItem_Take", 3)
  check_type(name, dest_fx, "number", 4)
  check_type(name, is_move, "boolean", 5)
  if src_fx % 1 ~= 0 or src_fx < 0 or src_fx >= #src.fx then fail(name, "no FX " .. src_fx) end
  if dest_fx % 1 ~= 0 or dest_fx < 0 or dest_fx > #dest.fx then fail(name, "index " .. dest_fx) end
  local fx = src.fx[src_fx + 1]
  if is_move then table.remove(src.fx, src_fx + 1) end
  table.insert(dest.fx, dest_fx + 1, fx)
  changed(name)
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
