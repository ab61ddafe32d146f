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
  -- an MP3's take: --gap auto reads the codec's dips too, and a gap (auto, or a region's) over a
  -- dip on one channel alone is filled there, the others kept (without it, every channel)
  for i = 1, job.lossy and #args or 0 do
    if args[i] == "--gap" then args[#args + 1] = "--lossy"; break end
  end
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
-- ExecProcess without waiting. The sh script also records the command's process id (NAME.pid),
-- which M.client_alive reads.
function M.launch(dir, name, args)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = system.quote_for_script(a) end
  local log = system.quote_for_script(system.join(dir, name .. ".log"))
  local code = system.quote_for_script(system.join(dir, name .. ".exit"))
  if system.is_windows() then
    system.write_file(system.join(dir, name .. ".cmd"), "@echo off\r\n" .. table.concat(quoted, " ")
      .. " > " .. log .. " 2>&1\r\necho %ERRORLEVEL% > " .. code .. "\r\n")
  else
    local pid = system.quote_for_script(system.join(dir, name .. ".pid"))
    system.write_file(system.join(dir, name .. ".sh"), "#!/bin/sh\n" .. table.concat(quoted, " ")
      .. " > " .. log .. " 2>&1 &\necho $! > " .. pid .. "\nwait $!\necho $? > " .. code .. "\n")
  end
  return M.start_script(dir, name)
end

-- Whether the client of a job's submit script still runs: true, false, or nil when it cannot
-- be told. A client counts as gone only on positive evidence:
--   sh (Linux, macOS): the process of the id the script recorded (NAME.pid) is gone when
--   `kill -0 PID` (a POSIX sh builtin) fails, or when ps (`ps -ww -p PID -o args=`, POSIX with
--   BSD's and procps' -ww: not cut to 80 columns) shows its arguments without the job's id (the
--   system gave its id to another process); it runs when ps cannot tell (busybox ps has no -p
--   or -ww). A job of an earlier version left no id: its client runs while a process's arguments
--   (`ps -A -ww -o args=`) hold the job's id, and is gone when none does; nil when ps cannot
--   tell. ExecProcess waits for the check at most 1 s; unanswered, a client that recorded its
--   id counts as running, one that did not cannot be told (nil).
--   cmd.exe (Windows): the script's redirection opens submit.log without FILE_SHARE_DELETE and
--   the client inherits that handle, so the log cannot be renamed while the client runs
--   (CreateFile's share modes; a rename needs DELETE access).
local CHECK = {
  pid = "kill -0 %d 2>/dev/null || { echo gone; exit 0; }; if a=$(ps -ww -p %d -o args= 2>/dev/null); "
    .. "then case $a in *%s*) echo alive ;; *) echo gone ;; esac; elif kill -0 %d 2>/dev/null; "
    .. "then echo alive; else echo gone; fi",
  -- the pattern's first letter in brackets: this sh's own arguments do not hold the id
  args = "if a=$(ps -A -ww -o args= 2>/dev/null); then case $a in *%s*) echo alive ;; *) echo gone ;; esac; "
    .. "else echo unknown; fi",
}
function M.client_alive(job)
  local log = system.join(job.dir, "submit.log")
  if system.is_windows() then
    if not reaper.file_exists(log) then return false end
    os.remove(log .. ".probe") -- left by a probe cut short: the rename would fail for it
    if not os.rename(log, log .. ".probe") then return true end
    os.rename(log .. ".probe", log)
    return false
  end
  if not job.id:match("^[%w._-]+$") then return nil end
  local pid = math.tointeger(tonumber(system.read_file(system.join(job.dir, "submit.pid")) or ""))
  local pattern = "[" .. job.id:sub(1, 1) .. "]" .. job.id:sub(2)
  local check = pid and string.format(CHECK.pid, pid, pid, job.id, pid) or string.format(CHECK.args, pattern)
  local said = (reaper.ExecProcess("/bin/sh -c " .. system.quote(check), 1000) or ""):match("^0\n(%a+)")
  if said == "gone" then return false end
  return pid and true or (said == "alive" or nil) -- a recorded client unanswered: still at work
end

-- The files of the command M.launch started in `dir` as `name`: its log and its exit code.
function M.process_of(dir, name)
  return { log = system.join(dir, name .. ".log"), code = system.join(dir, name .. ".exit") }
end

-- Start the script M.launch wrote in `dir` as `name` again (in the background; or waiting up
-- to `wait_ms` for it to end).
function M.start_script(dir, name, wait_ms)
  local process = M.process_of(dir, name)
  os.remove(process.code)
  os.remove(system.join(dir, name .. ".pid")) -- the last run's: not this one's
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
  return process
end

-- The file that says a job's submit was started again (once per job: M.reattach).
local function reattach_marker(job)
  return system.join(job.dir, "submit.reattached")
end

-- A client that ended without a final state (killed, REAPER quit under it) left its job on the
-- daemon, which may have finished it: the same submit, started again, attaches to the job by its
-- id (a resubmission with the same id and audio) and fetches its render. Once per job (the
-- marker file); false when it was tried already.
function M.reattach(job)
  local marker = reattach_marker(job)
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
-- each, end well within): its exit code (nil if it did not end) and output. For Settings' check
-- alone: an action does not wait (REAPER's window does not answer meanwhile).
local WAIT_MS = 20000
function M.run_client(s, command, ...)
  local args = M.client_command(s, command, ...)
  for i, arg in ipairs(args) do args[i] = system.quote(arg) end
  local result = reaper.ExecProcess(table.concat(args, " "), WAIT_MS) or ""
  local code, output = result:match("^(%-?%d+)\n(.*)$")
  return tonumber(code), output or result
end

-- Ask the daemon what it has of a job (`diffmusic status ID --json`, docs/protocol.md), in the
-- background: the process, for M.daemon_answer.
function M.ask_daemon(job, s)
  return M.launch(job.dir, "status", M.client_command(s, "status", job.id, "--json", "--timeout", "3"))
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
-- s: a client whose life cannot be told is started again only this long after the daemon ended
-- its job (a client that runs fetches and writes its render well within it)
local WRITE_S = 120
local START_TIMEOUT = 120 -- seconds without any status file before giving up on the client

-- What the daemon answered to M.ask_daemon: nil while the command runs; then its job object
-- (docs/protocol.md), or false, why not (the client's last line: the daemon is down, no such
-- job) and the daemon's error code in it ("daemon: CODE: ...", the client's form), if any.
function M.daemon_answer(process)
  local exit = system.read_file(process.code)
  if not exit then return nil end
  local line = last_line(process.log)
  local ok, value = pcall(json.decode, line)
  if ok and type(value) == "table" and exit_code(exit) == 0 and value.event == "status" then return value end
  local why = ok and type(value) == "table" and type(value.message) == "string" and value.message or line
  why = why ~= "" and why or "its client exited with code " .. exit_code(exit)
  return false, why, why:match("^daemon: ([%w-]+):")
end

-- A job no action watches, whose client has not ended (no exit file; the exit file is read by
-- M.poll_job): while the client runs, it is at work (waiting for the daemon, fetching or
-- writing the render); once it is gone without a word (REAPER and it were killed together, a
-- crash, a logout), its submit is started again in the background, once (M.reattach), and
-- attaches to the daemon's job by its id; gone again, the job failed. When its life cannot be
-- told (see M.client_alive), the daemon is asked in the background (M.ask_daemon) and its
-- answer read by the next Import: a job it has ended is fetched again (M.reattach). A client
-- started again that still runs fetches its render for an Import that ended before it (launched
-- again, it ends the running one): state "starting", watched by this one. Returns why the job is
-- still pending, or nil (state "starting": started again; or "failed").
function M.settle(job, s)
  if FINAL[job.state] or system.read_file(job.process.code) then return nil end
  local alive = M.client_alive(job)
  if alive and reaper.file_exists(reattach_marker(job)) then
    job.state = "starting"
    return nil
  end
  if alive then return "its client is still at work" end
  if alive == nil then
    local answer = M.daemon_answer(M.process_of(job.dir, "status"))
    if not (answer and FINAL[answer.state]) then
      M.ask_daemon(job, s)
      return "whether its client still runs cannot be told (ps did not answer) and the daemon has not said "
        .. "it ended: it is asked now; run 'DiffMusic - Import finished renders' again in a moment"
    end
    local ago = os.time() - (tonumber(answer.updated) or 0)
    if ago < WRITE_S then -- a client that runs fetches and writes its render in this time
      return string.format("the daemon ended it %d s ago and whether its client still runs cannot be told "
        .. "(ps did not answer): it may still be writing the render; run 'DiffMusic - Import finished "
        .. "renders' again in %d s", ago, WRITE_S - ago)
    end
  end
  if not M.reattach(job) then
    job.state = "failed"
    job.error = "its client ended without a word twice (see " .. job.process.log .. "); run the action again"
  end
  return nil
end

M.FINAL = FINAL

-- Read a job's status file (and exit code) into job.state / job.fraction / job.error.
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
