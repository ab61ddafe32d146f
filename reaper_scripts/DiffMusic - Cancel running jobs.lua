-- @description DiffMusic - Cancel running jobs
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Cancels every DiffMusic job this REAPER started that has not ended (`diffmusic cancel`);
--   a running DiffMusic action then places nothing.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local s = dm.settings()
-- a new value each time: a running action's watch cancels when it changes (ui.lua)
reaper.SetExtState(dm.SECTION, "cancel", string.format("%d %.6f", os.time(), reaper.time_precise()), false)
-- The daemon, not the status file (whose client may be gone), says whether a job still runs:
-- asked in the background for each job no action watches, its answers read on the next defer
-- cycles (REAPER's window answers meanwhile), for at most ANSWER_WAIT s.
local ANSWER_WAIT = 15
local asked, watched = {}, 0
for _, job in ipairs(dm.pending_jobs()) do
  if dm.watched(job) then
    watched = watched + 1 -- the action sends the cancel, once the daemon knows the job
  else
    asked[#asked + 1] = { job = job, process = dm.ask_daemon(job, s) }
  end
end

local started, sent, unanswered = reaper.time_precise(), 0, {}
local function read_answers()
  local waiting = {}
  for _, a in ipairs(asked) do
    local status, why, code = dm.daemon_answer(a.process)
    if status and (status.state == "queued" or status.state == "running") then
      dm.cancel_job(a.job, s)
      sent = sent + 1
    elseif status == false and code ~= "not-found" then -- a job the daemon has not: nothing to cancel
      unanswered[#unanswered + 1] = string.format("'%s' (%s)", a.job.item_label, why)
    elseif status == nil then
      waiting[#waiting + 1] = a
    end
  end
  asked = waiting
  local late = reaper.time_precise() - started > ANSWER_WAIT
  if #asked > 0 and not late then return reaper.defer(read_answers) end
  for _, a in ipairs(asked) do
    unanswered[#unanswered + 1] = string.format("'%s' (no answer within %d s)", a.job.item_label, ANSWER_WAIT)
  end
  local line = string.format("cancel sent for %d job(s); %d more cancelled by the action watching them.",
    sent, watched)
  if #unanswered > 0 then
    -- each with what happened: no daemon, no answer in time, or the daemon's error
    line = line .. string.format(" %d job(s) not cancelled, the daemon's state of them not had: %s; run "
      .. "'DiffMusic - Cancel running jobs' again once the daemon answers (check 'DiffMusic - Settings').",
      #unanswered, table.concat(unanswered, ", "))
  end
  dm.log(line)
end
read_answers()
