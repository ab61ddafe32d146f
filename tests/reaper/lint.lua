-- A Lua lint that needs nothing but Lua 5.4 (run with run_lua.py, i.e. lupa's Lua, or lua5.4):
--
--   lua5.4 lint.lua [--api fake_reaper.lua] [--allow NAME]... FILE...
--
-- For every FILE: it compiles (a syntax error is reported with its line); no line is longer
-- than 120 characters; every global it reads is a Lua 5.4 standard one, `reaper`, `gfx` or an
-- --allow'ed name, and it assigns no global at all; with --api, every `reaper.NAME` and
-- `gfx.NAME` it uses is defined by the ReaScript stand-in (which fails on any other name).
-- Prints "FILE:LINE: problem" lines and exits 1 if there is any.
--
-- Why by hand: luacheck is not on the Python package index, and a lint must install the way the
-- tests do. Globals are found the way `luac -l | grep ETTABUP` finds them: the compiled chunk
-- (string.dump, debug info kept) is read and every GETTABUP/SETTABUP on the _ENV upvalue is a
-- global access. The format is Lua 5.4's (ldump.c); reaper.NAME is a GETFIELD on the register
-- that a GETTABUP of `reaper` just loaded. luacheck remains an optional extra (README.md).

local STANDARD = {}
for name in ([[_G _VERSION _ENV assert collectgarbage coroutine debug dofile error getmetatable io
  ipairs load loadfile math next os package pairs pcall print rawequal rawget rawlen rawset
  require select setmetatable string table tonumber tostring type utf8 warn xpcall]]):gmatch("%S+") do
  STANDARD[name] = true
end
local MAX_LINE = 120
local OP = { LOADNIL = 8, GETTABUP = 11, GETFIELD = 14, SETTABUP = 15, SETFIELD = 18, SELF = 20 }
-- instructions that write only R[A] and keep what the other registers hold
local WRITES_A = { [0] = true, [1] = true, [2] = true, [3] = true, [5] = true, [7] = true,
  [9] = true, [11] = true, [14] = true }

-- ------------------------------------------------------------------------ reading a dump

local function reader(bytes)
  local pos = 1
  local r = {}
  function r.byte()
    pos = pos + 1
    return bytes:byte(pos - 1)
  end
  function r.size() -- ldump.c dumpSize: 7-bit groups, most significant first, last one has 0x80
    local x = 0
    repeat
      local b = r.byte()
      x = (x << 7) | (b & 0x7f)
    until b & 0x80 ~= 0
    return x
  end
  function r.bytes(n)
    pos = pos + n
    return bytes:sub(pos - n, pos - 1)
  end
  function r.string()
    local n = r.size()
    if n == 0 then return nil end
    return r.bytes(n - 1)
  end
  return r
end

local function read_function(r)
  local f = { source = r.string(), linedefined = r.size() }
  r.size() -- lastlinedefined
  r.bytes(3) -- numparams, is_vararg, maxstacksize
  f.code = {}
  for i = 1, r.size() do f.code[i] = string.unpack("<I4", r.bytes(4)) end
  f.k = {}
  for i = 1, r.size() do
    local tag = r.byte()
    if tag == 3 or tag == 19 then r.bytes(8) -- integer, float
    elseif tag == 4 or tag == 20 then f.k[i] = r.string() -- short, long string
    end
  end
  local nup = r.size()
  r.bytes(3 * nup)
  f.protos = {}
  for i = 1, r.size() do f.protos[i] = read_function(r) end
  local lineinfo, abs = {}, {}
  for i = 1, r.size() do lineinfo[i] = string.unpack("b", r.bytes(1)) end
  for _ = 1, r.size() do
    local pc = r.size()
    abs[pc] = r.size()
  end
  for _ = 1, r.size() do r.string(); r.size(); r.size() end -- local variables
  f.upnames = {}
  for i = 1, r.size() do f.upnames[i - 1] = r.string() end
  f.lines, f.lineinfo = {}, lineinfo
  local line = f.linedefined
  for pc = 0, #f.code - 1 do
    if lineinfo[pc + 1] == -128 then line = abs[pc] else line = line + (lineinfo[pc + 1] or 0) end
    f.lines[pc + 1] = line
  end
  return f
end

local function parse(chunk)
  local r = reader(string.dump(chunk))
  assert(r.bytes(4) == "\27Lua" and r.byte() == 0x54, "not a Lua 5.4 chunk")
  r.bytes(1 + 6 + 3 + 8 + 8 + 1) -- format, LUAC_DATA, sizes, LUAC_INT, LUAC_NUM, main's upvalues
  return read_function(r)
end

-- ------------------------------------------------------------------------ checks

-- Calls found(kind, name, line) for each global read/write and each reaper./gfx. field use.
local function walk(f, found)
  local holds = {} -- register -> the global it was just loaded with
  for pc, i in ipairs(f.code) do
    local op, a, b, c = i & 0x7f, (i >> 7) & 0xff, (i >> 16) & 0xff, (i >> 24) & 0xff
    local line = f.lines[pc]
    if op == OP.GETTABUP and f.upnames[b] == "_ENV" then
      found("read", f.k[c + 1], line)
    elseif op == OP.SETTABUP and f.upnames[a] == "_ENV" then
      found("write", f.k[b + 1], line)
    elseif (op == OP.GETFIELD or op == OP.SELF) and holds[b] and f.k[c + 1] then
      found("field", holds[b] .. "." .. f.k[c + 1], line)
    elseif op == OP.SETFIELD and holds[a] and f.k[b + 1] then
      found("field", holds[a] .. "." .. f.k[b + 1], line)
    end
    if op == OP.GETTABUP and f.upnames[b] == "_ENV" and (f.k[c + 1] == "reaper" or f.k[c + 1] == "gfx") then
      holds[a] = f.k[c + 1]
    elseif WRITES_A[op] then
      holds[a] = nil
    elseif op == OP.LOADNIL then
      for reg = a, a + b do holds[reg] = nil end
    elseif op ~= OP.SETFIELD then
      holds = {}
    end
  end
  for _, p in ipairs(f.protos) do walk(p, found) end
end

local function lint_file(path, allowed, api, problems)
  local function problem(line, text) problems[#problems + 1] = string.format("%s:%d: %s", path, line, text) end
  local f = io.open(path, "rb")
  if not f then problem(0, "cannot read the file"); return end
  local text = f:read("a")
  f:close()
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if utf8.len(line) and utf8.len(line) > MAX_LINE then
      problem(n, string.format("line is longer than %d characters", MAX_LINE))
    end
  end
  local chunk, message = load(text, "@" .. path, "t")
  if not chunk then
    local line, why = message:match(":(%d+): (.*)$")
    problem(tonumber(line) or 0, "syntax: " .. (why or message))
    return
  end
  walk(parse(chunk), function(kind, name, line)
    if kind == "read" and not (STANDARD[name] or allowed[name]) then
      problem(line, "reads undeclared global '" .. name .. "'")
    elseif kind == "write" then
      problem(line, "assigns global '" .. name .. "' (declare it local)")
    elseif kind == "field" and api and not api[name] then
      problem(line, "'" .. name .. "' is not ReaScript API known to the stand-in")
    end
  end)
end

-- ------------------------------------------------------------------------ command line

local allowed, api, files = { reaper = true, gfx = true }, nil, {}
local i = 1
while arg[i] do
  if arg[i] == "--allow" then
    allowed[arg[i + 1]] = true
    i = i + 2
  elseif arg[i] == "--api" then
    local reaper, gfx = dofile(arg[i + 1]).new({})
    api = {}
    for name in pairs(reaper) do api["reaper." .. name] = true end
    for name in pairs(gfx) do api["gfx." .. name] = true end
    i = i + 2
  else
    files[#files + 1] = arg[i]
    i = i + 1
  end
end

local problems = {}
for _, path in ipairs(files) do lint_file(path, allowed, api, problems) end
for _, p in ipairs(problems) do io.stdout:write(p, "\n") end
io.stdout:write(string.format("%d problem(s) in %d file(s)\n", #problems, #files))
io.stdout:flush()
os.exit(#problems == 0 and 0 or 1)
