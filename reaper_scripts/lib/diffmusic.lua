-- DiffMusic Bridge for REAPER: the library every DiffMusic action loads.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- The round trip of one action:
--   1. collect: check the selection (audio takes, a time selection inside the item, ...) before
--      touching anything, and show one clear message if something is wrong;
--   2. export: read each take through an audio accessor (item position, take start offset and
--      playrate honoured, all channels, at the source's sample rate) and write it as a 32-bit
--      float WAV into a job folder, a block per defer cycle;
--   3. run: start `diffmusic submit ... --wait --status-file ...` in the background (REAPER's Lua
--      has no sockets; the CLI client is the transport) and poll its status file with
--      reaper.defer, showing progress in a small window (Esc or the button cancels);
--   4. place: when every job has ended, add the renders as new takes on the same items (or new
--      tracks, one per separated source) inside one undo block, and build their peaks.
-- Jobs are also kept in a registry (ExtState + a job.json per job folder) so that
-- "DiffMusic - Import finished renders" can place renders that finished while no script waited.

local M = {}

M.SECTION = "DiffMusic"
M.TITLE = "DiffMusic"

-- ---------------------------------------------------------------------------------- settings

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

function M.get_setting(key)
  local value = reaper.GetExtState(M.SECTION, key)
  if value == "" then return M.DEFAULTS[key] end
  return value
end

function M.settings()
  local s = {}
  for _, key in ipairs(M.SETTING_ORDER) do s[key] = M.get_setting(key) end
  return s
end

-- Check settings; returns nil or a one-line problem.
function M.check_settings(s)
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

-- ---------------------------------------------------------------------------------- messages

function M.message(text)
  reaper.ShowMessageBox(text, M.TITLE, 0)
end

function M.log(text)
  reaper.ShowConsoleMsg("DiffMusic: " .. text .. "\n")
end

-- ---------------------------------------------------------------------------------- JSON
-- A small decoder/encoder: the status files and job records are a few flat objects, and REAPER
-- ships no JSON library.

local function json_error(_, pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local decode_value

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(text, pos)
  local parts, i = {}, pos + 1
  while true do
    local c = text:sub(i, i)
    if c == "" then json_error(text, i, "unterminated string") end
    if c == '"' then return table.concat(parts), i + 1 end
    if c == "\\" then
      local e = text:sub(i + 1, i + 1)
      if e == "u" then
        local code = tonumber(text:sub(i + 2, i + 5), 16)
        if not code then json_error(text, i, "bad \\u escape") end
        parts[#parts + 1] = utf8.char(code)
        i = i + 6
      elseif ESCAPES[e] then
        parts[#parts + 1] = ESCAPES[e]
        i = i + 2
      else
        json_error(text, i, "bad escape")
      end
    else
      local j = text:find('["\\]', i) or #text + 1
      parts[#parts + 1] = text:sub(i, j - 1)
      i = j
    end
  end
end

decode_value = function(text, pos)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local object = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "}" then return object, pos + 1 end
    while true do
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= '"' then json_error(text, pos, "expected a key") end
      local key
      key, pos = decode_string(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ":" then json_error(text, pos, "expected ':'") end
      object[key], pos = decode_value(text, pos + 1)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "}" then return object, pos + 1 end
      if d ~= "," then json_error(text, pos, "expected ',' or '}'") end
      pos = pos + 1
    end
  elseif c == "[" then
    local array = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "]" then return array, pos + 1 end
    while true do
      array[#array + 1], pos = decode_value(text, pos)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "]" then return array, pos + 1 end
      if d ~= "," then json_error(text, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(text, pos)
  elseif text:sub(pos, pos + 3) == "true" then
    return true, pos + 4
  elseif text:sub(pos, pos + 4) == "false" then
    return false, pos + 5
  elseif text:sub(pos, pos + 3) == "null" then
    return M.null, pos + 4
  else
    local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not number or number == "" or not tonumber(number) then json_error(text, pos, "unexpected input") end
    return tonumber(number), pos + #number
  end
end

M.null = setmetatable({}, { __tostring = function() return "null" end })

function M.json_decode(text)
  local value, pos = decode_value(text, 1)
  pos = skip(text, pos)
  if pos <= #text then json_error(text, pos, "trailing characters") end
  return value
end

local function encode_value(value, out)
  local kind = type(value)
  if value == nil or value == M.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(value)
  elseif kind == "number" then
    out[#out + 1] = math.type(value) == "integer" and tostring(value) or string.format("%.17g", value)
  elseif kind == "string" then
    out[#out + 1] = '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif kind == "table" then
    if value[1] ~= nil then
      out[#out + 1] = "["
      for i, v in ipairs(value) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(v, out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(value) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(k, out)
        out[#out + 1] = ":"
        encode_value(value[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    error("JSON: cannot encode a " .. kind, 0)
  end
end

function M.json_encode(value)
  local out = {}
  encode_value(value, out)
  return table.concat(out)
end

-- ---------------------------------------------------------------------------------- files

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Write a whole file atomically: a temporary file beside it, then a rename.
function M.write_file(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

function M.join(...)
  return table.concat({ ... }, M.is_windows() and "\\" or "/")
end

function M.is_windows()
  return reaper.GetOS():match("^Win") ~= nil
end

-- Quote one argument for the shell that runs the job script.
function M.quote(arg)
  arg = tostring(arg)
  if M.is_windows() then return '"' .. arg:gsub('"', '\\"') .. '"' end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

-- ---------------------------------------------------------------------------------- WAV
-- REAPER's Lua has no audio file writer, so the RIFF bytes are packed by hand: a canonical
-- 44-byte header (IEEE float, 32 bits) followed by interleaved little-endian floats.

function M.wav_header(rate, channels, frames)
  local data_bytes = frames * channels * 4
  return "RIFF" .. string.pack("<I4", 36 + data_bytes) .. "WAVE"
    .. "fmt " .. string.pack("<I4I2I2I4I4I2I2", 16, 3, channels, rate, rate * channels * 4, channels * 4, 32)
    .. "data" .. string.pack("<I4", data_bytes)
end

-- Where the data of a WAV file starts, and its format; nil and a message if it is not one.
function M.wav_info(path)
  local f = io.open(path, "rb")
  if not f then return nil, "missing file " .. path end
  local head = f:read(12)
  if not head or #head < 12 or head:sub(1, 4) ~= "RIFF" or head:sub(9, 12) ~= "WAVE" then
    f:close()
    return nil, path .. " is not a WAV file"
  end
  local info, offset = {}, 12
  while true do
    local chunk = f:read(8)
    if not chunk or #chunk < 8 then break end
    local id, size = chunk:sub(1, 4), string.unpack("<I4", chunk, 5)
    offset = offset + 8
    if id == "fmt " then
      local body = f:read(size + size % 2)
      local tag, channels, rate, _, _, bits = string.unpack("<I2I2I4I4I2I2", body)
      if tag == 0xFFFE then tag = string.unpack("<I2", body, 25) end
      info.float, info.channels, info.rate, info.bits = tag == 3, channels, rate, bits
    elseif id == "data" then
      info.data_offset, info.data_bytes = offset, size
      break
    else
      f:seek("cur", size + size % 2)
    end
    offset = offset + size + size % 2
  end
  f:close()
  if not info.rate or not info.data_offset then return nil, path .. ": no fmt or data chunk" end
  info.frames = info.data_bytes // (info.channels * info.bits // 8)
  return info
end

-- Export frames [first, first + frames) of a take, on the grid of frames at `rate` from the
-- item start (frame j is at item time j / rate), as a float WAV. The accessor gives the take
-- as it plays (start offset and playrate applied), interleaved. An exporter works in steps
-- (`step(budget)` writes up to `budget` frames, true when the file is complete) so that a long
-- item is read over several defer cycles instead of freezing REAPER.
function M.exporter(take, rate, channels, first, frames, path)
  local accessor = reaper.CreateTakeAudioAccessor(take)
  local tmp = path .. ".tmp"
  local f, problem = io.open(tmp, "wb")
  if not f then
    reaper.DestroyAudioAccessor(accessor)
    error(problem, 0)
  end
  f:write(M.wav_header(rate, channels, frames))
  local block = 4096
  local buffer = reaper.new_array(block * channels)
  local done = 0
  local exporter = {}
  function exporter.close()
    if accessor then reaper.DestroyAudioAccessor(accessor) end
    if f then f:close(); os.remove(tmp) end
    accessor, f = nil, nil
  end
  function exporter.step(budget)
    local ok, complete = pcall(function()
      local stop = math.min(frames, done + budget)
      while done < stop do
        local n = math.min(block, stop - done)
        buffer.clear()
        reaper.GetAudioAccessorSamples(accessor, rate, channels, (first + done) / rate, n, buffer)
        local values = buffer.table(1, n * channels)
        local parts = {}
        for i = 1, #values, 512 do
          local j = math.min(i + 511, #values)
          parts[#parts + 1] = string.pack("<" .. string.rep("f", j - i + 1), table.unpack(values, i, j))
        end
        assert(f:write(table.concat(parts)))
        done = done + n
      end
      if done < frames then return false end
      assert(f:close())
      f = nil
      assert(os.rename(tmp, path))
      reaper.DestroyAudioAccessor(accessor)
      accessor = nil
      return true
    end)
    if not ok then
      exporter.close()
      error(complete, 0)
    end
    return complete
  end
  return exporter
end

-- Copy `base` (our own float WAV) to `path`, with frames [first, first + n) replaced by the
-- frames of `patch` (a float WAV with the same rate and channels and n frames): how a restored
-- stretch around a dropout goes back into the full item, byte for byte everywhere else.
function M.splice_wav(base, patch, first, path)
  local b, problem = M.wav_info(base)
  if not b then return nil, problem end
  local p
  p, problem = M.wav_info(patch)
  if not p then return nil, problem end
  if not p.float or p.bits ~= 32 then return nil, patch .. ": expected a 32-bit float WAV" end
  if p.rate ~= b.rate or p.channels ~= b.channels then
    return nil, string.format("%s: %d Hz, %d channels; expected %d Hz, %d channels",
      patch, p.rate, p.channels, b.rate, b.channels)
  end
  if first < 0 or first + p.frames > b.frames then
    return nil, patch .. ": the restored stretch does not fit in the item"
  end
  local frame_bytes = b.channels * 4
  local src = assert(io.open(base, "rb"))
  local pf = assert(io.open(patch, "rb"))
  local tmp = path .. ".tmp"
  local out = assert(io.open(tmp, "wb"))
  local function copy(from, count)
    while count > 0 do
      local chunk = from:read(math.min(count, 1 << 20))
      out:write(chunk)
      count = count - #chunk
    end
  end
  copy(src, b.data_offset + first * frame_bytes)      -- header and frames before the patch
  pf:seek("set", p.data_offset)
  copy(pf, p.frames * frame_bytes)                     -- the restored frames
  src:seek("cur", p.frames * frame_bytes)
  copy(src, (b.frames - first - p.frames) * frame_bytes) -- frames after the patch
  src:close(); pf:close(); out:close()
  assert(os.rename(tmp, path))
  return path
end

-- ---------------------------------------------------------------------------------- takes

local function item_label(item, take)
  local _, name = reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", "", false)
  if name == "" then
    local track = reaper.GetMediaItem_Track(item)
    local _, track_name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
    name = "item on track " .. math.floor(reaper.GetMediaTrackInfo_Value(track, "IP_TRACKNUMBER"))
    if track_name ~= "" then name = "item on " .. track_name end
  end
  return name
end

-- What a job needs to know about one selected item; nil and a message for what cannot be used.
function M.describe_item(item)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "a selected item has no take" end
  local label = item_label(item, take)
  if reaper.TakeIsMIDI(take) then
    return nil, "'" .. label .. "' is a MIDI take; DiffMusic works on audio takes"
  end
  local source = reaper.GetMediaItemTake_Source(take)
  local rate = source and reaper.GetMediaSourceSampleRate(source) or 0
  local channels = source and reaper.GetMediaSourceNumChannels(source) or 0
  if rate <= 0 or channels <= 0 then
    return nil, "'" .. label .. "' has no audio source"
  end
  local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local _, item_guid = reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)
  local _, take_guid = reaper.GetSetMediaItemTakeInfo_String(take, "GUID", "", false)
  local track = reaper.GetMediaItem_Track(item)
  local _, track_guid = reaper.GetSetMediaTrackInfo_String(track, "GUID", "", false)
  local _, track_name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
  rate = math.floor(rate + 0.5)
  return {
    item = item, take = take, label = label, rate = rate, channels = channels,
    position = position, length = length,
    frames = math.ceil(length * rate - 1e-6),   -- frames of the item at the source rate
    item_guid = item_guid, take_guid = take_guid, track_guid = track_guid, track_name = track_name,
    vol = reaper.GetMediaItemTakeInfo_Value(take, "D_VOL"),
    pan = reaper.GetMediaItemTakeInfo_Value(take, "D_PAN"),
  }
end

-- Every selected item, checked; nil and a message if there is none or one cannot be used.
function M.selected_items()
  local count = reaper.CountSelectedMediaItems(0)
  if count == 0 then return nil, "Select one or more audio items first." end
  local items = {}
  for i = 0, count - 1 do
    local info, problem = M.describe_item(reaper.GetSelectedMediaItem(0, i))
    if not info then return nil, problem end
    items[#items + 1] = info
  end
  return items
end

-- ---------------------------------------------------------------------------------- jobs

local function new_job_id()
  return string.format("reaper-%s-%06x", os.date("!%Y%m%dT%H%M%S"), math.random(0, 0xFFFFFF))
end

function M.job_root(s)
  if s.job_folder ~= "" then return s.job_folder end
  local project = reaper.GetProjectPath("")
  if project == "" then project = reaper.GetResourcePath() end
  return M.join(project, "DiffMusic")
end

-- A new job: its folder and the exports of the take's audio still to be done (see
-- `M.read_step`). `spec` fields:
--   task, flags (list of CLI arguments), label, kind ("take" | "tracks"),
--   first, frames: the item frames sent (the whole item unless a stretch around a gap),
--   splice: true when the render covers only [first, first + frames) and goes back into the item.
function M.new_job(info, spec, s)
  local id = new_job_id()
  local dir = M.join(M.job_root(s), id)
  reaper.RecursiveCreateDirectory(dir, 0)
  local input = M.join(dir, "input.wav")
  local job = {
    id = id, dir = dir, task = spec.task, flags = spec.flags, label = spec.label,
    kind = spec.kind, input = input, status = M.join(dir, "status.json"),
    output = spec.kind == "tracks" and M.join(dir, "sources") or M.join(dir, "restored.wav"),
    item_guid = info.item_guid, take_guid = info.take_guid, track_guid = info.track_guid,
    track_name = info.track_name, item_label = info.label, position = info.position,
    length = info.length, rate = info.rate, channels = info.channels, frames = info.frames,
    first = spec.first, sent_frames = spec.frames, vol = info.vol, pan = info.pan,
    created = os.time(),
  }
  local exports = { { first = spec.first, frames = spec.frames, path = input } }
  if spec.splice then
    -- the whole item as it plays now, into which the restored stretch is spliced
    job.full = M.join(dir, "item.wav")
    job.placed_file = M.join(dir, "item-restored.wav")
    exports[2] = { first = 0, frames = info.frames, path = job.full }
  end
  -- kept outside the job record (which is written to job.json)
  return job, { take = info.take, exports = exports }
end

-- Read up to `budget` more frames of a job's audio; true when all of it and job.json are written.
function M.read_step(job, reading, budget)
  local e = reading.exports[1]
  if e then
    if not e.exporter then
      e.exporter = M.exporter(reading.take, job.rate, job.channels, e.first, e.frames, e.path)
    end
    if e.exporter.step(budget) then table.remove(reading.exports, 1) end
    if #reading.exports > 0 then return false end
  end
  M.write_file(M.join(job.dir, "job.json"), M.json_encode(job))
  return true
end

function M.close_reading(reading)
  for _, e in ipairs(reading.exports) do
    if e.exporter then e.exporter.close() end
  end
  reading.exports = {}
end

function M.load_job(dir)
  local text = M.read_file(M.join(dir, "job.json"))
  if not text then return nil end
  local ok, job = pcall(M.json_decode, text)
  if not ok then return nil end
  return job
end

-- The registry: ids of jobs whose renders are not placed yet ("pending"), and each job's folder.
function M.pending_ids()
  local ids = {}
  for id in reaper.GetExtState(M.SECTION, "pending"):gmatch("%S+") do ids[#ids + 1] = id end
  return ids
end

function M.register_job(job)
  reaper.SetExtState(M.SECTION, "job." .. job.id, job.dir, true)
  local ids = M.pending_ids()
  ids[#ids + 1] = job.id
  reaper.SetExtState(M.SECTION, "pending", table.concat(ids, " "), true)
end

function M.is_pending(id)
  for _, other in ipairs(M.pending_ids()) do
    if other == id then return true end
  end
  return false
end

function M.unregister_job(id)
  local keep = {}
  for _, other in ipairs(M.pending_ids()) do
    if other ~= id then keep[#keep + 1] = other end
  end
  reaper.SetExtState(M.SECTION, "pending", table.concat(keep, " "), true)
  reaper.DeleteExtState(M.SECTION, "job." .. id, true)
  reaper.DeleteExtState(M.SECTION, "beat." .. id, false)
end

function M.pending_jobs()
  local jobs = {}
  for _, id in ipairs(M.pending_ids()) do
    local dir = reaper.GetExtState(M.SECTION, "job." .. id)
    local job = dir ~= "" and M.load_job(dir)
    if job then jobs[#jobs + 1] = job else M.unregister_job(id) end
  end
  return jobs
end

-- ---------------------------------------------------------------------------------- running

-- The `diffmusic submit` command line of a job (the contract in CONTRACTS.md).
function M.submit_arguments(job, s)
  local args = { s.cli, "submit", job.input, "--task", job.task }
  for _, flag in ipairs(job.flags or {}) do args[#args + 1] = flag end
  if s.preset ~= "" then table.move({ "--preset", s.preset }, 1, 2, #args + 1, args) end
  table.move({ "--backend", s.backend }, 1, 2, #args + 1, args)
  if s.model ~= "" then table.move({ "--model", s.model }, 1, 2, #args + 1, args) end
  if s.steps ~= "" then table.move({ "--steps", s.steps }, 1, 2, #args + 1, args) end
  table.move({ "--job-id", job.id, "--wait", "-o", job.output, "--status-file", job.status, "--json" },
    1, 9, #args + 1, args)
  if s.connection_file ~= "" then
    table.move({ "--connection-file", s.connection_file }, 1, 2, #args + 1, args)
  end
  return args
end

-- Start a command in the background: a small shell script in the job folder (kept for the
-- user to read or rerun) that logs the output and records the exit code, started through
-- ExecProcess without waiting.
function M.launch(dir, name, args)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = M.quote(a) end
  local log, code = M.join(dir, name .. ".log"), M.join(dir, name .. ".exit")
  os.remove(code)
  local script
  if M.is_windows() then
    script = M.join(dir, name .. ".cmd")
    M.write_file(script, "@echo off\r\n" .. table.concat(quoted, " ") .. " > " .. M.quote(log)
      .. " 2>&1\r\necho %ERRORLEVEL% > " .. M.quote(code) .. "\r\n")
    reaper.ExecProcess('cmd.exe /C "' .. script .. '"', -2)
  else
    script = M.join(dir, name .. ".sh")
    M.write_file(script, "#!/bin/sh\n" .. table.concat(quoted, " ") .. " > " .. M.quote(log)
      .. " 2>&1\necho $? > " .. M.quote(code) .. "\n")
    local command = '/bin/sh "' .. script .. '"'
    if reaper.ExecProcess(command, -1) == nil then
      os.execute(command .. " >/dev/null 2>&1 &") -- ExecProcess could not start it
    end
  end
  return { log = log, code = code }
end

function M.start_job(job, s)
  os.remove(job.status)
  job.process = M.launch(job.dir, "submit", M.submit_arguments(job, s))
  job.started = reaper.time_precise()
  job.state, job.fraction = "starting", 0
end

function M.cancel_job(job, s)
  local args = { s.cli, "cancel", job.id }
  if s.connection_file ~= "" then
    table.move({ "--connection-file", s.connection_file }, 1, 2, #args + 1, args)
  end
  M.launch(job.dir, "cancel", args)
end

local function last_line(path)
  local text = M.read_file(path) or ""
  local line = ""
  for l in text:gmatch("[^\r\n]+") do
    if l:match("%S") then line = l end
  end
  return line
end

-- Read a job's status file (and exit code) into job.state / job.fraction / job.error.
local FINAL = { finished = true, failed = true, cancelled = true }
M.FINAL = FINAL
local START_TIMEOUT = 120 -- seconds without any status file before giving up on the client

function M.poll_job(job, s)
  if FINAL[job.state] then return end
  local text = M.read_file(job.status)
  if text then
    local ok, status = pcall(M.json_decode, text)
    if ok and type(status) == "table" then
      job.state = status.state or job.state
      job.fraction = tonumber(status.fraction) or job.fraction
      if type(status.error) == "string" then job.error = status.error end
      if type(status.outputs) == "table" then job.outputs = status.outputs end
    end
  end
  local exit = job.process and M.read_file(job.process.code)
  if exit and not FINAL[job.state] then
    -- the client ended without a final state: it did not start, or crashed
    local code = tonumber(exit:match("%-?%d+")) or -1
    job.state = "failed"
    if code == 127 or code == 9009 then
      job.error = "the diffmusic command '" .. s.cli .. "' was not found; set its full path in "
        .. "'DiffMusic - Settings'"
    else
      local line = last_line(job.process.log)
      job.error = line ~= "" and line or ("the diffmusic client exited with code " .. code)
    end
  elseif not text and not exit and job.started
      and reaper.time_precise() - job.started > START_TIMEOUT then
    job.state = "failed"
    job.error = "the diffmusic client did not answer within " .. START_TIMEOUT .. " s"
  end
  if job.state == "finished" then
    -- the render files must all be there before the job counts as done
    if type(job.outputs) ~= "table" or #job.outputs == 0 then
      job.state, job.error = "failed", "the job finished without output files"
    else
      for _, path in ipairs(job.outputs) do
        if not reaper.file_exists(path) then
          job.state, job.error = "failed", "missing output file " .. path
        end
      end
    end
  end
end

-- ---------------------------------------------------------------------------------- placing

local function find_item(guid)
  for i = 0, reaper.CountMediaItems(0) - 1 do
    local item = reaper.GetMediaItem(0, i)
    local _, g = reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)
    if g == guid then return item end
  end
  return nil
end

local function build_peaks(source)
  if reaper.PCM_Source_BuildPeaks(source, 0) ~= 0 then
    while reaper.PCM_Source_BuildPeaks(source, 1) ~= 0 do end
    reaper.PCM_Source_BuildPeaks(source, 2)
  end
end

-- Check a render against what was sent (rate, channels, frames); nil or a problem.
local function check_render(path, job, frames)
  local info, problem = M.wav_info(path)
  if not info then return problem end
  if info.rate ~= job.rate or info.channels ~= job.channels or info.frames ~= frames then
    return string.format("%s: %d Hz, %d channels, %d frames; expected %d Hz, %d, %d",
      path, info.rate, info.channels, info.frames, job.rate, job.channels, frames)
  end
  return nil
end

-- The file that becomes the new take (covering the whole item from its start); nil, problem.
local function take_file(job)
  local render = job.outputs[1]
  local problem = check_render(render, job, job.sent_frames)
  if problem then return nil, problem end
  if not job.full then return render end
  return M.splice_wav(job.full, render, job.first, job.placed_file)
end

-- A take (new or on a new item) playing `path` from the item start at the project's rate:
-- sample k of the file sounds at item time k / rate, exactly where the sent audio came from.
local function set_take(take, path, name, job)
  local source = reaper.PCM_Source_CreateFromFile(path)
  reaper.SetMediaItemTake_Source(take, source)
  reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", 0)
  reaper.SetMediaItemTakeInfo_Value(take, "D_PLAYRATE", 1)
  reaper.SetMediaItemTakeInfo_Value(take, "D_VOL", job.vol or 1)
  reaper.SetMediaItemTakeInfo_Value(take, "D_PAN", job.pan or 0)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  build_peaks(source)
end

-- Place one finished job (inside the caller's undo block); nil or a problem.
local function place_one(job, created_tracks)
  local item = find_item(job.item_guid)
  if not item then
    return "the item of '" .. job.item_label .. "' is gone; the render is in " .. job.dir
  end
  if job.kind == "tracks" then
    for _, path in ipairs(job.outputs) do
      local problem = check_render(path, job, job.sent_frames)
      if problem then return problem end
    end
    local parent = reaper.GetMediaItem_Track(item)
    local tracks = created_tracks[job.track_guid] or {}
    created_tracks[job.track_guid] = tracks
    local base = job.track_name ~= "" and job.track_name or job.item_label
    for i, path in ipairs(job.outputs) do
      local track = tracks[i]
      if not track or not reaper.ValidatePtr2(0, track, "MediaTrack*") then
        local index = math.floor(reaper.GetMediaTrackInfo_Value(parent, "IP_TRACKNUMBER")) + i - 1
        reaper.InsertTrackAtIndex(index, true)
        track = reaper.GetTrack(0, index)
        reaper.GetSetMediaTrackInfo_String(track, "P_NAME", base .. " - source " .. i, true)
        tracks[i] = track
      end
      local new_item = reaper.AddMediaItemToTrack(track)
      reaper.SetMediaItemInfo_Value(new_item, "D_POSITION", job.position)
      reaper.SetMediaItemInfo_Value(new_item, "D_LENGTH", job.length)
      local take = reaper.AddTakeToMediaItem(new_item)
      set_take(take, path, job.item_label .. " (DiffMusic source " .. i .. ")", job)
      reaper.UpdateItemInProject(new_item)
    end
    return nil
  end
  local path, problem = take_file(job)
  if not path then return problem end
  local take = reaper.AddTakeToMediaItem(item)
  set_take(take, path, job.item_label .. " (DiffMusic " .. job.label .. ")", job)
  reaper.SetActiveTake(take)
  reaper.UpdateItemInProject(item)
  return nil
end

-- Place finished jobs in one undo block; returns the number placed and a list of problems.
-- Jobs that another script already placed (no longer pending) are skipped.
function M.place_jobs(jobs, undo_name)
  local ready = {}
  for _, job in ipairs(jobs) do
    if job.state == "finished" and M.is_pending(job.id) then ready[#ready + 1] = job end
  end
  if #ready == 0 then return 0, {} end
  local placed, problems, created_tracks = 0, {}, {}
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  for _, job in ipairs(ready) do
    local ok, problem = pcall(place_one, job, created_tracks)
    if not ok or problem then
      problems[#problems + 1] = tostring(problem)
    else
      placed = placed + 1
      M.unregister_job(job.id)
    end
  end
  reaper.PreventUIRefresh(-1)
  reaper.TrackList_AdjustWindows(false)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(undo_name, -1)
  return placed, problems
end

-- ---------------------------------------------------------------------------------- progress

local WINDOW_W, ROW_H = 460, 22

local function draw(title, jobs, note)
  gfx.set(0.15, 0.15, 0.15)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  gfx.setfont(1, "Arial", 15)
  gfx.set(0.9, 0.9, 0.9)
  gfx.x, gfx.y = 10, 8
  gfx.drawstr(title)
  for i, job in ipairs(jobs) do
    local y = 10 + i * ROW_H
    local fraction = math.max(0, math.min(1, job.fraction or 0))
    gfx.set(0.3, 0.3, 0.3)
    gfx.rect(10, y, WINDOW_W - 20, ROW_H - 4, 1)
    gfx.set(0.25, 0.55, 0.35)
    gfx.rect(10, y, math.floor((WINDOW_W - 20) * fraction), ROW_H - 4, 1)
    gfx.set(1, 1, 1)
    gfx.x, gfx.y = 14, y + 2
    gfx.drawstr(string.format("%s: %s %d%%", job.item_label, job.state, math.floor(fraction * 100)))
  end
  gfx.set(0.7, 0.7, 0.7)
  gfx.x, gfx.y = 10, gfx.h - 22
  gfx.drawstr(note)
  gfx.update()
end

-- Poll jobs with reaper.defer until all have ended, then place the finished ones in one undo
-- block and report. Esc or a click in the window, or the "DiffMusic - Cancel running jobs"
-- action, cancels; closing the window lets the jobs go on in the background.
-- Jobs in state "reading" (with `readings[job.id]` from M.new_job) have their audio read here
-- first, READ_BUDGET frames per defer cycle, and are started when it is written.
local READ_BUDGET = 32768

function M.watch(jobs, s, title, undo_name, readings)
  readings = readings or {}
  reaper.DeleteExtState(M.SECTION, "cancel", false)
  local height = 50 + #jobs * ROW_H
  gfx.init(M.TITLE .. " - " .. title, WINDOW_W, height)
  local window, cancelled = true, false
  -- A cancel goes to the daemon once it knows the job (queued or running): one sent while the
  -- client is still starting would find no job there and be lost.
  local function send_cancels()
    for _, job in ipairs(jobs) do
      if not job.cancel_sent and (job.state == "queued" or job.state == "running") then
        job.cancel_sent = true
        M.cancel_job(job, s)
      end
    end
  end
  local function cancel()
    cancelled = true
    send_cancels()
  end
  local function finish()
    if window then gfx.quit() end
    if cancelled then
      for _, job in ipairs(jobs) do M.unregister_job(job.id) end
      M.log("cancelled; nothing was changed.")
      return
    end
    local placed, problems = M.place_jobs(jobs, undo_name)
    for _, job in ipairs(jobs) do
      if job.state ~= "finished" then
        M.unregister_job(job.id)
        problems[#problems + 1] = string.format("'%s': %s", job.item_label,
          job.state == "cancelled" and "cancelled" or (job.error or "failed"))
      end
    end
    if #problems > 0 then
      M.message(string.format("%s: %d of %d done.\n\n%s", title, placed, #jobs,
        table.concat(problems, "\n")))
    else
      M.log(string.format("%s: %d render(s) placed.", title, placed))
    end
  end
  local function read(job)
    local reading = readings[job.id]
    if cancelled then
      M.close_reading(reading)
      job.state = "cancelled"
      return
    end
    local ok, done = pcall(M.read_step, job, reading, READ_BUDGET)
    if not ok then
      M.close_reading(reading)
      job.state, job.error = "failed", "could not write its audio: " .. tostring(done)
    elseif done then
      readings[job.id] = nil
      M.register_job(job)
      M.start_job(job, s)
    end
  end
  local function step()
    local running, reading = false, false
    for _, job in ipairs(jobs) do
      if job.state == "reading" then
        if not reading then read(job) end -- one job's audio at a time
        reading = true
      else
        M.poll_job(job, s)
      end
      if not FINAL[job.state] then running = true end
      -- a heartbeat: "Import finished renders" leaves the jobs of a running script alone
      reaper.SetExtState(M.SECTION, "beat." .. job.id, tostring(os.time()), false)
    end
    if reaper.GetExtState(M.SECTION, "cancel") ~= "" then cancel() end
    if cancelled then send_cancels() end
    if window then
      local key = gfx.getchar()
      if key == 27 or (gfx.mouse_cap & 1 == 1 and gfx.mouse_y > gfx.h - 26) then
        cancel()
      elseif key < 0 then
        window = false
        M.log(title .. ": the window was closed; the jobs go on and their renders will be placed.")
      end
    end
    if window then
      draw(title, jobs, cancelled and "Cancelling..." or "Esc or click here: cancel")
    end
    if running then
      reaper.defer(step)
    else
      finish()
    end
  end
  step()
end

-- ---------------------------------------------------------------------------------- actions

-- The common body of every action: check settings and items, build the jobs (spec_for(info)
-- gives a job spec or nil and a problem), start them, and watch them.
function M.run_action(title, undo_name, spec_for, nothing_message)
  local s = M.settings()
  local problem = M.check_settings(s)
  if problem then
    M.message("Settings: " .. problem .. ".\nFix it in 'DiffMusic - Settings'.")
    return
  end
  local items
  items, problem = M.selected_items()
  if not items then
    M.message(problem)
    return
  end
  local specs = {}
  for _, info in ipairs(items) do
    local spec, why = spec_for(info, s)
    if spec then
      specs[#specs + 1] = { info = info, spec = spec }
    elseif why then
      M.message(why)
      return
    end
  end
  if #specs == 0 then
    M.message(nothing_message or "Nothing to do for the selected items.")
    return
  end
  local jobs, readings = {}, {}
  for _, entry in ipairs(specs) do
    local ok, job, reading = pcall(M.new_job, entry.info, entry.spec, s)
    if not ok then
      M.message("Could not create a job folder for '" .. entry.info.label .. "': " .. tostring(job))
      return
    end
    job.state, job.fraction = "reading", 0
    jobs[#jobs + 1], readings[job.id] = job, reading
  end
  M.watch(jobs, s, title, undo_name, readings)
end

-- A whole-item task (dereverb, bandwidth, phase, separation): the spec for one item.
function M.whole_item(task, flags, label, kind)
  return function(info)
    return { task = task, flags = flags, label = label, kind = kind or "take", first = 0, frames = info.frames }
  end
end

return M
