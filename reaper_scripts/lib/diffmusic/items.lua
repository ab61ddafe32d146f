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

-- What a job needs to know about one selected item; nil and a message for what cannot be used.
function M.describe(item)
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

return M
