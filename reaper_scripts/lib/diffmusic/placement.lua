-- DiffMusic for REAPER: placing finished renders as new takes or new tracks, in one undo block.
-- SPDX-License-Identifier: GPL-3.0-or-later

local use = ... -- the library's module loader (lib/diffmusic.lua)
local diagnosis = use("diagnosis")
local job_store = use("jobs")
local repairs = use("repairs")
local selection = use("items")
local wav = use("wav")

local M = {}

local function build_peaks(source)
  if reaper.PCM_Source_BuildPeaks(source, 0) ~= 0 then
    while reaper.PCM_Source_BuildPeaks(source, 1) ~= 0 do end
    reaper.PCM_Source_BuildPeaks(source, 2)
  end
end

-- Check a render against what was sent (rate, channels, frames); nil or a problem.
local function check_render(path, job, frames)
  local info, problem = wav.info(path)
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
  return wav.splice(job.full, render, job.first, job.placed_file)
end

-- Where a job's render is (its take's file, spliced into the whole item; or its folder).
local function render_of(job)
  if job.kind ~= "take" then return job.dir end
  local ok, path = pcall(take_file, job)
  return ok and path or job.outputs[1]
end

-- How far (s of the render, or of the audio a markers job read) the item's start moved into its
-- take since the job started: a move or a trim while the job ran keeps the render (a markers
-- job's regions) in time. Nil and a problem when a take from it (or a region) would be out of
-- time (the take or its source or playrate changed) or would miss what was repaired (trimmed or
-- split off the item).
local function shift_of(item, job)
  if not job.startoffs then return 0 end -- a job started before this was recorded
  local edits = selection.edits(job, item)
  if #edits == 0 then return 0 end
  local take = selection.take_of(item, job.take_guid)
  local changed, out_of_time = selection.said(edits), false
  for _, edit in ipairs(edits) do
    out_of_time = out_of_time or edit.key == "take" or edit.key == "source" or edit.key == "playrate"
  end
  local shift = take and (reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS") - job.startoffs) / job.playrate
  local length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local missed
  for _, span in ipairs(out_of_time and {} or job.spans or {}) do
    local a, b = span[1] / job.rate - shift, span[2] / job.rate - shift
    if a < -1e-6 or b > length + 1e-6 then missed = missed or { a, b } end
  end
  if not out_of_time and not missed then return shift end
  if job.kind == "markers" then
    return nil, string.format("'%s': no damage marked: the item changed since it was read (%s), and the times "
      .. "found are not those of the audio it plays now; run 'DiffMusic - Find damage in selected items' again",
      job.item_label, changed)
  end
  local why = out_of_time and "a take from its render would be out of time"
    or string.format("what it repaired (item time %.3f-%.3f s then) is no longer in the item",
      missed[1] + shift, missed[2] + shift)
  return nil, string.format("'%s' (DiffMusic %s) was not placed: the item changed since the job was sent (%s); "
    .. "%s. The render is in %s", job.item_label, job.label, changed, why, render_of(job))
end

-- A take (new or on a new item) playing `path` from the item start at the project's rate:
-- sample k of the file sounds at item time k / rate - `shift`, where the sent audio came from.
-- An audio accessor reads a take "immediately pre-FX" (the API's words), so the render holds
-- none of the take's FX: a new take on the item read (`item`, given) gets a copy of its chain, or
-- switching to it would drop them (a user trial: the new take of a take with an EQ and a
-- compressor had an empty chain). A source on a new track (`item` nil) gets none: a compressor
-- on each source would not sound as it did on their sum (the README says so).
local function set_take(take, path, name, job, shift, item)
  local source = reaper.PCM_Source_CreateFromFile(path)
  reaper.SetMediaItemTake_Source(take, source)
  reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", shift)
  reaper.SetMediaItemTakeInfo_Value(take, "D_PLAYRATE", 1)
  reaper.SetMediaItemTakeInfo_Value(take, "D_VOL", job.vol or 1)
  reaper.SetMediaItemTakeInfo_Value(take, "D_PAN", job.pan or 0)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  local read = item and selection.take_of(item, job.take_guid)
  for fx = 0, read and reaper.TakeFX_GetCount(read) - 1 or -1 do
    reaper.TakeFX_CopyToTake(read, fx, take, fx, false)
  end
  build_peaks(source)
end

local warned = repairs.warned

-- Whether a finished job can be placed, found before anything changes (an Import with nothing
-- to place adds no undo point): its item and the shift to place it with (see shift_of); or nil
-- and { problem = line to show, forget = true to stop tracking it, line = one for the console }.
local function placeable(job)
  local item = selection.find(job.item_guid)
  if not item then
    local line = "the item of '" .. job.item_label .. "' is gone; the render is in " .. job.dir
    -- told once, then no longer tracked (every Import had said it again)
    if job_store.project_file() ~= "" then return nil, { problem = line, forget = true } end
    -- in an unsaved project kept (another unsaved one, in a tab, may hold the item), told once
    -- and then said in the console
    line = line .. " (unless it is in another unsaved project)"
    if job.told_gone then return nil, { line = line } end
    job.told_gone = true
    job_store.save(job)
    return nil, { problem = line }
  end
  local shift, problem = shift_of(item, job)
  if not shift then return nil, { problem = problem, forget = true } end
  return item, shift
end

-- The one new take of a job, or of the linked jobs of an item (repairs.lua): every repair in it,
-- made active unless the engine warned of one. Where no one take can be made (their repairs
-- change the same audio, or a render is broken), each job is placed as alone, its take set
-- apart (job.apart: why), and the problems of those that cannot be are returned: a broken render
-- had kept the item's other repairs from being placed. Nil or a problem.
local function place_take(jobs, item, shift)
  local path, problem
  if #jobs > 1 then
    path, problem = repairs.file(jobs, check_render)
  else
    path, problem = take_file(jobs[1])
  end
  if not path and #jobs > 1 then
    local problems = {}
    for _, job in ipairs(jobs) do
      job.apart = problem
      problems[#problems + 1] = place_take({ job }, item, shift)
    end
    return #problems > 0 and table.concat(problems, "\n") or nil
  end
  if not path then return problem end
  local take = reaper.AddTakeToMediaItem(item)
  local name = jobs[1].item_label .. " (DiffMusic " .. repairs.label(jobs) .. ")"
  set_take(take, path, name, jobs[1], shift, item)
  local active = true
  for _, job in ipairs(jobs) do
    job.placed_take = name -- once it is there (see repairs.separate_repairs)
    active = active and not warned(job)
  end
  if active then reaper.SetActiveTake(take) end
  reaper.UpdateItemInProject(item)
  for _, job in ipairs(jobs) do job_store.spent(job) end
  return nil
end

-- Place one finished job, or the linked jobs of an item (inside the caller's undo block); nil
-- or a problem.
local function place_one(jobs, item, shift, created_tracks)
  local job = jobs[1]
  if job.kind == "markers" then
    -- where the damage plays now: an item moved or trimmed since it was read moves its regions
    local found = diagnosis.damage(job.diagnosis.report)
    for _, f in ipairs(found) do f.start, f.stop = f.start - shift, f.stop - shift end
    local _, track_guid = reaper.GetSetMediaTrackInfo_String(reaper.GetMediaItem_Track(item), "GUID", "", false)
    job.marked = diagnosis.mark(found, setmetatable({ position = reaper.GetMediaItemInfo_Value(item, "D_POSITION"),
      length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"), startoffs = job.startoffs + shift * job.playrate,
      track_guid = track_guid }, { __index = job }))
    return nil
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
      local new_item = reaper.AddMediaItemToTrack(track) -- under the item as it is now
      reaper.SetMediaItemInfo_Value(new_item, "D_POSITION",
        reaper.GetMediaItemInfo_Value(item, "D_POSITION"))
      reaper.SetMediaItemInfo_Value(new_item, "D_LENGTH",
        reaper.GetMediaItemInfo_Value(item, "D_LENGTH"))
      local take = reaper.AddTakeToMediaItem(new_item)
      set_take(take, path, job.item_label .. " (DiffMusic source " .. i .. ")", job, shift)
      reaper.UpdateItemInProject(new_item)
    end
    return nil
  end
  return place_take(jobs, item, shift)
end

-- The line for a job whose item is not here but in another saved project (left pending for
-- that project's Import, said in the console: the daemon may trigger Import often); or nil.
local function elsewhere(job)
  if job.project and job.project ~= job_store.project_file() and not selection.find(job.item_guid) then
    return "'" .. job.item_label .. "' is in another project (" .. job.project .. "): run "
      .. "'DiffMusic - Import finished renders' there"
  end
  return nil
end

-- A note's times ("A-B s", seconds of the audio sent, docs/protocol.md) in the project's time,
-- as the user selected them: frame j of the sent audio sounded at position + (first + j) / rate
-- when the job was made. Each keeps its number of decimals.
local function in_project_time(text, job)
  if not (job.position and job.first and job.rate) then return text end
  local origin = job.position + job.first / job.rate
  return (text:gsub("(%d+)%.(%d+)%-(%d+)%.(%d+) s", function(a0, a1, b0, b1)
    local start, stop = tonumber(a0 .. "." .. a1) + origin, tonumber(b0 .. "." .. b1) + origin
    return string.format("%." .. #a1 .. "f-%." .. #b1 .. "f s", start, stop)
  end))
end

-- What the engine's lines advise on the command line, and where a REAPER user does it.
local IN_REAPER = {
  { "send more of the song",
    "raise the dropout context in 'DiffMusic - Settings', or set it to item" },
  { "--cutoff HZ", "give cutoff = HZ in a preset file named in 'DiffMusic - Settings'" },
  { "--click START:END", "mark them as 'DiffMusic: click' regions, then 'DiffMusic - Repair "
    .. "marked damage'" },
  { "--model ID_OR_PATH", "set the model in 'DiffMusic - Settings'" },
}

-- The engine's command-line words said as a REAPER user acts, in their place: appended, a short
-- room's reason had read "... (--rir FILE) (in REAPER: ...) (in REAPER: ...)" (a user trial).
local IN_REAPER_WORDS = {
  { "in a dereverb preset's [options] (restore --preset FILE)",
    "under [options] in a preset file with task = \"dereverb\" named in 'DiffMusic - Settings'" },
  { "(--rir FILE)",
    "(select the room's impulse-response item with the items: \"IR\" in its name)" },
  -- an unknown option's source beside a preset's: REAPER's option flags are its Settings'
  -- model and steps (cli/common.py's ON_THE_COMMAND_LINE)
  { " on the command line", " in 'DiffMusic - Settings'" },
}

-- `text` with every `old` (plain text, no pattern) as `new`.
local function replaced(text, old, new)
  local from, to = text:find(old, 1, true)
  while from do
    text = text:sub(1, from - 1) .. new .. text:sub(to + 1)
    from, to = text:find(old, from + #new, true)
  end
  return text
end

-- What the engine's lines advise of a time selection, said of a marked region instead.
local FOR_REGIONS = {
  { "select the dropout alone", "resize the 'DiffMusic: dropout' region to the dropout alone (or delete it)" },
}

-- One of the engine's lines (a note, why a render is unchanged, why a job failed) for the user
-- of the project `job` came from: its times in the project's time, and where the command-line
-- advice it gives is found in REAPER.
function M.for_project(text, job)
  text = in_project_time(text, job)
  if job.from_regions then -- Repair sent marked regions, not the time selection
    for _, words in ipairs(FOR_REGIONS) do text = text:gsub(words[1], words[2]) end
  end
  for _, words in ipairs(IN_REAPER_WORDS) do text = replaced(text, words[1], words[2]) end
  for _, hint in ipairs(IN_REAPER) do
    if text:find(hint[1], 1, true) then text = text .. " (in REAPER: " .. hint[2] .. ")" end
  end
  return text
end

-- `head` with the engine's notes of `job` under it (the status file's `notes`: a gap extended to
-- a dropout's edges, a channel kept, music replaced), one indented line each, warnings marked.
local function with_notes(head, job)
  local lines = { head }
  for _, note in ipairs(type(job.notes) == "table" and job.notes or {}) do
    if type(note) == "table" and type(note.text) == "string" then
      local level = note.level == "warning" and "  warning: " or "  note: "
      lines[#lines + 1] = level .. M.for_project(note.text, job)
    end
  end
  return table.concat(lines, "\n")
end

-- Place finished jobs in one undo block; returns the number placed, a list of problems, a
-- line for each job left as it is (its render is its audio unchanged: no take, the line says
-- why and gives the engine's notes; or its item is in another project), the engine's notes
-- of each job placed, under its item label, and those of the jobs with a warning (their takes
-- added, not made active: to be shown, not only logged). Jobs already placed (no longer
-- pending) are skipped.
function M.place_jobs(jobs, undo_name)
  local ready, left, told = {}, {}, {}
  for _, job in ipairs(jobs) do
    -- renders are placed once (the registry); a diagnosis job's regions by the action that ran it
    local own = job.kind == "markers" and job.diagnosis
    if job.state == "finished" and (own or job_store.is_pending(job.id)) then
      local other_project = elsewhere(job)
      if other_project then
        left[#left + 1] = other_project
      elseif job.unchanged then
        left[#left + 1] = with_notes(string.format("'%s': left as it is (%s)", job.item_label,
          M.for_project(job.unchanged, job)), job)
        job_store.unregister_job(job.id)
        job_store.spent(job)
      elseif repairs.waits(job, jobs) then
        left[#left + 1] = string.format("'%s' (%s): waits for the item's other repairs, to be placed "
          .. "with them as one take", job.item_label, job.label)
      else
        ready[#ready + 1] = job
      end
    end
  end
  local placed, problems, created_tracks, alerts, places = 0, {}, {}, {}, {}
  for _, job in ipairs(ready) do
    local item, shift_or_why = placeable(job)
    if item then
      places[#places + 1] = { job = job, item = item, shift = shift_or_why }
    else
      if shift_or_why.forget then
        job_store.unregister_job(job.id)
        job_store.spent(job)
      end
      problems[#problems + 1] = shift_or_why.problem
      left[#left + 1] = shift_or_why.line
    end
  end
  if #places == 0 then return 0, problems, left, told, {} end
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  for _, group in ipairs(repairs.gather(places)) do
    local ok, problem = pcall(place_one, group.jobs, group.item, group.shift, created_tracks)
    if not ok or problem then problems[#problems + 1] = tostring(problem) end
    -- the jobs placed (all, or those of linked jobs placed one take each whose take is there)
    -- and what is said of each take: of the linked jobs placed as one, or of each job
    local takes = {}
    for _, job in ipairs(group.jobs) do
      if (ok and not problem) or job.placed_take then
        placed = placed + 1
        job_store.unregister_job(job.id)
        if job.apart or not takes[1] then takes[#takes + 1] = { job } else table.insert(takes[1], job) end
      end
    end
    for _, jobs in ipairs(takes) do
      local warning, noted = false, false
      for _, job in ipairs(jobs) do
        warning = warning or (warned(job) and job.kind == "take")
        noted = noted or (type(job.notes) == "table" and #job.notes > 0)
      end
      local head = string.format("'%s' (DiffMusic %s):%s", jobs[1].item_label, repairs.label(jobs),
        warning and " added as a take that is not active; listen before switching to it:" or "")
      for _, job in ipairs(jobs) do head = with_notes(head, job) end
      if warning then alerts[#alerts + 1] = head elseif noted then told[#told + 1] = head end
    end
  end
  reaper.PreventUIRefresh(-1)
  reaper.TrackList_AdjustWindows(false)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(undo_name, -1)
  return placed, problems, left, told, alerts
end

return M
