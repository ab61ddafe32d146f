-- @description DiffMusic - Rebuild phase of selected items
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Rebuilds a plausible phase for items whose phase was lost (only the STFT magnitude is
--   trusted); the result is a new take on each item.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

dm.run_action("Rebuild phase", "DiffMusic: rebuild phase",
  dm.whole_item("phase-retrieval", {}, "phase"))
