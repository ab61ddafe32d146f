-- DiffMusic for REAPER: the repairs of one item (Repair marked damage) placed as one take.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Repair sends each kind of damage on an item as a job of its own (its task, its flags, its
-- context); placed one take per job, the active take held one repair and still played the
-- others' damage (a user trial: a dropout and clicks on every item). Here the jobs of an item are
-- placed together: the frames where a render differs from the audio its job sent are that job's
-- repair (a render is the sent audio, bit for bit, outside what its task changed:
-- test_find_and_repair_damage.py), and the item's audio with every job's changed frames copied in
-- is the one new take (wav.merge). Why merge at placement and not chain the jobs (each reading the
-- previous one's render): a chain's second job could start only once the first's render is back,
-- and every path that follows a job (cancel, an Import after REAPER closed, a client started
-- again) would have to start the next one; merged here, the jobs stay independent and run side
-- by side. Repairs that change the same frames (a click inside a dropout's fill) cannot both be
-- kept: those stay one take per job, as before, and the message says why.

local use = ... -- the library's module loader (lib/diffmusic.lua)
local diagnosis = use("diagnosis")
local job_store = use("jobs")
local system = use("system")
local wav = use("wav")

local M = {}

-- Whether the engine warned of a job's render (music replaced where a dropout was expected):
-- its take is added but not made active, and the warning is shown (a user trial: a clean item
-- selected beside a dropped one had its music replaced by another passage, said in the console).
function M.warned(job)
  for _, note in ipairs(type(job.notes) == "table" and job.notes or {}) do
    if type(note) == "table" and note.level == "warning" then return true end
  end
  return false
end

-- Link the new jobs of one item that are to become one take (their spec's `one_take`): each
-- gets `together`, the ids of them all (kept in job.json, for an Import).
function M.link(jobs)
  local by_item = {}
  for _, job in ipairs(jobs) do
    if job.one_take then
      by_item[job.item_guid] = by_item[job.item_guid] or {}
      table.insert(by_item[job.item_guid], job)
    end
  end
  for _, list in pairs(by_item) do
    local ids = {}
    for i, job in ipairs(list) do ids[i] = job.id end
    for _, job in ipairs(list) do job.together = #ids > 1 and ids or nil end
  end
end

-- Whether a finished job waits for a job linked to it that is still pending and not among `jobs`
-- (an Import while the other still runs): placed alone, it would be a take of its own again.
function M.waits(job, jobs)
  local here = {}
  for _, other in ipairs(jobs) do here[other.id] = true end
  for _, id in ipairs(job.together or {}) do
    if not here[id] and job_store.is_pending(id) then return true end
  end
  return false
end

-- Finished jobs (`ready`) linked to a job whose client an Import started again (`fetching`) go
-- with it, to be placed together once it is fetched; returns the rest.
function M.hold_with(ready, fetching)
  local fetched, kept = {}, {}
  for _, job in ipairs(fetching) do fetched[job.id] = true end
  for _, job in ipairs(ready) do
    local linked = false
    for _, id in ipairs(job.together or {}) do linked = linked or fetched[id] == true end
    if linked then fetching[#fetching + 1] = job else kept[#kept + 1] = job end
  end
  return kept
end

-- The places ({job, item, shift}, see placement.place_jobs) as groups {jobs, item, shift}: the
-- linked take jobs of one item at one shift together, in the order of diagnosis.DAMAGE.
function M.gather(places)
  local groups, by_key = {}, {}
  for _, place in ipairs(places) do
    local key = place.job.together and place.job.kind == "take"
      and place.job.together[1] .. " " .. place.shift
    local group = key and by_key[key]
    if group then
      table.insert(group.jobs, place.job)
    else
      group = { jobs = { place.job }, item = place.item, shift = place.shift }
      groups[#groups + 1] = group
      if key then by_key[key] = group end
    end
  end
  for _, group in ipairs(groups) do -- as linked (an Import finds them in another order)
    local rank = {}
    for i, id in ipairs(group.jobs[1].together or {}) do rank[id] = i end
    table.sort(group.jobs, function(a, b) return (rank[a.id] or 0) < (rank[b.id] or 0) end)
  end
  return groups
end

-- The label of the take of `jobs`: their labels joined ("dropout restore + declick").
function M.label(jobs)
  local labels = {}
  for i, job in ipairs(jobs) do labels[i] = job.label end
  return table.concat(labels, " + ")
end

-- The item with every job's repair, written to the first job's folder: its path; or nil and why
-- it cannot be made (a render that is broken, or repairs that change the same frames).
-- `check_render(path, job, frames)` checks a render (nil or a problem).
function M.file(jobs, check_render)
  local pieces, reach, base = {}, {}, nil
  for i, job in ipairs(jobs) do
    local render = job.outputs[1]
    local problem = check_render(render, job, job.sent_frames)
    if problem then return nil, problem end
    local runs
    runs, problem = wav.differing(job.input, render)
    if not runs then return nil, problem end
    for _, run in ipairs(runs) do
      local from, to = job.first + run[1], job.first + run[2]
      pieces[#pieces + 1] = { file = render, at = job.first, from = from, to = to, job = i }
    end
    -- the item as it was read; a job sent the whole item kept none: its render, as placed alone
    base = base or job.full
  end
  table.sort(pieces, function(p, q) return p.from < q.from end)
  for _, piece in ipairs(pieces) do
    for i = 1, #jobs do -- in the jobs' order: with three kinds, the same pair said each time
      if i ~= piece.job and (reach[i] or 0) > piece.from then
        return nil, string.format("the %s and the %s change the same audio (item time %.3f s)",
          jobs[math.min(i, piece.job)].label, jobs[math.max(i, piece.job)].label, piece.from / jobs[1].rate)
      end
    end
    reach[piece.job] = math.max(reach[piece.job] or 0, piece.to)
  end
  return wav.merge(base or jobs[1].outputs[1], pieces, system.join(jobs[1].dir, "item-repaired.wav"))
end

-- A line for each item that these jobs gave more than one take (Repair's jobs whose repairs
-- change the same audio, placed one take each, on the item as it was): which take holds which
-- repair, that none holds them all, why, and how to have them on one take.
function M.separate_repairs(jobs)
  local by_item, order, lines = {}, {}, {}
  for _, job in ipairs(jobs) do
    if job.placed_take then
      if not by_item[job.item_guid] then order[#order + 1], by_item[job.item_guid] = job.item_guid, {} end
      table.insert(by_item[job.item_guid], job)
    end
  end
  for _, guid in ipairs(order) do
    local list, held, active, apart = by_item[guid], {}, nil, nil
    for i, job in ipairs(list) do
      held[i] = string.format("'%s' holds the %s", job.placed_take, job.label)
      if not M.warned(job) then active = job end -- the last one made active
      apart = apart or job.apart
    end
    if #list > 1 and list[1].placed_take ~= list[#list].placed_take then
      local line = string.format("'%s': %s; no take holds them all", list[1].item_label, table.concat(held, ", "))
      if apart then line = line .. " (" .. apart .. ")" end
      local region
      for _, damage in ipairs(diagnosis.DAMAGE) do
        if active and damage.label == active.label then region = diagnosis.REGION_PREFIX .. damage.name end
      end
      if region then
        line = line .. string.format(". To have them on one take: with '%s' active, delete the '%s' "
          .. "regions and run 'DiffMusic - Repair marked damage' again", active.placed_take, region)
      end
      lines[#lines + 1] = line
    end
  end
  return lines
end

return M
