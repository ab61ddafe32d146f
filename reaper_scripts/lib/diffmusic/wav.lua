-- DiffMusic for REAPER: 32-bit float WAV files: header, reading the format, exporting a take, splicing.
-- SPDX-License-Identifier: GPL-3.0-or-later

local use = ... -- the library's module loader (lib/diffmusic.lua)
local system = use("system")

local M = {}
-- REAPER's Lua has no audio file writer, so the RIFF bytes are packed by hand: a canonical
-- 44-byte header (IEEE float, 32 bits) followed by interleaved little-endian floats.

function M.header(rate, channels, frames)
  local data_bytes = frames * channels * 4
  return "RIFF" .. string.pack("<I4", 36 + data_bytes) .. "WAVE"
    .. "fmt " .. string.pack("<I4I2I2I4I4I2I2", 16, 3, channels, rate, rate * channels * 4, channels * 4, 32)
    .. "data" .. string.pack("<I4", data_bytes)
end

-- Where the data of a WAV file starts, and its format; nil and a message if it is not one.
function M.info(path)
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
  local tmp = system.temporary_for(path)
  local f, problem = io.open(tmp, "wb")
  if not f then
    reaper.DestroyAudioAccessor(accessor)
    error(problem, 0)
  end
  f:write(M.header(rate, channels, frames))
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
      system.put_in_place(tmp, path)
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
function M.splice(base, patch, first, path)
  local b, problem = M.info(base)
  if not b then return nil, problem end
  local p
  p, problem = M.info(patch)
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
  local tmp = system.temporary_for(path)
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
  system.put_in_place(tmp, path)
  return path
end

return M
