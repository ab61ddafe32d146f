"""An item edited while its job is read or runs, a job whose client died with REAPER, Repair's
one take for an item's kinds of damage, and the messages around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item, write_script, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 8000
# A `diffmusic` stand-in: `status` says the job finished STAND_IN_AGE s ago (600 unless the
# environment says); `cancel` marks the job's
# status file cancelled; `submit` does BODY, then finishes with the sent audio as the render
# (and NOTE as the status's notes for an inpaint).
CLI = """#!/bin/sh
case "$1" in
  status) printf '{"event": "status", "job": "%s", "state": "finished", "updated": %s}\\n' \
    "$2" "$(( $(date +%s) - ${STAND_IN_AGE:-600} ))"; exit 0 ;;
  cancel) echo "$2" >> "CANCELS"; printf '{"state": "cancelled"}' > "JOBS/$2/status.json"; exit 0 ;;
esac
input="$2"; status=""; out=""; task=""
while [ $# -gt 0 ]; do
  case "$1" in
    --status-file) status="$2"; shift ;; -o) out="$2"; shift ;; --task) task="$2"; shift ;;
  esac
  shift
done
BODY
notes='[]'
[ "$task" = inpaint ] && notes='NOTE'
cp "$input" "$out"
printf '{"state": "finished", "fraction": 1, "outputs": ["%s"], "notes": %s}' "$out" "$notes" \
  > "$status"
"""
RUNNING = """printf '{"state": "running", "fraction": 0.5}' > "$status"\n"""


def stand_in(tmp: Path, body: str = "", note: str = "[]") -> dict:
    text = CLI.replace("BODY", body).replace("NOTE", note)
    text = text.replace("CANCELS", str(tmp / "cancels")).replace("JOBS", str(tmp / "jobs"))
    return {"cli": write_script(tmp / "diffmusic-stand-in", text), "job_folder": str(tmp / "jobs")}


def source(tmp: Path, seconds: float) -> Path:
    return write_wav(tmp / "a.wav", music_excerpt(seconds, SR, 1, seed=4), SR)


def edit(tmp: Path, lua: str) -> Path:
    """A script the user runs: an edit of the first item, in an undo block."""
    path = tmp / "edit.lua"
    path.write_text(
        "reaper.Undo_BeginBlock()\nlocal item = reaper.GetMediaItem(0, 0)\n"
        "local take = reaper.GetActiveTake(item)\n" + lua + "reaper.Undo_EndBlock('edit', -1)\n"
    )
    return path


TRIM = (
    "reaper.SetMediaItemInfo_Value(item, 'D_POSITION', 0.5)\n"
    "reaper.SetMediaItemInfo_Value(item, 'D_LENGTH', reaper.GetMediaItemInfo_Value(item, "
    "'D_LENGTH') - 0.5)\nreaper.SetMediaItemTakeInfo_Value(take, 'D_STARTOFFS', 0.5)\n"
)


def test_an_item_trimmed_while_it_is_read_gets_no_job(tmp_path: Path) -> None:
    """40 s at 8 kHz is read over ten defer cycles (32768 frames each); a trim at cycle 3 would
    have had the rest read from the trimmed item (a take out of time)."""
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source(tmp_path, 40.0), 0.0, 40.0)]}],
        [{"script": script("Rebuild phase of selected items")},
         {"script": edit(tmp_path, TRIM), "cycle": 3}],
        extstate=stand_in(tmp_path), max_seconds=60,
    )  # fmt: skip
    (message,) = [m["message"] for m in report["messages"]]
    assert message.endswith(
        "'take': edited while it was read (length 40.000 -> 39.500 s, take start offset 0.000 -> "
        "0.500 s): run the action again"
    )
    assert not [c for c in report["exec"] if "submit" in c]  # never sent
    assert len(report["tracks"][0]["items"][0]["takes"]) == 1


def test_a_render_whose_repair_was_split_off_the_item_is_not_placed(tmp_path: Path) -> None:
    """The item is cut to 0.5 s (a split) while the job runs: the restored dropout at 0.6 s is
    no longer in it, so no take; the message says what changed and where the render is."""
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}],
        [{"script": script("Restore dropout in time selection")},
         {"script": edit(tmp_path, "reaper.SetMediaItemInfo_Value(item, 'D_LENGTH', 0.5)\n"),
          "cycle": 10}],
        extstate={**stand_in(tmp_path, "sleep 2\n"), "context": "0.1"},
        time_selection=(0.6, 0.62), max_seconds=60,
    )  # fmt: skip
    (message,) = [m["message"] for m in report["messages"]]
    (job,) = (tmp_path / "jobs").iterdir()
    render = job / "item-restored.wav"
    assert (
        "'take' (DiffMusic dropout restore) was not placed: the item changed since the job "
        in message
    )
    assert (
        "(length 1.000 -> 0.500 s); what it repaired (item time 0.600-0.620 s then) is no "
        "longer in the item" in message
    )
    assert message.endswith(f"The render is in {render}")
    assert render.exists()
    assert len(report["tracks"][0]["items"][0]["takes"]) == 1
    assert report["undo_points"] == ["edit"]  # none for a placement that did not happen


def orphan(tmp_path: Path, then: str = "") -> tuple[dict, list]:
    """A job whose client dies with its shell (no exit file) after saying "running"; the action
    watching it is stopped (REAPER closed). Its settings and tracks, for the next runs. ``then``:
    shell lines the client started again runs before it fetches (a slow fetch)."""
    dies = 'if [ ! -f "$status.once" ]; then touch "$status.once"; ' + RUNNING.strip()
    settings = stand_in(tmp_path, dies + "; kill -9 $PPID; kill -9 $$; fi\n" + then)
    tracks = [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}]
    first = run_scripts(
        tmp_path, tracks, [{"script": script("Rebuild phase of selected items"), "kill_cycle": 20}],
        extstate=settings, name="first", max_seconds=30,
    )  # fmt: skip
    (job,) = (tmp_path / "jobs").iterdir()
    assert not (job / "submit.exit").exists() and "running" in (job / "status.json").read_text()
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    return state, tracks


def test_a_job_whose_client_died_is_fetched_by_import_and_not_cancelled(tmp_path: Path) -> None:
    state, tracks = orphan(tmp_path)
    cancel = run_scripts(tmp_path, tracks, [{"script": script("Cancel running jobs")}],
                         extstate=state, name="cancel", max_seconds=30)  # fmt: skip
    # the daemon says it finished: nothing to cancel (its status file said "running")
    assert "cancel sent for 0 job(s); 0 more" in cancel["console"]
    assert not (tmp_path / "cancels").exists()
    report = run_scripts(tmp_path, tracks, [{"script": script("Import finished renders")}],
                         extstate=state, name="import", max_seconds=30)  # fmt: skip
    assert report["messages"] == []
    assert "Import finished renders: 1 render(s) placed." in report["console"]
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]
    assert report["extstate"]["DiffMusic"]["pending"] == ""


def test_cancel_counts_the_jobs_a_running_action_cancels(tmp_path: Path) -> None:
    settings = stand_in(
        tmp_path, RUNNING + 'until grep -q cancelled "$status"; do sleep 0.05; done; exit 1\n'
    )
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items")},
         {"script": script("Cancel running jobs"), "cycle": 20}],
        extstate=settings, max_seconds=60,
    )  # fmt: skip
    assert (
        "cancel sent for 0 job(s); 1 more cancelled by the action watching them."
        in report["console"]
    )
    assert len((tmp_path / "cancels").read_text().split()) == 1  # sent once, by the action
    assert "cancelled; nothing was changed." in report["console"]


def test_a_gone_job_of_an_unsaved_project_is_told_once_without_undo_points(tmp_path: Path) -> None:
    state, _ = orphan(tmp_path)
    (job,) = (tmp_path / "jobs").iterdir()
    (job / "submit.reattached").write_text("1")
    (job / "submit.exit").write_text("0\n")  # its client came back and finished it
    (job / "status.json").write_text(
        json.dumps({"state": "finished", "fraction": 1, "outputs": [str(job / "restored.wav")]})
    )
    (job / "restored.wav").write_bytes((job / "input.wav").read_bytes())
    report = run_scripts(tmp_path, [{"name": "Other", "items": []}],
                         [{"script": script("Import finished renders"), "cycle": c}
                          for c in (0, 5, 10)],
                         extstate=state, name="import", max_seconds=30)  # fmt: skip
    (message,) = report["messages"]
    assert f"the item of 'take' is gone; the render is in {job}" in message["message"]
    assert report["console"].count(f"the render is in {job} (unless it is in another unsaved") == 2
    assert report["undo_points"] == [] and report["changes"] == []


def test_two_kinds_of_damage_make_one_take_left_inactive_on_a_warning(tmp_path: Path) -> None:
    """A dropout and a click on one item: one take holds both repairs (repairs.lua); the engine
    warned of the dropout's fill, so that take is not made active, and the warning is shown
    under the take's name (it had been two takes, the declick one active with the dropout)."""
    note = '[{"level": "warning", "text": "gap 0.1000-0.1200 s is 5.0 ms wider than the dropout '
    note += "at 0.1000-0.1150 s in it: the music beside the dropout was replaced too; select the "
    note += 'dropout alone to keep it"}]'
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source(tmp_path, 2.0), 0.0, 2.0, name="gtr")]}],
        [{"script": script("Repair marked damage")}],
        extstate={**stand_in(tmp_path, "", note), "context": "0.1"}, max_seconds=60,
        markers=[{"isrgn": True, "pos": 0.5, "rgnend": 0.52, "name": "DiffMusic: dropout"},
                 {"isrgn": True, "pos": 1.5, "rgnend": 1.501, "name": "DiffMusic: click"}],
    )  # fmt: skip
    (message,) = [m["message"] for m in report["messages"]]
    assert message == (
        "Repair damage: 2 of 2 done.\n\n'gtr' (DiffMusic dropout restore + declick): added as a "
        "take that is not active; listen before switching to it:\n  warning: gap 0.5000-0.5200 s "
        "is 5.0 ms wider than the dropout at 0.5000-0.5150 s in it: the music beside the dropout "
        "was replaced too; resize the 'DiffMusic: dropout' region to the dropout alone (or delete "
        "it) to keep it"
    )
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("gtr", True),
        ("gtr (DiffMusic dropout restore + declick)", False),
    ]


def test_an_empty_selected_item_is_named(tmp_path: Path) -> None:
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source(tmp_path, 1.0), 0.0, 1.0)]},
                   {"name": "Vox", "items": [{"position": 2.0, "length": 1.0, "selected": True,
                                              "takes": []}]}],
        [{"script": script("Rebuild phase of selected items")}],
    )  # fmt: skip
    (message,) = [m["message"] for m in report["messages"]]
    assert message == (
        "A selected item is empty (no take): the item at 2.000 s on track 2 (Vox); "
        "deselect it or delete it."
    )
    assert report["exec"] == []


P = 2 ** (1 / 12)  # a semitone up
# the playrate as a reloaded project has it (the .rpp keeps 14 decimals), then a trim by 0.25 s
RELOADED_AND_TRIMMED = (
    "local rate = tonumber(string.format('%.14f', reaper.GetMediaItemTakeInfo_Value(take, "
    "'D_PLAYRATE')))\nreaper.SetMediaItemTakeInfo_Value(take, 'D_PLAYRATE', rate)\n"
    "reaper.SetMediaItemInfo_Value(item, 'D_POSITION', 0.25)\n"
    "reaper.SetMediaItemInfo_Value(item, 'D_LENGTH', reaper.GetMediaItemInfo_Value(item, "
    "'D_LENGTH') - 0.25)\nreaper.SetMediaItemTakeInfo_Value(take, 'D_STARTOFFS', 0.25 * rate)\n"
)


@pytest.mark.parametrize(
    "lua, cycle",
    [(RELOADED_AND_TRIMMED, 10), ("reaper.SetMediaItemInfo_Value(item, 'D_POSITION', 3.0)\n", 3)],
    ids=["playrate-rounded-then-trimmed-while-it-runs", "moved-while-it-is-read"],
)
def test_an_edit_that_keeps_the_render_in_time_places_it(tmp_path: Path, lua, cycle) -> None:
    """A playrate that differs by its 15th decimal is the same playrate; a move while the item
    is read does not change what is read (placement follows the item)."""
    seconds = 40.0 if cycle == 3 else 1.0  # 40 s: read over ten defer cycles
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source(tmp_path, 45.0), 0.0, seconds, playrate=P)]}],
        [{"script": script("Rebuild phase of selected items")},
         {"script": edit(tmp_path, lua), "cycle": cycle}],
        extstate=stand_in(tmp_path, "sleep 2\n" if cycle == 10 else ""), max_seconds=60,
    )  # fmt: skip
    assert report["messages"] == []
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]


def test_an_impulse_response_edited_while_it_is_read_gets_no_job(tmp_path: Path) -> None:
    """The --rir item is read with the item it dereverberates: edited meanwhile, it is named."""
    response = write_wav(tmp_path / "ir.wav", music_excerpt(1.0, SR, 1, seed=5), SR)
    report = run_scripts(
        tmp_path,
        [{"name": "Room IR", "items": [take_item(response, 50.0, 1.0, name="hall")]},
         {"name": "Vox", "items": [take_item(source(tmp_path, 40.0), 0.0, 40.0, name="vox")]}],
        [{"script": script("Dereverberate selected items")},
         {"script": edit(tmp_path, "reaper.SetMediaItemTakeInfo_Value(take, 'D_STARTOFFS', 0.1)\n"),
          "cycle": 3}],
        extstate=stand_in(tmp_path), max_seconds=60,
    )  # fmt: skip
    (message,) = [m["message"] for m in report["messages"]]
    assert message.endswith(
        "'vox': edited while it was read ('hall': take start offset 0.000 -> 0.100 s): run the "
        "action again"
    )
    assert not [c for c in report["exec"] if "submit" in c]  # never sent
