-- @description DiffMusic - Dereverberate selected items
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Removes room reverberation from the selected items; the result is a new take on each item.
--   Blind, it first estimates the room (diffmusic diagnose) and shows it. If one of the selected
--   items is an impulse response (its take or track name holds "IR" as a word, or "impulse"),
--   that response is used for the others (--rir) instead. An item the engine leaves as it is
--   (no room it can measure, too little reverberation to remove without harm, or a room under
--   0.8 s, as likely the production's own reverberation) gets no take; the console says why.
--   Part of DiffMusic Bridge; needs the diffmusic daemon running (diffmusic serve).
--   See reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

-- The impulse-response item among the selection, if any (run_action reports a bad selection).
local impulse
local items = dm.selected_items()
for _, info in ipairs(items or {}) do
  if dm.is_impulse_response(info) then
    if impulse then
      dm.message(string.format("Select one impulse-response item: '%s' and '%s' are both named as "
        .. "one (IR or impulse in the take or track name).", impulse.label, info.label))
      return
    end
    impulse = info
  end
end

dm.run_action("Dereverberate", "DiffMusic: dereverberate items", function(info)
  local spec = { task = "dereverb", kind = "take", first = 0, frames = info.frames }
  if not impulse then
    -- blind: the engine estimates the room; diagnose shows that estimate to the user
    spec.flags, spec.label, spec.diagnose = { "--rir", "blind" }, "dereverb", true
    return spec
  end
  if info.item_guid == impulse.item_guid then return nil end -- the response is not processed
  spec.flags, spec.label = {}, "dereverb with " .. impulse.label
  spec.attachments = { { flag = "--rir", info = impulse, name = "rir.wav" } }
  return spec
end, "Select the items to dereverberate along with the impulse-response item.")
