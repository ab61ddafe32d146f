-- DiffMusic for REAPER: `diffmusic diagnose FILE --json` in the background, what it found (the
-- room, dropouts, clicks, clipping), and the project regions that mark damage for repair.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- The report is one JSON object (docs/protocol.md, "diagnose --json"): {"event": "diagnosis",
-- "reverb": {"rt60_s", "rt60_bands", "drr_db", "confidence"} | null, "bandwidth": {...},
-- "dropouts": [{"start", "end", "channels"}], "clicks": [{"start", "end"}], "clipping": {"level",
-- "fraction", "regions": [{"start", "end"}]} | null}; times in seconds of the file.

local use = ... -- the library's module loader (lib/diffmusic.lua)
local json = use("json")
local runner = use("runner")
local selection = use("items")
local system = use("system")

local M = {}

-- Damage the repair assistant marks, in report order: the report's key, the name its regions
-- get ("DiffMusic: <name>"), the task that repairs it with the seconds sent around it
-- (`context` nil: the dropout context setting), and the flag that gives the task each region
-- (`flag` nil: the task finds the damage in what is sent; clipping is read exactly).
M.DAMAGE = {
  { key = "dropouts", name = "dropout", task = "inpaint", label = "dropout restore",
    flag = "--gap" },
  { key = "clicks", name = "click", task = "declick", label = "declick", context = 0.5,
    flag = "--click" },
  { key = "clipping", name = "clipping", task = "declip", label = "declip", context = 0.5 },
}
M.REGION_PREFIX = "DiffMusic: "

-- Start diagnosing `path`; the output goes to dir/diagnose.log (see runner.launch). It stops
-- once dir/diagnose.stop exists (M.stop: a cancel, which a script without signals can send).
function M.start(dir, path, s)
  local stop = system.join(dir, "diagnose.stop")
  return runner.launch(dir, "diagnose", { s.cli, "diagnose", path, "--json", "--stop-file", stop })
end

-- Stop the diagnosis started in `dir` (a cancelled action had left it running on the CPU).
function M.stop(dir)
  system.write_file(system.join(dir, "diagnose.stop"), "cancelled\n")
end

-- Nothing while the command runs; then "done" and the report, or "failed" and a problem.
function M.poll(process, s)
  local exit = system.read_file(process.code)
  if not exit then return nil end
  local report, problem
  for line in (system.read_file(process.log) or ""):gmatch("[^\r\n]+") do
    if line:match("^%s*{") then
      local ok, value = pcall(json.decode, line)
      if ok and type(value) == "table" and value.event == "diagnosis" then report = value end
      if ok and type(value) == "table" and value.event == "error" then problem = value.message end
    end
  end
  if report then return "done", report end
  return "failed", type(problem) == "string" and problem or runner.exit_problem(process, exit, s)
end

local function given(value) return value ~= nil and value ~= json.null end

-- One line on the room of a report.
function M.describe_room(report)
  local reverb = report.reverb
  if not given(reverb) or not tonumber(reverb.rt60_s) then
    return "no room reverberation measured"
  end
  local text = string.format("room RT60 %.2f s", reverb.rt60_s)
  if tonumber(reverb.drr_db) then text = text .. string.format(", DRR %+.1f dB", reverb.drr_db) end
  if tonumber(reverb.confidence) then
    text = text .. string.format(" (confidence %.2f)", reverb.confidence)
  end
  return text
end

-- The stretches of damage in a report: { {damage = M.DAMAGE entry, start = s, stop = s}, ... }.
function M.damage(report)
  local found = {}
  for _, damage in ipairs(M.DAMAGE) do
    local list = report[damage.key]
    if given(list) and damage.key == "clipping" then list = list.regions end
    for _, span in ipairs(given(list) and list or {}) do
      local start, stop = tonumber(span.start), tonumber(span["end"])
      if start and stop and stop > start then
        found[#found + 1] = { damage = damage, start = start, stop = stop }
      end
    end
  end
  return found
end

-- A region found in an item belongs to it: regions span every track, and a dropout of the bass
-- must not be "repaired" in the vocal beside it. The project's ExtState "DiffMusic" keeps, under
-- "region.<index>", "<item GUID> <start> <stop> <track GUID>" (the track since this version);
-- a region moved since (or drawn by hand) belongs to every item it overlaps. One whose item is
-- gone or no longer under it (split: the left part keeps the GUID; glued: a new item) belongs
-- to the items of that item's track that it overlaps.
local function owner_key(index) return "region." .. math.floor(index) end
local function bounds(start, stop) return string.format("%.9f %.9f", start, stop) end

-- Mark found damage on the project as regions "DiffMusic: <name>" (times in the item from
-- `position`, cut to the item's `length`), owned by the item `item_guid` on the track
-- `track_guid`; returns how many.
function M.mark(found, position, length, item_guid, track_guid)
  local added = 0
  for _, f in ipairs(found) do
    local start, stop = math.max(0, f.start), math.min(length, f.stop)
    if stop > start then
      local index = reaper.AddProjectMarker2(0, true, position + start, position + stop,
        M.REGION_PREFIX .. f.damage.name, -1, 0)
      reaper.SetProjExtState(0, system.TITLE, owner_key(index),
        item_guid .. " " .. bounds(position + start, position + stop) .. " " .. (track_guid or ""))
      added = added + 1
    end
  end
  return added
end

-- The owner of a region [start, stop) from its ExtState entry: the item's GUID while that item
-- is under it, else nil and the GUID of the track whose items it belongs to (nil: any track).
local function owner_of(entry, start, stop)
  local guid, where, track = entry:match("^(%S+) (%S+ %S+) ?(%S*)$")
  if not guid or where ~= bounds(start, stop) then return nil, nil end
  local item = selection.find(guid)
  if item then
    local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
    if start < position + reaper.GetMediaItemInfo_Value(item, "D_LENGTH") and stop > position then
      return guid, nil
    end
    track = select(2, reaper.GetSetMediaTrackInfo_String(reaper.GetMediaItem_Track(item), "GUID", "", false))
  end
  return nil, track ~= "" and track or nil
end

-- The damage regions of the project: { {damage = entry, start = s, stop = s, item = GUID or
-- nil, track = GUID or nil}, ... } (project time); see owner_of.
function M.marked()
  local marked = {}
  local by_name = {}
  for _, damage in ipairs(M.DAMAGE) do by_name[M.REGION_PREFIX .. damage.name] = damage end
  local count = reaper.CountProjectMarkers(0) -- markers and regions
  for i = 0, count - 1 do
    local _, isrgn, start, stop, name, index = reaper.EnumProjectMarkers3(0, i)
    if isrgn and by_name[name] then
      local _, entry = reaper.GetProjExtState(0, system.TITLE, owner_key(index))
      local item, track = owner_of(entry, start, stop)
      marked[#marked + 1] = { damage = by_name[name], start = start, stop = stop, item = item, track = track }
    end
  end
  return marked
end

return M
