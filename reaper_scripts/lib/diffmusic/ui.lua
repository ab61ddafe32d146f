-- DiffMusic for REAPER: the progress window and the defer loop that reads, starts and watches jobs.
-- SPDX-License-Identifier: GPL-3.0-or-later

local use = ... -- the library's module loader (lib/diffmusic.lua)
local diagnosis = use("diagnosis")
local job_store = use("jobs")
local placement = use("placement")
local repairs = use("repairs")
local runner = use("runner")
local selection = use("items")
local settings = use("settings")
local system = use("system")

local M = {}

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
    local report = job.diagnose and job.diagnosis and job.diagnosis.report
    if report then gfx.drawstr(" - " .. diagnosis.describe_room(report)) end
  end
  gfx.set(0.7, 0.7, 0.7)
  gfx.x, gfx.y = 10, gfx.h - 22
  gfx.drawstr(note)
  gfx.update()
end

-- Poll jobs with reaper.defer until all have ended, then place the finished ones in one undo
-- block and report. Esc or a click in the window, or the "DiffMusic - Cancel running jobs"
-- action, cancels; closing the window lets the jobs go on in the background.
-- Jobs in state "reading" (with `readings[job.id]` from job_store.new_job) have their audio read
-- here first, READ_BUDGET frames per defer cycle, and are started when it is written.
local READ_BUDGET = 32768

-- Poll a job's `diffmusic diagnose` run; a "markers" job (find damage) is that run alone.
local function poll_diagnosis(job, s)
  local d = job.diagnosis
  if not d or d.state then return end
  local state, value = diagnosis.poll(d.process, s)
  if not state then return end
  d.state = state
  if state == "done" then d.report = value else d.error = value end
  if job.kind == "markers" then
    if state == "done" then
      job.state, job.fraction = "finished", 1
    else
      job.state, job.error = "failed", value
    end
  end
end

-- What the finished jobs found, for the console: the room of each dereverb, the regions marked.
local function findings(jobs)
  local lines = {}
  for _, job in ipairs(jobs) do
    local d = job.diagnosis
    if job.marked then
      lines[#lines + 1] = string.format("'%s': %d damage region(s) marked; %s", job.item_label,
        job.marked, diagnosis.describe_room(d.report))
      -- what it left alone that may yet be damage (any may be nil)
      local left = { diagnosis.describe_left(d.report), diagnosis.describe_cut_ends(d.report),
        diagnosis.describe_dead_channels(d.report) }
      for i = 1, 3 do
        if left[i] then lines[#lines + 1] = string.format("'%s': %s", job.item_label, left[i]) end
      end
    elseif d and d.report then
      lines[#lines + 1] = string.format("'%s': %s", job.item_label, diagnosis.describe_room(d.report))
    elseif d and d.error then
      lines[#lines + 1] = string.format("'%s': no room estimate (%s)", job.item_label, d.error)
    end
  end
  return lines
end

function M.watch(jobs, s, title, undo_name, readings)
  readings = readings or {}
  -- "Cancel running jobs" sets a new value each time; one set before this watch is not its
  -- (it is left to the actions that watched then: not wiped)
  local cancel_seen = reaper.GetExtState(settings.SECTION, "cancel")
  local height = 50 + #jobs * ROW_H
  gfx.init(system.TITLE .. " - " .. title, WINDOW_W, height)
  local window, cancelled = true, false
  -- ended before its jobs (the user, or Import launched again: see that script), its heartbeats
  -- go at once: the jobs are no longer watched, and a new Import takes them over
  reaper.atexit(function()
    for _, job in ipairs(jobs) do job_store.unbeat(job.id) end
  end)
  -- A cancel goes to the daemon once it knows the job (queued or running): one sent while the
  -- client is still starting would find no job there and be lost.
  local function send_cancels()
    for _, job in ipairs(jobs) do
      if job.diagnosis and not job.diagnosis.state and not job.diagnosis.stopped then
        job.diagnosis.stopped = true -- its result is dropped: it stops at its next step
        diagnosis.stop(job.dir)
      end
      if job.kind == "markers" and not runner.FINAL[job.state] then
        job.state = "cancelled" -- the diagnosis is the job: stopped above
      elseif not job.cancel_sent and (job.state == "queued" or job.state == "running") then
        job.cancel_sent = true
        runner.cancel_job(job, s)
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
      for _, job in ipairs(jobs) do
        job_store.unregister_job(job.id)
        job_store.spent(job)
      end
      system.log("cancelled; nothing was changed.")
      return
    end
    local placed, problems, left, told, alerts = placement.place_jobs(jobs, undo_name)
    for _, job in ipairs(jobs) do
      if job.state ~= "finished" then
        job_store.unregister_job(job.id)
        job_store.spent(job)
        problems[#problems + 1] = string.format("'%s': %s", job.item_label, job.state
          == "cancelled" and "cancelled" or placement.for_project(job.error or "failed", job))
      end
    end
    for _, line in ipairs(findings(jobs)) do system.log(line) end
    for _, line in ipairs(left) do system.log(line) end
    for _, line in ipairs(told) do system.log(line) end
    for _, line in ipairs(alerts) do problems[#problems + 1] = line end -- shown, not only logged
    -- an item given a take per repair still plays its other damage in the active one: shown
    for _, line in ipairs(repairs.separate_repairs(jobs)) do problems[#problems + 1] = line end
    if #problems > 0 then
      system.message(string.format("%s: %d of %d done.\n\n%s", title, placed + #left, #jobs,
        table.concat(problems, "\n")))
    else
      local what = jobs[1] and jobs[1].kind == "markers" and "item(s) read" or "render(s) placed"
      system.log(string.format("%s: %d %s.", title, placed, what))
    end
  end
  local function read(job)
    local reading = readings[job.id]
    if cancelled then
      job_store.close_reading(reading)
      job.state = "cancelled"
      return
    end
    -- the read spans defer cycles, in which the user may edit the item or an item sent with it
    -- (--rir): its audio would be read from two states, or from another than its job was made
    -- for (a take out of time). A move is not (placement follows it).
    local edits = selection.edits(job, reading.item, true)
    for _, a in ipairs(reading.attachments) do
      for _, edit in ipairs(selection.edits(a, a.item, true)) do
        edits[#edits + 1] = { text = "'" .. a.label .. "': " .. edit.text }
      end
    end
    if #edits > 0 then
      job_store.close_reading(reading)
      job.state = "failed"
      job.error = "edited while it was read (" .. selection.said(edits) .. "): run the action again"
      return
    end
    local ok, done = pcall(job_store.read_step, job, reading, READ_BUDGET)
    if not ok then
      job_store.close_reading(reading)
      job.state, job.error = "failed", "could not write its audio: " .. tostring(done)
    elseif done then
      readings[job.id] = nil
      if job.kind == "markers" then
        job.state = "running"
      else
        job_store.register_job(job)
        runner.start_job(job, s)
      end
      if job.kind == "markers" then
        job.diagnosis = { process = diagnosis.start(job.dir, job.input, s, job.lossy) }
      end
    end
  end
  local function step()
    local running, reading = false, false
    for _, job in ipairs(jobs) do
      if job.state == "reading" then
        if not reading then read(job) end -- one job's audio at a time
        reading = true
      else
        if job.kind ~= "markers" then runner.poll_job(job, s) end
        -- the room estimate starts once the daemon has the job (not for a job that never ran)
        local accepted = job.state == "queued" or job.state == "running" or job.state == "finished"
        if job.diagnose and not job.diagnosis and accepted and not cancelled then
          job.diagnosis = { process = diagnosis.start(job.dir, job.input, s, job.lossy) }
        end
        poll_diagnosis(job, s)
      end
      -- a finished render waits for its room estimate (seconds); a failed job does not
      local diagnosing = job.diagnosis and not job.diagnosis.state
        and job.state ~= "failed" and job.state ~= "cancelled"
      if not runner.FINAL[job.state] or diagnosing then running = true end
      job_store.beat(job)
    end
    if reaper.GetExtState(settings.SECTION, "cancel") ~= cancel_seen then cancel() end
    if cancelled then send_cancels() end
    if window then
      local key = gfx.getchar()
      if key == 27 or (gfx.mouse_cap & 1 == 1 and gfx.mouse_y > gfx.h - 26) then
        cancel()
      elseif key < 0 then
        window = false
        system.log(title .. ": the window was closed; the jobs go on and their renders will be placed.")
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

return M
