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

-- Every file the scripts write goes to its temporary (beside it) and is then renamed into
-- place (M.put_in_place): a reader sees the old file or the new one, never half of one.
function M.temporary_for(path)
  return path .. ".tmp"
end

function M.put_in_place(tmp, path)
  assert(os.rename(tmp, path))
end

-- Write a whole file atomically.
function M.write_file(path, text)
  local tmp = M.temporary_for(path)
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  M.put_in_place(tmp, path)
end

-- The last line of `text` that is not blank ("" if none): what a log's failure says.
function M.last_line(text)
  local line = ""
  for l in (text or ""):gmatch("[^\r\n]+") do
    if l:match("%S") then line = l end
  end
  return line
end

function M.join(...)
  return table.concat({ ... }, M.is_windows() and "\\" or "/")
end

function M.is_windows()
  return reaper.GetOS():match("^Win") ~= nil
end

-- Quote one argument of a command line. Windows: the C runtime's rules, so backslashes before
-- a quote or the closing quote are doubled and a quote is escaped (a trailing backslash had
-- escaped the closing quote).
function M.quote(arg)
  arg = tostring(arg)
  if M.is_windows() then
    arg = arg:gsub('(\\*)"', function(slashes) return slashes .. slashes .. '\\"' end)
    return '"' .. arg:gsub("(\\+)$", "%1%1") .. '"'
  end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

-- Quote one argument for a line of the job script: Windows runs it as a .cmd file, which
-- expands % even between quotes, so % is doubled (a project folder "Mix 100%" lost its %).
function M.quote_for_script(arg)
  local quoted = M.quote(arg)
  if M.is_windows() then quoted = quoted:gsub("%%", "%%%%") end
  return quoted
end

return M
