-- @description DiffMusic - Import finished renders
-- @author DiffMusic Bridge developers
-- @version 0.2.0
-- @license GPL-3.0-or-later
-- @about
--   Places the renders of DiffMusic jobs that finished while no DiffMusic action was waiting
--   for them (REAPER was restarted, the action was stopped). The daemon can trigger it through
--   OSC when a job is done: diffmusic serve --reaper-action <this action's command id>.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local s = dm.settings()
local ready, running, problems = {}, 0, {}
for _, job in ipairs(dm.pending_jobs()) do
  local beat = tonumber(reaper.GetExtState(dm.SECTION, "beat." .. job.id))
  if beat and os.time() - beat < 5 then
    running = running + 1 -- a running action is watching this job and will place it
  else
    job.state, job.fraction = "unknown", 0
    job.process = { log = dm.join(job.dir, "submit.log"), code = dm.join(job.dir, "submit.exit") }
    dm.poll_job(job, s)
    local unknown = dm.settle(job, s) -- a client gone without a word: the daemon says
    if unknown then
      dm.log(string.format("'%s': the daemon did not say how its job is: %s", job.item_label, unknown))
    end
    if job.state == "finished" then
      ready[#ready + 1] = job
    elseif job.state == "failed" or job.state == "cancelled" then
      dm.unregister_job(job.id)
      dm.spent(job)
      problems[#problems + 1] = string.format("'%s' (%s): %s", job.item_label, job.label,
        job.state == "cancelled" and "cancelled" or dm.for_project(job.error or "failed", job))
    else
      running = running + 1
    end
  end
end

local placed, place_problems, left, told, alerts = dm.place_jobs(ready,
  "DiffMusic: import finished renders")
for _, p in ipairs(place_problems) do problems[#problems + 1] = p end
for _, line in ipairs(alerts) do problems[#problems + 1] = line end -- shown, not only logged
for _, line in ipairs(dm.separate_repairs(ready)) do problems[#problems + 1] = line end
for _, line in ipairs(left) do dm.log(line) end
for _, line in ipairs(told) do dm.log(line) end
if #problems > 0 then
  dm.message(string.format("Imported %d render(s).\n\n%s", placed, table.concat(problems, "\n")))
else
  dm.log(string.format("imported %d render(s); %d job(s) still running.", placed, running))
end
