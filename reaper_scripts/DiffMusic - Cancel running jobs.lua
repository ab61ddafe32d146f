-- @description DiffMusic - Cancel running jobs
-- @author DiffMusic Bridge developers
-- @version 0.2.0
-- @license GPL-3.0-or-later
-- @about
--   Cancels every DiffMusic job this REAPER started that has not ended (`diffmusic cancel`);
--   a running DiffMusic action then places nothing.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local s = dm.settings()
reaper.SetExtState(dm.SECTION, "cancel", tostring(os.time()), false)
local sent, watched = 0, 0
for _, job in ipairs(dm.pending_jobs()) do
  local beat = tonumber(reaper.GetExtState(dm.SECTION, "beat." .. job.id))
  if beat and os.time() - beat < 5 then
    -- a running action watches this job: it sends the cancel, once the daemon knows the job
    watched = watched + 1
  else
    -- the daemon, not the status file (whose client may be gone), says whether it still runs
    local status = dm.daemon_status(job, s)
    if status and (status.state == "queued" or status.state == "running") then
      dm.cancel_job(job, s)
      sent = sent + 1
    end
  end
end
dm.log(string.format("cancel sent for %d job(s); %d more cancelled by the action watching them.", sent, watched))
