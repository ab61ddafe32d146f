-- @description DiffMusic - Restore dropout in time selection
-- @author DiffMusic Bridge developers
-- @version 0.3.0
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
  local a, b = dm.frames_of(info, start, stop)
  if not a then return nil end -- the selection misses this item
  if a == 0 and b == info.frames then
    return nil, string.format("The time selection covers all of '%s'; a dropout needs audio "
      .. "around it.", info.label)
  end
  local c0, c1 = dm.window(info, a, b, s.context)
  return {
    task = "inpaint", label = "dropout restore", kind = "take", first = c0, frames = c1 - c0,
    splice = c0 > 0 or c1 < info.frames, spans = { { a, b } },
    flags = dm.span_arguments(info, "--gap", { { a, b } }, c0),
  }
end

dm.run_action("Restore dropout", "DiffMusic: restore dropout", spec_for,
  string.format("The time selection (%.3f to %.3f s) does not overlap any selected item.", start, stop))
