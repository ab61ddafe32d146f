-- @description DiffMusic - Separate selected items
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Splits each selected item into sources (the number is set in DiffMusic - Settings), one
--   new track per source below the item's track.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

dm.run_action("Separate", "DiffMusic: separate items", function(info, s)
  return dm.whole_item("separate", { "--sources", s.sources }, "separation", "tracks")(info)
end)
