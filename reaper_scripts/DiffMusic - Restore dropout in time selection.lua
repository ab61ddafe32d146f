-- @description DiffMusic - Restore dropout in time selection
-- @author DiffMusic Bridge developers
-- @version 0.1.0
-- @license GPL-3.0-or-later
-- @about
--   Fills the dropout under the time selection on every selected item; the result is a new
--   take on each item, identical to the original outside the restored stretch.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local start, stop = reaper.GetSet_LoopTimeRange(false, false, 0, 0, false)
if stop - start <= 0 then
  dm.message("Make a time selection over the dropout first.")
  return
end

-- The gap on one item: the time selection inside it, on the item's grid of source-rate frames
-- (frame j sounds at item time j / rate). Sent with `context` seconds on each side (or the whole
-- item): the engine fills a long gap with the song's own material found in what it is sent.
-- When that is less than the item, the render is spliced back into the whole item.
local function spec_for(info, s)
  local first = math.max(start, info.position) - info.position
  local last = math.min(stop, info.position + info.length) - info.position
  if last <= first then return nil end -- the selection misses this item
  local a = math.floor(first * info.rate + 0.5)
  local b = math.min(math.floor(last * info.rate + 0.5), info.frames)
  if b <= a then return nil end
  if a == 0 and b == info.frames then
    return nil, string.format("The time selection covers all of '%s'; a dropout needs audio "
      .. "around it.", info.label)
  end
  local c0, c1 = 0, info.frames
  if s.context ~= "item" then
    local context = math.floor(tonumber(s.context) * info.rate + 0.5)
    c0, c1 = math.max(0, a - context), math.min(info.frames, b + context)
  end
  return {
    task = "inpaint", label = "dropout restore", kind = "take", first = c0, frames = c1 - c0,
    splice = c0 > 0 or c1 < info.frames,
    flags = { "--gap", string.format("%.6f:%.6f", (a - c0) / info.rate, (b - c0) / info.rate) },
  }
end

dm.run_action("Restore dropout", "DiffMusic: restore dropout", spec_for,
  string.format("The time selection (%.3f to %.3f s) does not overlap any selected item.", start, stop))
