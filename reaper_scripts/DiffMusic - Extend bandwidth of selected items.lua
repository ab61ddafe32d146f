-- @description DiffMusic - Extend bandwidth of selected items
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Rebuilds the missing top band of band-limited items (old MP3s, tape); the result is a new take on each item.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

dm.run_action("Extend bandwidth", "DiffMusic: extend bandwidth",
  dm.whole_item("super-resolution", { "--cutoff", "auto" }, "bandwidth"))
