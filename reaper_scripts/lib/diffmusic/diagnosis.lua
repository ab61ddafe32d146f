-- DiffMusic for REAPER: `diffmusic diagnose FILE --json` in the background, what it found (the
-- room, dropouts, clicks, clipping), and the project regions that mark damage for repair.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- The report is one JSON object (docs/protocol.md, "diagnose --json"): {"event": "diagnosis",
-- "reverb": {"rt60_s", "rt60_bands", "drr_db", "confidence", "regression_rt60_s" (only where
-- blind dereverb is told it)} | null, "bandwidth": {...}, "dropouts": [{"start", "end",
-- "channels"}], "clicks": [{"start", "end"}], "clipping": {"level", "fraction", "regions":
-- [{"start", "end"}]} | null, "gates": [...], "cut_ends": [...],
-- "dead_channels": [channel, ...]}; times in seconds of the file.

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
-- `lossy`: the take was decoded from a lossy codec (items.lossy_coded), which the exported WAV
-- no longer says: --lossy has the CLI read the short dropouts the codec filled.
function M.start(dir, path, s, lossy)
  local stop = system.join(dir, "diagnose.stop")
  local args = { s.cli, "diagnose", path, "--json", "--stop-file", stop }
  if lossy then args[#args + 1] = "--lossy" end
  return runner.launch(dir, "diagnose", args)
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
  -- where the free decays read the room shorter, blind dereverb is told the regression's reading
  if tonumber(reverb.regression_rt60_s) then
    text = text .. string.format("; dereverb is told %.2f s", reverb.regression_rt60_s)
  end
  return text
end

-- One line on what a report left alone that may yet be damage, or nil: the trains of dips (a
-- lossy take's, or any take's even runs of digital silence) read as a stutter gate's offs
-- ("gates": [{"start", "end", "dips"}], times in the item), which are not marked; a burst of as
-- many dropouts reads the same (docs/protocol.md).
function M.describe_left(report)
  local gates = given(report.gates) and report.gates or {}
  if #gates == 0 then return nil end
  local shown, dips = {}, 0 -- the first 8 dips named
  for _, gate in ipairs(gates) do
    for _, dip in ipairs(given(gate.dips) and gate.dips or {}) do
      dips = dips + 1
      if dips <= 8 then
        shown[dips] = string.format("%.3f-%.3f s", tonumber(dip.start) or 0, tonumber(dip["end"]) or 0)
      end
    end
  end
  return string.format("%d train(s) of dips left alone as a stutter gate's offs, not marked (dips %s%s into "
    .. "the item): listen; if they are dropouts, draw a region named \"%sdropout\" over each dip",
    #gates, table.concat(shown, ", "), dips > 8 and ", ..." or "", M.REGION_PREFIX)
end

-- One line on digital silence at the item's start or end that cuts its music off, or nil
-- ("cut_ends": [{"start", "end", "channels", "at"}], times in the item): not marked, as
-- `diagnose` fills nothing there on its own; a take that starts or stops on a hit out of digital
-- silence reads the same (docs/protocol.md, "cut_ends").
function M.describe_cut_ends(report)
  local cuts = given(report.cut_ends) and report.cut_ends or {}
  if #cuts == 0 then return nil end
  local shown = {}
  for i, cut in ipairs(cuts) do
    shown[i] = string.format("%.3f-%.3f s (%s)", tonumber(cut.start) or 0,
      tonumber(cut["end"]) or 0, cut.at == "start" and "start" or "end")
  end
  return string.format("digital silence at the item's ends cuts its music off, not marked (%s "
    .. "into the item): if the take was cut off there, draw a region named \"%sdropout\" over "
    .. "it; a take that starts or stops on a hit reads the same: leave it",
    table.concat(shown, ", "), M.REGION_PREFIX)
end

-- One line on the take's channels that are digital silence throughout, or nil
-- ("dead_channels": [2]): lost in the recording or the transfer, or empty on purpose (a
-- one-sided mix); nothing marks or restores them
-- (docs/protocol.md, "dead_channels").
function M.describe_dead_channels(report)
  local dead = given(report.dead_channels) and report.dead_channels or {}
  if #dead == 0 then return nil end
  local shown = {}
  for i, channel in ipairs(dead) do shown[i] = string.format("%d", channel) end
  return string.format("channel(s) %s digital silence throughout, not marked: lost in the "
    .. "recording or the transfer, or empty on purpose; if lost, nothing restores it: take it "
    .. "from its source again, or, if the source was mono, set the take's channel mode to a "
    .. "playing channel",
    table.concat(shown, ", "))
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
-- "region.<index>", "<item GUID> <start> <stop>", since this version followed by "<track GUID>
-- <item start> <item end> <source time at start> <source time at end> <source file>": the
-- owner as it was marked. A region moved since (or drawn by hand) belongs to every item it
-- overlaps; see M.claims for the rest.
local function owner_key(index) return "region." .. math.floor(index) end
local function bounds(start, stop) return string.format("%.9f %.9f", start, stop) end

-- Where in its source file an item's active take plays project time `t` (s of the file).
local function source_time(info, t)
  return info.startoffs + (t - info.position) * info.playrate
end

-- Mark found damage on the project as regions "DiffMusic: <name>" (times in the item from
-- `info.position`, cut to `info.length`), owned by the item `info` (selection.describe's
-- fields, as a job records them: GUIDs, extent, take start offset, playrate, source file);
-- returns how many.
function M.mark(found, info)
  local added = 0
  for _, f in ipairs(found) do
    local start, stop = info.position + math.max(0, f.start), info.position + math.min(info.length, f.stop)
    if stop > start then
      local index = reaper.AddProjectMarker2(0, true, start, stop, M.REGION_PREFIX .. f.damage.name, -1, 0)
      reaper.SetProjExtState(0, system.TITLE, owner_key(index), string.format("%s %s %s %s %s %s",
        info.item_guid, bounds(start, stop), info.track_guid, bounds(info.position, info.position + info.length),
        bounds(source_time(info, start), source_time(info, stop)), info.source_file))
      added = added + 1
    end
  end
  return added
end

-- The owner of a region [start, stop) from its ExtState entry: nil (any item: moved since or
-- drawn by hand), or { item = GUID, track = GUID (nil before the track was kept), and since
-- this version from, to (its extent), at_start, at_stop (source times), file }.
local function owner_of(entry, start, stop)
  local item, where, rest = entry:match("^(%S+) (%S+ %S+) ?(.*)$")
  if not item or where ~= bounds(start, stop) then return nil end
  local owner = { item = item, track = rest:match("^(%S+)") } -- the track alone: a version before
  local from, to, at_start, at_stop, file = rest:match("^%S+ (%S+) (%S+) (%S+) (%S+) (.+)$")
  if file then
    owner.file, owner.from, owner.to = file, tonumber(from), tonumber(to)
    owner.at_start, owner.at_stop = tonumber(at_start), tonumber(at_stop)
  end
  return owner
end

-- What source file the item `info` plays under the region `m`, and where in it.
local function played(info, m)
  return { file = info.source_file, at_start = source_time(info, m.start), at_stop = source_time(info, m.stop) }
end

local NEAR = 1e-6 -- s: the .rpp keeps 14 decimals
-- Whether the marked region `m` repairs the item `info` (selection.describe): one moved or
-- drawn by hand, any item; one found in an item, that item; and another item of its track that
-- plays the same stretch of the same source file under it (a part split off it, which is given
-- the part of the region beyond the owner's extent) or, the owner gone, one that covers the
-- owner's extent (glued). An entry without a track (an earlier version's): its item alone; one
-- without the owner's extent and source (d22a9ac's): a split part, by what the owner plays now,
-- and no glued item.
function M.claims(m, info)
  local owner = m.owner
  if not owner or owner.item == info.item_guid then return true end
  if owner.track ~= info.track_guid then return false end -- an entry without a track: none
  local item = selection.find(owner.item)
  -- what the owner played there, as marked (an entry without it: as the owner plays it now)
  local now_owner = item and selection.describe(item)
  local was = owner.file and owner or now_owner and played(now_owner, m)
  local now = played(info, m)
  if was and was.file == now.file and math.abs(now.at_start - was.at_start) < NEAR
      and math.abs(now.at_stop - was.at_stop) < NEAR then
    return true
  end
  return not item and owner.from ~= nil and info.position <= owner.from + NEAR
    and info.position + info.length >= owner.to - NEAR
end

-- The damage regions of the project: { {damage = entry, start = s, stop = s, owner = see
-- owner_of}, ... } (project time).
function M.marked()
  local marked = {}
  local by_name = {}
  for _, damage in ipairs(M.DAMAGE) do by_name[M.REGION_PREFIX .. damage.name] = damage end
  local count = reaper.CountProjectMarkers(0) -- markers and regions
  for i = 0, count - 1 do
    local _, isrgn, start, stop, name, index = reaper.EnumProjectMarkers3(0, i)
    if isrgn and by_name[name] then
      local _, entry = reaper.GetProjExtState(0, system.TITLE, owner_key(index))
      marked[#marked + 1] = { damage = by_name[name], start = start, stop = stop, owner = owner_of(entry, start, stop) }
    end
  end
  return marked
end

return M
