-- DiffMusic for REAPER: job folders, reading a take's audio into them, and the registry of pending jobs.
-- SPDX-License-Identifier: GPL-3.0-or-later

local use = ... -- the library's module loader (lib/diffmusic.lua)
local json = use("json")
local settings = use("settings")
local system = use("system")
local wav = use("wav")

local M = {}

local function new_job_id()
  return string.format("reaper-%s-%06x", os.date("!%Y%m%dT%H%M%S"), math.random(0, 0xFFFFFF))
end

function M.job_root(s)
  if s.job_folder ~= "" then return s.job_folder end
  local project = reaper.GetProjectPath("")
  if project == "" then project = reaper.GetResourcePath() end
  return system.join(project, "DiffMusic")
end

-- A new job: its folder and the exports of the take's audio still to be done (see
-- `M.read_step`). `spec` fields:
--   task, flags (list of CLI arguments), label, kind ("take" | "tracks"),
--   first, frames: the item frames sent (the whole item unless a stretch around a gap),
--   splice: true when the render covers only [first, first + frames) and goes back into the item;
--   attachments: other items sent whole with the job, { {flag = "--rir", info = item, name =
--     "rir.wav"} }: the file is read like the take and given to the command as `flag FILE`;
--   diagnose: true to run `diffmusic diagnose` on the sent audio as well (the room estimate);
--   spans: the item frames repaired, { {a, b}, ... } (nil: all of it), which must still be in
--     the item when the render is placed; from_regions: true when they are marked regions;
--   one_take: true when the item's jobs with it are placed as one take (repairs.lua).
-- The current project's .rpp file ("" while unsaved): what tells one project from another (two
-- can share a media folder).
function M.project_file()
  return select(2, reaper.EnumProjects(-1)) or ""
end

function M.new_job(info, spec, s)
  local id = new_job_id()
  local dir = system.join(M.job_root(s), id)
  reaper.RecursiveCreateDirectory(dir, 0)
  local input = system.join(dir, "input.wav")
  local job = {
    id = id, dir = dir, task = spec.task, flags = spec.flags, label = spec.label,
    kind = spec.kind, input = input, status = system.join(dir, "status.json"),
    output = spec.kind == "tracks" and system.join(dir, "sources") or system.join(dir, "restored.wav"),
    item_guid = info.item_guid, take_guid = info.take_guid, track_guid = info.track_guid,
    track_name = info.track_name, item_label = info.label, position = info.position,
    length = info.length, rate = info.rate, channels = info.channels, frames = info.frames,
    first = spec.first, sent_frames = spec.frames, vol = info.vol, pan = info.pan,
    startoffs = info.startoffs, playrate = info.playrate, source_file = info.source_file,
    lossy = info.lossy, -- an MP3's take: diagnose and --gap auto read the codec's dips
    spans = spec.spans, from_regions = spec.from_regions,
    project = M.project_file(), -- Import in another project leaves the job alone
    created = os.time(), diagnose = spec.diagnose,
    one_take = spec.one_take, -- Repair: the item's jobs placed as one take (repairs.lua)
  }
  local exports = { { first = spec.first, frames = spec.frames, path = input } }
  if spec.splice then
    -- the whole item as it plays now, into which the restored stretch is spliced
    job.full = system.join(dir, "item.wav")
    job.placed_file = system.join(dir, "item-restored.wav")
    exports[#exports + 1] = { first = 0, frames = info.frames, path = job.full }
  end
  job.flags = table.move(spec.flags or {}, 1, #(spec.flags or {}), 1, {})
  local attachments = {} -- what the read of each is checked against (see ui.lua)
  for _, a in ipairs(spec.attachments or {}) do
    attachments[#attachments + 1] = a.info
    local path = system.join(dir, a.name)
    exports[#exports + 1] = { take = a.info.take, rate = a.info.rate, channels = a.info.channels,
      first = 0, frames = a.info.frames, path = path }
    table.move({ a.flag, path }, 1, 2, #job.flags + 1, job.flags)
  end
  -- kept outside the job record (which is written to job.json)
  return job, { item = info.item, take = info.take, exports = exports, attachments = attachments }
end

-- Read up to `budget` more frames of a job's audio; true when all of it and job.json are written.
function M.read_step(job, reading, budget)
  local e = reading.exports[1]
  if e then
    if not e.exporter then
      e.exporter = wav.exporter(e.take or reading.take, e.rate or job.rate,
        e.channels or job.channels, e.first, e.frames, e.path)
    end
    if e.exporter.step(budget) then table.remove(reading.exports, 1) end
    if #reading.exports > 0 then return false end
  end
  M.save(job)
  return true
end

-- Write the job record (job.json), which Import reads back.
function M.save(job)
  system.write_file(system.join(job.dir, "job.json"), json.encode(job))
end

-- The whole item read to splice a render into (`job.full`), spent once the job has ended
-- (placed, left as it was, failed or cancelled): the item's size again in every job folder.
function M.spent(job)
  if job.full then os.remove(job.full) end
end

function M.close_reading(reading)
  for _, e in ipairs(reading.exports) do
    if e.exporter then e.exporter.close() end
  end
  reading.exports = {}
end

function M.load_job(dir)
  local text = system.read_file(system.join(dir, "job.json"))
  if not text then return nil end
  local ok, job = pcall(json.decode, text)
  if not ok then return nil end
  return job
end

-- The registry: ids of jobs whose renders are not placed yet ("pending"), and each job's folder.
function M.pending_ids()
  local ids = {}
  for id in reaper.GetExtState(settings.SECTION, "pending"):gmatch("%S+") do ids[#ids + 1] = id end
  return ids
end

function M.register_job(job)
  reaper.SetExtState(settings.SECTION, "job." .. job.id, job.dir, true)
  local ids = M.pending_ids()
  ids[#ids + 1] = job.id
  reaper.SetExtState(settings.SECTION, "pending", table.concat(ids, " "), true)
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
  reaper.SetExtState(settings.SECTION, "pending", table.concat(keep, " "), true)
  reaper.DeleteExtState(settings.SECTION, "job." .. id, true)
  M.unbeat(id)
end

-- The heartbeat of a job a running action watches (written every defer cycle, removed when the
-- action ends), and whether a job has one: "Import finished renders" and "Cancel running jobs"
-- leave such a job to it.
function M.beat(job)
  reaper.SetExtState(settings.SECTION, "beat." .. job.id, tostring(os.time()), false)
end

function M.unbeat(id)
  reaper.DeleteExtState(settings.SECTION, "beat." .. id, false)
end

function M.watched(job)
  local beat = tonumber(reaper.GetExtState(settings.SECTION, "beat." .. job.id))
  return beat ~= nil and os.time() - beat < 5
end

function M.pending_jobs()
  local jobs = {}
  for _, id in ipairs(M.pending_ids()) do
    local dir = reaper.GetExtState(settings.SECTION, "job." .. id)
    local job = dir ~= "" and M.load_job(dir)
    if job then jobs[#jobs + 1] = job else M.unregister_job(id) end
  end
  return jobs
end

return M
