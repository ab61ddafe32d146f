-- @description DiffMusic - Import finished renders
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Places the renders of DiffMusic jobs that finished while no DiffMusic action was waiting
--   for them (REAPER was restarted, the action was stopped). The daemon can trigger it through
--   OSC when a job is done: diffmusic serve --reaper-action <this action's command id>.
--   Launched again while it waits for renders, it hands its jobs to the new launch (REAPER 7.03
--   or later; an older one asks whether to end it or start a new instance).

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

-- The daemon launches this action after every job, also while an earlier Import still watches
-- the jobs it started again: instead of REAPER's "already running" dialog, REAPER 7.03+ ends
-- the running Import (flag 1) and starts this one (flag 2), which takes over its jobs (their
-- heartbeats go with it, see dm.watch; a client started again that still runs is watched here).
-- An older REAPER lacks the call and asks, as before. Flag 2 alone would ignore the launch: a
-- render that finished while no action waited would wait for the next launch.
if reaper.set_action_options then reaper.set_action_options(1 | 2) end

local s = dm.settings()
-- what becomes of each job: placed now (ready), fetched by its client started again (watched
-- below), ended badly (problems), or pending, with why
local ready, fetching, problems, pending = {}, {}, {}, {}
for _, job in ipairs(dm.pending_jobs()) do
  local why
  if dm.watched(job) then
    why = "a running DiffMusic action watches it and will place it"
  else
    job.state, job.fraction, job.process = "unknown", 0, dm.process_of(job.dir, "submit")
    dm.poll_job(job, s) -- a client that ended without a final state is started again here
    if job.state ~= "starting" then why = dm.settle(job, s) end -- and one gone without a word here
  end
  if job.state == "starting" then
    job.diagnose = nil -- the room estimate is the action's
    fetching[#fetching + 1] = job
  elseif job.state == "finished" then
    ready[#ready + 1] = job
  elseif job.state == "failed" or job.state == "cancelled" then
    dm.unregister_job(job.id)
    dm.spent(job)
    problems[#problems + 1] = string.format("'%s' (%s): %s", job.item_label, job.label,
      job.state == "cancelled" and "cancelled" or dm.for_project(job.error or "failed", job))
  else
    pending[#pending + 1] = string.format("'%s' (%s): %s", job.item_label, job.label, why or job.state)
  end
end

-- a render waits for those of its item's other repairs that are fetched, to make one take with them
local started = #fetching
ready = dm.hold_with(ready, fetching)
local placed, place_problems, left, told, alerts = dm.place_jobs(ready,
  "DiffMusic: import finished renders")
for _, p in ipairs(place_problems) do problems[#problems + 1] = p end
for _, line in ipairs(alerts) do problems[#problems + 1] = line end -- shown, not only logged
for _, line in ipairs(dm.separate_repairs(ready)) do problems[#problems + 1] = line end
for _, line in ipairs(left) do dm.log(line) end
for _, line in ipairs(told) do dm.log(line) end
local summary = string.format("imported %d render(s); %d job(s) pending", placed, #pending)
summary = summary .. (#pending > 0 and ": " .. table.concat(pending, "; ") or "")
if started > 0 then
  summary = summary .. string.format("; %d job(s) whose client had ended: started again to fetch their "
    .. "renders, placed when they are done", started)
end
if #fetching > started then -- held by hold_with: neither placed nor pending, said here
  summary = summary .. string.format("; %d finished render(s) wait for their item's other repairs "
    .. "fetched, to be placed with them as one take", #fetching - started)
end
if #problems > 0 then
  dm.message(string.format("Imported %d render(s).\n\n%s", placed, table.concat(problems, "\n")))
end
dm.log(summary .. ".")
if #fetching > 0 then
  dm.watch(fetching, s, "Import finished renders", "DiffMusic: import finished renders")
end
