-- @description DiffMusic - Dereverberate selected items
-- @author DiffMusic Bridge developers
-- @version 0.1.0
-- @license GPL-3.0-or-later
-- @about
--   Removes room reverberation from the selected items; the result is a new take on each item.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

dm.run_action("Dereverberate", "DiffMusic: dereverberate items",
  dm.whole_item("dereverb", { "--rir", "blind" }, "dereverb"))
