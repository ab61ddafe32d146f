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

local function copy_bytes(from, out, count)
  while count > 0 do
    local chunk = from:read(math.min(count, 1 << 20))
    assert(chunk, "a WAV file ended early")
    assert(out:write(chunk))
    count = count - #chunk
  end
end

-- Copy `base` (our own float WAV) to `path`, with the frames of each piece of `pieces` ({file =
-- a float WAV with the same rate and channels, at = frame of `base` where its frame 0 goes, from,
-- to: frames [from, to) of `base` it replaces}, in order, not overlapping) taken from its file:
-- byte for byte everywhere else. Streamed: a long item is never held in memory.
function M.merge(base, pieces, path)
  local b, problem = M.info(base)
  if not b then return nil, problem end
  local formats = {} -- of each piece's file, read once
  for i, piece in ipairs(pieces) do
    local p = formats[piece.file]
    if not p then
      p, problem = M.info(piece.file)
      if not p then return nil, problem end
      if not p.float or p.bits ~= 32 then return nil, piece.file .. ": expected a 32-bit float WAV" end
      if p.rate ~= b.rate or p.channels ~= b.channels then
        return nil, string.format("%s: %d Hz, %d channels; expected %d Hz, %d channels",
          piece.file, p.rate, p.channels, b.rate, b.channels)
      end
      formats[piece.file] = p
    end
    if piece.from < (pieces[i - 1] or { to = 0 }).to then return nil, "the pieces to merge overlap" end
    if piece.at < 0 or piece.to < piece.from or piece.from < piece.at or piece.to > piece.at + p.frames
      or piece.to > b.frames then
      return nil, piece.file .. ": the restored stretch does not fit in the item"
    end
  end
  local frame_bytes = b.channels * 4
  local src = assert(io.open(base, "rb"))
  local tmp = system.temporary_for(path)
  local out = assert(io.open(tmp, "wb"))
  copy_bytes(src, out, b.data_offset) -- the header
  local done = 0 -- frames of `base` written
  for _, piece in ipairs(pieces) do
    copy_bytes(src, out, (piece.from - done) * frame_bytes) -- base frames before the piece
    local pf = assert(io.open(piece.file, "rb"))
    pf:seek("set", formats[piece.file].data_offset + (piece.from - piece.at) * frame_bytes)
    copy_bytes(pf, out, (piece.to - piece.from) * frame_bytes)
    pf:close()
    src:seek("cur", (piece.to - piece.from) * frame_bytes)
    done = piece.to
  end
  copy_bytes(src, out, (b.frames - done) * frame_bytes) -- base frames after the last piece
  src:close()
  assert(out:close())
  system.put_in_place(tmp, path)
  return path
end

-- Copy `base` to `path` with frames [first, first + n) replaced by the n frames of `patch`: how a
-- restored stretch around a dropout goes back into the full item, byte for byte everywhere else.
function M.splice(base, patch, first, path)
  local p, problem = M.info(patch)
  if not p then return nil, problem end
  return M.merge(base, { { file = patch, at = first, from = first, to = first + p.frames } }, path)
end

-- The stretches where two WAV files of one format and length differ: { {a, b}, ... } (frames
-- [a, b), in order); nil and a problem. Each stretch starts and ends on a frame that differs;
-- inside it, up to GRAIN - 1 frames in a row may be the same in both files (two changes that
-- close are one stretch). Read a block at a time, and an unequal block halved until its equal
-- halves are found: a 10-minute stereo item holds little memory and is compared at the speed of
-- string equality where nothing changed; where every frame of 9.8 stereo minutes changed,
-- halving down to single frames took 25 s, down to GRAIN 0.4-0.5 s of CPU, 0.6 s with the exact
-- ends (session 47's measurements).
local GRAIN = 64
function M.differing(one, other)
  local x, problem = M.info(one)
  if not x then return nil, problem end
  local y
  y, problem = M.info(other)
  if not y then return nil, problem end
  if x.channels ~= y.channels or x.bits ~= y.bits or x.frames ~= y.frames then
    return nil, string.format("%s and %s differ in format or length", one, other)
  end
  local frame_bytes = x.channels * x.bits // 8
  local runs = {}
  local function same(s, t, from, to) -- frames [from, to) of the two blocks
    local i, j = from * frame_bytes + 1, to * frame_bytes
    return s:sub(i, j) == t:sub(i, j)
  end
  local function scan(s, t, base, from, to) -- frames [from, to) of two blocks read at `base`
    if same(s, t, from, to) then return end
    if to - from > GRAIN then
      local middle = (from + to) // 2
      scan(s, t, base, from, middle)
      return scan(s, t, base, middle, to)
    end
    -- the first and the last frame that differ: a stretch taking in equal frames at its ends
    -- had met another repair's stretch beside it (one take each, for nothing)
    while same(s, t, from, from + 1) do from = from + 1 end
    while same(s, t, to - 1, to) do to = to - 1 end
    local last = runs[#runs]
    if last and base + from - last[2] < GRAIN then
      last[2] = base + to
    else
      runs[#runs + 1] = { base + from, base + to }
    end
  end
  local f, g = assert(io.open(one, "rb")), assert(io.open(other, "rb"))
  f:seek("set", x.data_offset)
  g:seek("set", y.data_offset)
  local block = 1 << 16 -- frames
  for base = 0, x.frames - 1, block do
    local bytes = math.min(block, x.frames - base) * frame_bytes
    local s, t = f:read(bytes), g:read(bytes)
    if not s or not t or #s < bytes or #t < bytes then
      f:close(); g:close()
      return nil, string.format("%s or %s ended early", one, other)
    end
    if s ~= t then scan(s, t, base, 0, bytes // frame_bytes) end
  end
  f:close(); g:close()
  return runs
end

return M
