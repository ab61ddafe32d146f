-- DiffMusic for REAPER: the selected items and what a job needs to know about each.
-- SPDX-License-Identifier: GPL-3.0-or-later

local M = {}

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

-- Where an item is, for messages: "the item at 12.500 s on track 2 (Vox)".
function M.where(item)
  local track = reaper.GetMediaItem_Track(item)
  local _, name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
  local text = string.format("the item at %.3f s on track %d", reaper.GetMediaItemInfo_Value(item, "D_POSITION"),
    math.floor(reaper.GetMediaTrackInfo_Value(track, "IP_TRACKNUMBER")))
  return name ~= "" and text .. " (" .. name .. ")" or text
end

-- REAPER's source types (GetMediaSourceType) of lossy codecs: the WAV a job exports from such a
-- take is told to the CLI as lossy coded (--lossy), whose dropout rule then reads the codec's dips.
-- Public scripts confirm "WAVE", "MIDI", "SECTION" (with GetMediaSourceParent) and "VIDEO" for an
-- .m4a; these three names are REAPER's file types, not checked in REAPER: an AAC take (.m4a,
-- "VIDEO") is not told lossy.
M.LOSSY_SOURCE_TYPES = { MP3 = true, VORBIS = true, OPUS = true }

-- Whether a take's source was decoded from a lossy codec; a section or reversed source plays
-- its parent's file, so the parent's type is the one read.
function M.lossy_coded(source)
  while source and reaper.GetMediaSourceType(source, "") == "SECTION" do
    source = reaper.GetMediaSourceParent(source)
  end
  return source ~= nil and M.LOSSY_SOURCE_TYPES[reaper.GetMediaSourceType(source, "")] == true
end

-- What a job needs to know about one selected item; nil and a message for what cannot be used.
function M.describe(item)
  local take = reaper.GetActiveTake(item)
  if not take then
    return nil, "A selected item is empty (no take): " .. M.where(item) .. "; deselect it or delete it."
  end
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
    take_name = select(2, reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", "", false)),
    vol = reaper.GetMediaItemTakeInfo_Value(take, "D_VOL"),
    pan = reaper.GetMediaItemTakeInfo_Value(take, "D_PAN"),
    startoffs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
    playrate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE"),
    source_file = reaper.GetMediaSourceFileName(source, ""), lossy = M.lossy_coded(source),
  }
end

-- The item whose GUID is `guid` in the project, or nil.
function M.find(guid)
  for i = 0, reaper.CountMediaItems(0) - 1 do
    local item = reaper.GetMediaItem(0, i)
    if select(2, reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)) == guid then return item end
  end
  return nil
end

-- The take of `item` whose GUID is `guid`, or nil.
function M.take_of(item, guid)
  for i = 0, reaper.CountTakes(item) - 1 do
    local take = reaper.GetTake(item, i)
    if select(2, reaper.GetSetMediaItemTakeInfo_String(take, "GUID", "", false)) == guid then return take end
  end
  return nil
end

-- The state a job's audio and its placement depend on, as `describe` records it (in `job`):
-- what of it the item no longer has, { {key = "deleted" | "take" | "source" | a field's key,
-- text = a phrase}, ... } (empty when nothing changed). `reading`: only what an audio accessor
-- reads the take by (not the item's position).
local STATE = {
  { key = "position", param = "D_POSITION", name = "position", unit = " s", placed = true },
  { key = "length", param = "D_LENGTH", name = "length", unit = " s" },
  { key = "startoffs", param = "D_STARTOFFS", name = "take start offset", unit = " s", take = true },
  { key = "playrate", param = "D_PLAYRATE", name = "playrate", unit = "", take = true },
}
function M.edits(job, item, reading)
  if not reaper.ValidatePtr2(0, item, "MediaItem*") then return { { key = "deleted", text = "it was deleted" } } end
  local take = M.take_of(item, job.take_guid)
  if not take then return { { key = "take", text = "its take was deleted" } } end
  local changes = {}
  for _, field in ipairs(STATE) do
    local now = field.take and reaper.GetMediaItemTakeInfo_Value(take, field.param)
      or reaper.GetMediaItemInfo_Value(item, field.param)
    if job[field.key] and not (reading and field.placed) and math.abs(now - job[field.key]) > 1e-9 then
      changes[#changes + 1] = { key = field.key,
        text = string.format("%s %.3f -> %.3f%s", field.name, job[field.key], now, field.unit) }
    end
  end
  local source = reaper.GetMediaItemTake_Source(take)
  local file = source and reaper.GetMediaSourceFileName(source, "") or ""
  if job.source_file and file ~= job.source_file then
    changes[#changes + 1] = { key = "source", text = "its source " .. job.source_file .. " -> " .. file }
  end
  return changes
end

-- The phrases of M.edits's changes, joined.
function M.said(changes)
  local texts = {}
  for i, change in ipairs(changes) do texts[i] = change.text end
  return table.concat(texts, ", ")
end

-- Every selected item, checked; nil and a message if there is none or one cannot be used.
function M.selected()
  local count = reaper.CountSelectedMediaItems(0)
  if count == 0 then return nil, "Select one or more audio items first." end
  local items = {}
  for i = 0, count - 1 do
    local info, problem = M.describe(reaper.GetSelectedMediaItem(0, i))
    if not info then return nil, problem end
    items[#items + 1] = info
  end
  return items
end

-- Project times [start, stop) as frames [a, b) of an item (frame j sounds at item time
-- j / rate), cut to the item; nil when they miss it.
function M.frames_of(info, start, stop)
  local first = math.max(start, info.position) - info.position
  local last = math.min(stop, info.position + info.length) - info.position
  if last <= first then return nil end
  local a = math.floor(first * info.rate + 0.5)
  local b = math.min(math.floor(last * info.rate + 0.5), info.frames)
  if b <= a then return nil end
  return a, b
end

-- The item frames [c0, c1) sent around frames [a, b): `seconds` (a number or its text) on each
-- side, or the whole item for "item".
function M.window(info, a, b, seconds)
  if seconds == "item" then return 0, info.frames end
  local context = math.floor(tonumber(seconds) * info.rate + 0.5)
  return math.max(0, a - context), math.min(info.frames, b + context)
end

-- `FLAG START:END` arguments (`--gap`, `--click`) for spans { {a, b}, ... } (item frames),
-- relative to frame c0.
function M.span_arguments(info, flag, spans, c0)
  local args = {}
  for _, g in ipairs(spans) do
    args[#args + 1] = flag
    args[#args + 1] = string.format("%.6f:%.6f", (g[1] - c0) / info.rate, (g[2] - c0) / info.rate)
  end
  return args
end

-- The impulse-response rule: a selected item whose take or track name holds "IR" as a word or
-- "impulse" in any case ("IR hall", "Room IR", "Impulse response") is the room's impulse
-- response for the dereverb action, not an item to process.
function M.is_impulse_response(info)
  for _, name in ipairs({ info.take_name, info.track_name }) do
    if name:find("%f[%w]IR%f[%W]") or name:lower():find("impulse", 1, true) then return true end
  end
  return false
end

return M
