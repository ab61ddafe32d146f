-- @description DiffMusic - Find damage in selected items
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Runs `diffmusic diagnose` on each selected item and marks what it finds as project regions
--   named "DiffMusic: dropout", "DiffMusic: click" and "DiffMusic: clipping" (one undo point);
--   "DiffMusic - Repair marked damage" then repairs them. The room estimate goes to the console.
--   Part of DiffMusic Bridge; see reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

dm.run_action("Find damage", "DiffMusic: mark damage", function(info)
  return { task = "diagnose", kind = "markers", label = "damage", first = 0, frames = info.frames }
end)
