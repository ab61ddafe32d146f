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
local count = 0
for _, job in ipairs(dm.pending_jobs()) do
  job.state = "unknown"
  dm.poll_job(job, s)
  -- jobs that a running action watches get their cancel from it, once the daemon knows them
  local beat = tonumber(reaper.GetExtState(dm.SECTION, "beat." .. job.id))
  local watched = beat and os.time() - beat < 5
  if not watched and (job.state == "queued" or job.state == "running") then
    dm.cancel_job(job, s)
    count = count + 1
  end
end
dm.log(string.format("cancel sent for %d job(s).", count))
