-- DiffMusic for REAPER: a small JSON decoder and encoder.
-- SPDX-License-Identifier: GPL-3.0-or-later

-- Written by hand because REAPER ships no JSON library; the status files and job records are a
-- few flat objects. Objects are written with sorted keys; NaN and infinities as null. Also used
-- by the tests' harness (tests/reaper/harness.lua) to write its report.

local M = {}

local function json_error(_, pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local decode_value

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function decode_string(text, pos)
  local parts, i = {}, pos + 1
  while true do
    local c = text:sub(i, i)
    if c == "" then json_error(text, i, "unterminated string") end
    if c == '"' then return table.concat(parts), i + 1 end
    if c == "\\" then
      local e = text:sub(i + 1, i + 1)
      if e == "u" then
        local code = tonumber(text:sub(i + 2, i + 5), 16)
        if not code then json_error(text, i, "bad \\u escape") end
        i = i + 6
        -- a character beyond the BMP (an emoji in a path) comes as a UTF-16 surrogate pair
        local low = code >= 0xD800 and code < 0xDC00 and text:match("^\\u([dD][c-fC-F]%x%x)", i)
        if low then
          code = 0x10000 + ((code - 0xD800) << 10) + (tonumber(low, 16) - 0xDC00)
          i = i + 6
        end
        parts[#parts + 1] = utf8.char(code)
      elseif ESCAPES[e] then
        parts[#parts + 1] = ESCAPES[e]
        i = i + 2
      else
        json_error(text, i, "bad escape")
      end
    else
      local j = text:find('["\\]', i) or #text + 1
      parts[#parts + 1] = text:sub(i, j - 1)
      i = j
    end
  end
end

decode_value = function(text, pos)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local object = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "}" then return object, pos + 1 end
    while true do
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= '"' then json_error(text, pos, "expected a key") end
      local key
      key, pos = decode_string(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ":" then json_error(text, pos, "expected ':'") end
      object[key], pos = decode_value(text, pos + 1)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "}" then return object, pos + 1 end
      if d ~= "," then json_error(text, pos, "expected ',' or '}'") end
      pos = pos + 1
    end
  elseif c == "[" then
    local array = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "]" then return array, pos + 1 end
    while true do
      array[#array + 1], pos = decode_value(text, pos)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "]" then return array, pos + 1 end
      if d ~= "," then json_error(text, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(text, pos)
  elseif text:sub(pos, pos + 3) == "true" then
    return true, pos + 4
  elseif text:sub(pos, pos + 4) == "false" then
    return false, pos + 5
  elseif text:sub(pos, pos + 3) == "null" then
    return M.null, pos + 4
  else
    local number = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not number or number == "" or not tonumber(number) then json_error(text, pos, "unexpected input") end
    return tonumber(number), pos + #number
  end
end

M.null = setmetatable({}, { __tostring = function() return "null" end })

function M.decode(text)
  local value, pos = decode_value(text, 1)
  pos = skip(text, pos)
  if pos <= #text then json_error(text, pos, "trailing characters") end
  return value
end

local function encode_value(value, out)
  local kind = type(value)
  if value == nil or value == M.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(value)
  elseif kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      out[#out + 1] = "null" -- JSON has no NaN or infinity
    else
      out[#out + 1] = math.type(value) == "integer" and tostring(value) or string.format("%.17g", value)
    end
  elseif kind == "string" then
    out[#out + 1] = '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif kind == "table" then
    if value[1] ~= nil or next(value) == nil then -- a list (an empty table is an empty list)
      out[#out + 1] = "["
      for i, v in ipairs(value) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(v, out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(value) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode_value(k, out)
        out[#out + 1] = ":"
        encode_value(value[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    error("JSON: cannot encode a " .. kind, 0)
  end
end

function M.encode(value)
  local out = {}
  encode_value(value, out)
  return table.concat(out)
end

return M
