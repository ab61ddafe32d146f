-- @description DiffMusic - Repair marked damage
-- @author DiffMusic Bridge developers
-- @version 0.3.0
-- @license GPL-3.0-or-later
-- @about
--   Repairs the damage regions ("DiffMusic: dropout", "DiffMusic: click", "DiffMusic: clipping",
--   as "DiffMusic - Find damage in selected items" adds them, or drawn by hand) that overlap the
--   selected items: each kind of damage on an item becomes one job with its task (inpaint,
--   declick, declip), and the item gets one new take holding every repair, identical to the
--   original outside the repaired stretches (where two repairs change the same audio, one take
--   each, said in a message).
--   Dropouts and clicks are repaired where they are marked and nowhere else (a region deleted
--   as a false find stays as it was); clipping is repaired wherever the stretch sent holds it.
--   A region found in an item repairs only that item (until it is moved), and a part split off
--   it or the item it was glued into; one drawn by hand repairs every selected item it overlaps.
--   Part of DiffMusic Bridge; see reaper_scripts/README.md.

local script_path = ({ reaper.get_action_context() })[2]
local dm = dofile(script_path:match("^(.*)[/\\]") .. "/lib/diffmusic.lua")

local marked = dm.diagnosis.marked()
if #marked == 0 then
  dm.message("No damage is marked. Run 'DiffMusic - Find damage in selected items' first, or add "
    .. "regions named 'DiffMusic: dropout', 'DiffMusic: click' or 'DiffMusic: clipping'.")
  return
end

-- One spec per kind of damage marked on the item: its stretches (item frames), sent with the
-- kind's context (dropouts: the dropout context setting); the renders' repairs are placed on
-- one take (one_take: lib/diffmusic/repairs.lua).
local function spec_for(info, s)
  local specs = {}
  for _, damage in ipairs(dm.diagnosis.DAMAGE) do
    local gaps, a0, b1 = {}, math.huge, -1
    for _, m in ipairs(marked) do
      local a, b = dm.frames_of(info, m.start, m.stop)
      if a and m.damage == damage and dm.diagnosis.claims(m, info) then
        gaps[#gaps + 1] = { a, b }
        a0, b1 = math.min(a0, a), math.max(b1, b)
      end
    end
    if #gaps > 0 then
      local c0, c1 = dm.window(info, a0, b1, damage.context or s.context)
      specs[#specs + 1] = {
        task = damage.task, label = damage.label, kind = "take", first = c0, frames = c1 - c0,
        splice = c0 > 0 or c1 < info.frames, spans = gaps, from_regions = true, one_take = true,
        flags = damage.flag and dm.span_arguments(info, damage.flag, gaps, c0) or {},
      }
    end
  end
  if #specs > 0 then return specs end
  return nil
end

dm.run_action("Repair damage", "DiffMusic: repair marked damage", spec_for,
  "No marked damage overlaps the selected items.")
