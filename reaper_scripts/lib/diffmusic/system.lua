-- DiffMusic for REAPER: messages, files (written atomically), paths and shell quoting.
-- SPDX-License-Identifier: GPL-3.0-or-later

local M = {}
M.TITLE = "DiffMusic"

function M.message(text)
  reaper.ShowMessageBox(text, M.TITLE, 0)
end

function M.log(text)
  reaper.ShowConsoleMsg("DiffMusic: " .. text .. "\n")
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Write a whole file atomically: a temporary file beside it, then a rename.
function M.write_file(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

function M.join(...)
  return table.concat({ ... }, M.is_windows() and "\\" or "/")
end

function M.is_windows()
  return reaper.GetOS():match("^Win") ~= nil
end

-- Quote one argument for the shell that runs the job script.
function M.quote(arg)
  arg = tostring(arg)
  if M.is_windows() then return '"' .. arg:gsub('"', '\\"') .. '"' end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

return M
