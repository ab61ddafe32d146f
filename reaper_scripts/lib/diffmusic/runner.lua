-- DiffMusic for REAPER: starting `diffmusic submit` in the background, cancelling, reading its status.
-- SPDX-License-Identifier: GPL-3.0-or-later

local use = ... -- the library's module loader (lib/diffmusic.lua)
local json = use("json")
local system = use("system")

local M = {}

-- The arguments of a client command (`diffmusic COMMAND ...`) with the settings' connection
-- file: every command the scripts run reaches the daemon the same way.
function M.client_command(s, command, ...)
  local args = { s.cli, command, ... }
  if s.connection_file ~= "" then
    table.move({ "--connection-file", s.connection_file }, 1, 2, #args + 1, args)
  end
  return args
end

-- The `diffmusic submit` command line of a job (documented in docs/protocol.md).
function M.submit_arguments(job, s)
  local args = M.client_command(s, "submit", job.input, "--task", job.task)
  for _, flag in ipairs(job.flags or {}) do args[#args + 1] = flag end
  if s.preset ~= "" then table.move({ "--preset", s.preset }, 1, 2, #args + 1, args) end
  table.move({ "--backend", s.backend }, 1, 2, #args + 1, args)
  if s.model ~= "" then table.move({ "--model", s.model }, 1, 2, #args + 1, args) end
  if s.steps ~= "" then table.move({ "--steps", s.steps }, 1, 2, #args + 1, args) end
  table.move({ "--job-id", job.id, "--wait", "-o", job.output, "--status-file", job.status, "--json" },
    1, 9, #args + 1, args)
  return args
end

-- Start a command in the background: a small shell script in the job folder (kept for the
-- user to read or rerun) that logs the output and records the exit code, started through
-- ExecProcess without waiting.
function M.launch(dir, name, args)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = system.quote_for_script(a) end
  local log = system.quote_for_script(system.join(dir, name .. ".log"))
  local code = system.quote_for_script(system.join(dir, name .. ".exit"))
  if system.is_windows() then
    system.write_file(system.join(dir, name .. ".cmd"), "@echo off\r\n" .. table.concat(quoted, " ")
      .. " > " .. log .. " 2>&1\r\necho %ERRORLEVEL% > " .. code .. "\r\n")
  else
    system.write_file(system.join(dir, name .. ".sh"), "#!/bin/sh\n" .. table.concat(quoted, " ")
      .. " > " .. log .. " 2>&1\necho $? > " .. code .. "\n")
  end
  return M.start_script(dir, name)
end

-- Start the script M.launch wrote in `dir` as `name` again (in the background; or waiting up
-- to `wait_ms` for it to end).
function M.start_script(dir, name, wait_ms)
  local log, code = system.join(dir, name .. ".log"), system.join(dir, name .. ".exit")
  os.remove(code)
  if system.is_windows() then
    -- the quotes doubled: cmd /C strips the outer pair from a line with more than two (a
    -- folder with "(" in its name, "Program Files (x86)", lost its only pair)
    reaper.ExecProcess('cmd.exe /C ""' .. system.join(dir, name .. ".cmd") .. '""', wait_ms or -2)
  else
    local command = "/bin/sh " .. system.quote(system.join(dir, name .. ".sh"))
    if wait_ms then
      reaper.ExecProcess(command, wait_ms)
    elseif reaper.ExecProcess(command, -1) == nil then
      os.execute(command .. " >/dev/null 2>&1 &") -- ExecProcess could not start it
    end
  end
  return { log = log, code = code }
end

-- A client that ended without a final state (killed, REAPER quit under it) left its job on the
-- daemon, which may have finished it: the same submit, started again, attaches to the job by its
-- id (a resubmission with the same id and audio) and fetches its render. Once per job (the
-- marker file); false when it was tried already.
function M.reattach(job)
  local marker = system.join(job.dir, "submit.reattached")
  if reaper.file_exists(marker) then return false end
  system.write_file(marker, "1")
  job.process = M.start_script(job.dir, "submit")
  job.started, job.state = reaper.time_precise(), "starting"
  return true
end

function M.start_job(job, s)
  os.remove(job.status)
  job.process = M.launch(job.dir, "submit", M.submit_arguments(job, s))
  job.started = reaper.time_precise()
  job.state, job.fraction = "starting", 0
end

-- Run a client command and wait for it (at most WAIT_MS; the command's own tries, --timeout S
-- each, end well within): its exit code (nil if it did not end) and output.
local WAIT_MS = 20000
function M.run_client(s, command, ...)
  local args = M.client_command(s, command, ...)
  for i, arg in ipairs(args) do args[i] = system.quote(arg) end
  local result = reaper.ExecProcess(table.concat(args, " "), WAIT_MS) or ""
  local code, output = result:match("^(%-?%d+)\n(.*)$")
  return tonumber(code), output or result
end

-- What the daemon says of a job (`diffmusic status ID --json`): its job object (docs/protocol.md),
-- or nil and why not (the client's last line: the daemon is down, no such job).
function M.daemon_status(job, s)
  local code, output = M.run_client(s, "status", job.id, "--json", "--timeout", "3")
  local line = system.last_line(output)
  local ok, value = pcall(json.decode, line)
  if not ok or type(value) ~= "table" then return nil, line end
  if code == 0 and value.event == "status" then return value end
  return nil, type(value.message) == "string" and value.message or line
end

function M.cancel_job(job, s)
  M.launch(job.dir, "cancel", M.client_command(s, "cancel", job.id))
end

local function last_line(path)
  return system.last_line(system.read_file(path))
end

-- The exit code in the text of an .exit file (-1 if none), and whether it says the command
-- was not found (sh: 127, cmd.exe: 9009).
local function exit_code(exit)
  local code = tonumber(exit:match("%-?%d+")) or -1
  return code, code == 127 or code == 9009
end

-- Why a command started by M.launch ended badly, from its exit code (`exit`: the text of its
-- .exit file) and the last line of its log.
function M.exit_problem(process, exit, s)
  local code, missing = exit_code(exit)
  if missing then
    return "the diffmusic command '" .. s.cli .. "' was not found; set its full path in "
      .. "'DiffMusic - Settings'"
  end
  local line = last_line(process.log)
  return line ~= "" and line or ("the diffmusic client exited with code " .. code)
end

local FINAL = { finished = true, failed = true, cancelled = true }
local START_TIMEOUT = 120 -- seconds without any status file before giving up on the client

-- A job no action watches whose client ended without a word (no exit file, its status file not
-- final: REAPER and the client were killed together, a crash, a logout): the daemon says what
-- became of it. Ended there a while ago (SETTLED s: a live client would have said so by then),
-- finished: its submit is run again, waited for, which attaches to the job by its id and writes
-- its render and status file (then read); failed or cancelled there: so is the job. Nil, or
-- why the daemon could not say (the job then counts as running).
local SETTLED, RERUN_WAIT_MS = 10, 60000
function M.settle(job, s)
  if FINAL[job.state] or system.read_file(job.process.code) then return nil end
  local status, problem = M.daemon_status(job, s)
  if not status then
    if problem:find("not-found", 1, true) and os.time() - (job.created or 0) > START_TIMEOUT then
      job.state = "failed"
      job.error = "the daemon no longer knows this job (restarted without its journal, or the result "
        .. "expired); run the action again"
      return nil
    end
    return problem
  end
  if not FINAL[status.state] or os.time() - (tonumber(status.updated) or os.time()) < SETTLED then
    return nil
  end
  if status.state == "finished" then
    system.write_file(system.join(job.dir, "submit.reattached"), "1")
    M.start_script(job.dir, "submit", RERUN_WAIT_MS)
    M.poll_job(job, s)
  else
    job.state = status.state
    job.error = type(status.error) == "string" and status.error or nil
  end
  return nil
end

-- Read a job's status file (and exit code) into job.state / job.fraction / job.error.
M.FINAL = FINAL

function M.poll_job(job, s)
  if FINAL[job.state] then return end
  -- the exit file first: a client ending between the two reads leaves its final status read
  local exit = job.process and system.read_file(job.process.code)
  local text = system.read_file(job.status)
  if text then
    local ok, status = pcall(json.decode, text)
    if ok and type(status) == "table" then
      job.state = status.state or job.state
      job.fraction = tonumber(status.fraction) or job.fraction
      if type(status.error) == "string" then job.error = status.error end
      if type(status.outputs) == "table" then job.outputs = status.outputs end
      -- why the render is the sent audio unchanged (nothing found to restore); no take is made
      if type(status.unchanged) == "string" then job.unchanged = status.unchanged end
      -- what the engine told of it: gaps extended, channels kept, music replaced (a warning)
      if type(status.notes) == "table" then job.notes = status.notes end
    end
  end
  local missing = exit and select(2, exit_code(exit)) -- no command to start again
  if exit and not FINAL[job.state] and not missing and M.reattach(job) then
    return -- started again; polled from the next cycle (or the next Import)
  elseif exit and not FINAL[job.state] then
    -- the client ended without a final state: it did not start, or crashed twice
    job.state, job.error = "failed", M.exit_problem(job.process, exit, s)
  elseif not text and not exit and job.started
      and reaper.time_precise() - job.started > START_TIMEOUT then
    job.state = "failed"
    job.error = "the diffmusic client did not answer within " .. START_TIMEOUT .. " s"
  end
  if job.state == "finished" then
    -- the render files must all be there before the job counts as done
    if type(job.outputs) ~= "table" or #job.outputs == 0 then
      job.state, job.error = "failed", "the job finished without output files"
    else
      for _, path in ipairs(job.outputs) do
        if not reaper.file_exists(path) then
          job.state, job.error = "failed", "missing output file " .. path
        end
      end
    end
  end
end

return M
