"""The DiffMusic actions end to end: real Lua scripts, the ReaScript stand-in, a real daemon.

Each test builds a project whose source files hold known audio, runs an action the way REAPER
would, and checks the project afterwards against numbers derived here: where the new take sits,
which file it plays, that this file lines up sample for sample with what the original take
played, and that nothing else changed.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from action_scenarios import CROSSFADE, JOB_FOLDER, SCENARIOS, SR, TRIM
from reaper_helpers import (
    assert_unchanged,
    heard,
    read_wav,
    run_scripts,
    script,
    start_scripts,
)
from test_rooms import room_line

from diffmusic_engine.dsp.dereverb import NO_ROOM

pytestmark = pytest.mark.lua


def only_new_take(report: dict, track: int = 0, item: int = 0) -> dict:
    """The single take the action added (the last one, which must be active)."""
    takes = report["tracks"][track]["items"][item]["takes"]
    assert len(takes) == 2, takes
    assert takes[1]["active"] and not takes[0]["active"]
    return takes[1]


def assert_one_undo_point(report: dict, name: str) -> None:
    assert report["errors"] == [], report["errors"]
    assert report["messages"] == [], report["messages"]
    assert report["undo_points"] == [name]
    assert report["undo_depth"] == 0
    assert report["changes"] and all(c["in_undo_block"] for c in report["changes"])
    assert report["accessors_open"] == 0


def outside(n: int, first: int, stop: int, margin: int) -> np.ndarray:
    """Mask of frames farther than ``margin`` from the gap ``[first, stop)``."""
    keep = np.ones(n, dtype=bool)
    keep[max(0, first - margin) : stop + margin] = False
    return keep


def assert_cancel_was_sent(job: Path) -> None:
    """`diffmusic cancel <this job>` was started; the daemon cancelled the job unless it had
    already finished (a race the daemon's own tests cover; the action places nothing either way)."""
    assert f"'cancel' '{job.name}'" in (job / "cancel.sh").read_text()
    assert json.loads((job / "status.json").read_text())["state"] in ("cancelled", "finished")


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    return float(np.sum((estimate - reference) ** 2) / np.sum(reference**2))


# ------------------------------------------------------------------------------------------
# The round trips through the daemon. Their scenarios are started together (one harness
# process each, all against the same daemon) so that the clients' start-up overlaps; each test
# then checks one report.


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, daemon: dict) -> dict:
    """Every scenario run through the daemon: name -> (report, context, folder)."""
    started = {}
    for name, build in SCENARIOS.items():
        tmp = tmp_path_factory.mktemp(name)
        run, context = build(tmp, daemon)
        started[name] = (start_scripts(tmp, **run), context, tmp)
    return {name: (r.result(), context, tmp) for name, (r, context, tmp) in started.items()}


@pytest.mark.slow
def test_restore_dropout_places_a_sample_aligned_take(e2e: dict) -> None:
    report, c, _ = e2e["dropout"]
    assert_one_undo_point(report, "DiffMusic: restore dropout")
    item = report["tracks"][0]["items"][0]
    assert (item["position"], item["length"]) == (c["position"], 1.2)
    take = only_new_take(report)
    assert (take["startoffs"], take["playrate"]) == (0, 1)
    assert take["file"] in report["peaks"]

    # What the script sent: 0.5 s of context on each side, the gap relative to that file.
    first, stop = c["gap"]
    job = Path(take["file"]).parent
    assert job.parent.name == JOB_FOLDER
    sent, rate = read_wav(job / "input.wav")
    c0, c1 = first - SR // 2, stop + SR // 2
    assert rate == SR and np.array_equal(sent, c["damaged"][:, c0:c1])
    assert "'--gap' '0.500000:0.520000'" in (job / "submit.sh").read_text()
    # the take plays the item with the render spliced in; the copy read to make it is spent
    assert Path(take["file"]).name == "item-restored.wav" and not (job / "item.wav").exists()

    # The new take: the whole item, identical to the original away from the gap, filled inside.
    restored, rate = read_wav(take["file"])
    assert rate == SR and restored.shape == (2, math.ceil(1.2 * SR))
    keep = outside(restored.shape[1], first, stop, int(CROSSFADE * SR) + 1)
    assert np.array_equal(restored[:, keep], c["damaged"][:, keep])
    gap = slice(first, stop)
    # zeros have relative error 1; the restoration must be much closer to the clean signal
    assert relative_error(restored[:, gap], c["clean"][:, gap]) < 0.5
    assert report["extstate"]["DiffMusic"]["pending"] == ""  # the registry is empty again
    # progress was shown in a window while the script polled (deferred, many cycles)
    assert report["gfx_titles"] == ["DiffMusic - Restore dropout"]
    assert any(t.startswith("take: ") and t.endswith("%") for t in report["gfx_text"])
    assert report["cycles"] > 2
    # the import action left this action's jobs alone: each placed once, one undo point
    assert "DiffMusic: imported 0 render(s)" in report["console"]

    # The second item: its own job, placed in the same undo block, aligned with what it played.
    item = report["tracks"][1]["items"][0]
    assert (item["position"], item["length"]) == (c["position"] + 0.1, 1.0)
    take = only_new_take(report, track=1)
    assert (take["startoffs"], take["playrate"]) == (0, 1)
    restored, _ = read_wav(take["file"])
    original = heard(c["damaged"], SR, 0.1, 1.0, SR)
    assert restored.shape == original.shape
    first, stop = first - SR // 10, stop - SR // 10
    keep = outside(SR, first, stop, int(CROSSFADE * SR) + 1)
    assert np.array_equal(restored[:, keep], original[:, keep])
    clean = heard(c["clean"], SR, 0.1, 1.0, SR)
    assert relative_error(restored[:, first:stop], clean[:, first:stop]) < 0.5


@pytest.mark.slow
def test_take_with_start_offset_and_playrate_stays_sample_aligned(e2e: dict) -> None:
    report, c, _ = e2e["playrate"]
    assert report["errors"] == [] and report["messages"] == []
    assert report["undo_points"] == ["trim item", "DiffMusic: restore dropout"]
    assert all(c["in_undo_block"] for c in report["changes"])
    take = only_new_take(report)
    # the render starts where the item started when the job began: TRIM s before it now (a
    # render placed from 0 had played TRIM s early)
    assert take["startoffs"] == pytest.approx(TRIM, abs=1e-12) and take["playrate"] == 1
    assert report["tracks"][0]["items"][0]["length"] == pytest.approx(c["length"] - TRIM)

    # The new take plays frame j at item time j / SR: it must equal what the original take
    # played at those times (derived here from the source, offset and playrate) off the gap.
    frames = math.ceil(c["length"] * SR)
    original = heard(c["damaged"], SR, c["startoffs"], c["playrate"], frames)
    restored, rate = read_wav(take["file"])
    assert rate == SR and restored.shape == (2, frames)
    first, stop = round(c["t"][0] * SR), round(c["t"][1] * SR)
    keep = outside(frames, first, stop, int(CROSSFADE * SR) + 2)
    np.testing.assert_allclose(restored[:, keep], original[:, keep], atol=2e-7, rtol=0)
    # a one-frame shift would not match: the check above is sensitive to alignment
    assert np.max(np.abs(restored[:, keep][:, 1:] - original[:, keep][:, :-1])) > 1e-3
    reference = heard(c["clean"], SR, c["startoffs"], c["playrate"], frames)[:, first:stop]
    assert relative_error(restored[:, first:stop], reference) < 0.5


@pytest.mark.slow
def test_restore_dropout_shows_the_engine_s_notes_under_each_item(e2e: dict) -> None:
    """The status file's notes reach the user: each job's under its item label in the
    summary; one take per item, the kept channel as it was. A warning (music replaced where a
    dropout was expected: a clean item selected beside dropped ones) is shown in a message, and
    that item's new take is added but not made active (it had been, said in the console)."""
    report, c, _ = e2e["notes"]
    assert report["errors"] == [] and report["undo_points"] == ["DiffMusic: restore dropout"]
    said = "DiffMusic: '{}' (DiffMusic dropout restore):\n  {}"
    assert said.format("left", f"note: {c['lines']['left']}\n") in report["console"]
    assert said.format("both", f"note: {c['lines']['both']}\n") in report["console"]
    message = report["messages"][0]["message"]
    assert len(report["messages"]) == 1 and message.startswith("Restore dropout: 3 of 3 done.")
    assert "'music' (DiffMusic dropout restore): added as a take that is not active" in message
    assert "warning: gap 2.6000-2.8000 s held audio" in message
    restored, _ = read_wav(only_new_take(report)["file"])
    assert np.array_equal(restored[1], c["left_only"][1])  # the right channel, kept
    music = report["tracks"][2]["items"][0]["takes"]
    assert len(music) == 2 and music[0]["active"] and not music[1]["active"]


@pytest.mark.slow
def test_dereverberate_places_the_daemon_render_as_a_new_take(e2e: dict) -> None:
    report, c, _ = e2e["dereverb"]
    assert_one_undo_point(report, "DiffMusic: dereverberate items")
    item = report["tracks"][0]["items"][0]
    assert (item["position"], item["length"]) == (c["position"], c["length"])
    take = only_new_take(report)
    assert (take["startoffs"], take["playrate"]) == (0, 1)
    assert take["file"] in report["peaks"]

    frames = math.ceil(c["length"] * SR)
    source_audio, _ = read_wav(c["source"])  # the 24-bit samples as the script read them
    sent, _ = read_wav(Path(take["file"]).parent / "input.wav")
    assert np.array_equal(sent, source_audio[:, round(c["startoffs"] * SR) :][:, :frames])
    # the take plays the daemon's render of that audio, in time with it: dereverberation keeps
    # the direct sound where it was, so the render correlates best with the input at lag 0
    rendered, rate = read_wav(take["file"])
    assert rate == SR and rendered.shape == (2, frames)
    assert np.sum(rendered.astype(np.float64) ** 2) < np.sum(sent.astype(np.float64) ** 2)
    for ch in range(2):
        xcorr = np.correlate(rendered[ch], sent[ch][200:-200], mode="valid")
        assert int(np.argmax(xcorr)) == 200
    # blind: the room `diffmusic diagnose` printed for the sent audio is shown (test_rooms.py)
    job = Path(take["file"]).parent
    (printed,) = [x for x in (job / "diagnose.log").read_text().splitlines() if x[:1] == "{"]
    line = room_line(json.loads(printed)["reverb"])
    assert f"DiffMusic: 'take': {line}\n" in report["console"]
    assert " - " + line in report["gfx_text"]  # and in the progress window


@pytest.mark.slow
def test_dereverberate_leaves_an_item_it_cannot_measure_as_it_is_and_says_why(e2e: dict) -> None:
    """The engine returned the sent audio unchanged: no take, no undo point, the reason shown."""
    report, _, _ = e2e["short_dereverb"]
    assert_unchanged(report)
    assert report["messages"] == []
    assert f"DiffMusic: 'take': left as it is ({NO_ROOM})\n" in report["console"]
    assert "DiffMusic: Dereverberate: 0 render(s) placed." in report["console"]
    assert report["extstate"]["DiffMusic"]["pending"] == ""


@pytest.mark.slow
def test_separate_puts_each_source_on_a_new_track(e2e: dict) -> None:
    report, c, _ = e2e["separate"]
    assert_one_undo_point(report, "DiffMusic: separate items")
    names = [t["name"] for t in report["tracks"]]
    assert names == ["Mix", "Mix - source 1", "Mix - source 2", "Other"]
    (original,) = report["tracks"][0]["items"][0]["takes"]  # the original is untouched
    assert list(original["fx"]) == ["VST: ReaEQ (Cockos)"]
    frames = math.ceil(c["length"] * SR)
    separated = []
    for track in report["tracks"][1:3]:
        (item,) = track["items"]
        assert (item["position"], item["length"]) == (c["position"], c["length"])
        (take,) = item["takes"]
        assert (take["startoffs"], take["playrate"]) == (0, 1)
        assert not take["fx"]  # the audio before the take's FX, left so (the README says why)
        assert take["file"] in report["peaks"]
        audio, rate = read_wav(take["file"])
        assert rate == SR and audio.shape == (2, frames)
        separated.append(audio)
    # two different sources, each correlated with the mix
    assert not np.allclose(separated[0], separated[1])
    for audio in separated:
        assert np.corrcoef(audio.ravel(), c["mix"].ravel())[0, 1] > 0.1


@pytest.mark.slow
def test_escape_cancels_and_places_nothing(e2e: dict) -> None:
    report, _, tmp = e2e["cancel"]
    assert_unchanged(report)
    assert report["messages"] == []
    assert any("cancel.sh" in command for command in report["exec"])
    (job,) = (tmp / "project" / "DiffMusic").iterdir()
    assert_cancel_was_sent(job)
    assert report["extstate"]["DiffMusic"]["pending"] == ""


@pytest.mark.slow
def test_cancel_action_cancels_the_running_action(e2e: dict) -> None:
    report, _, tmp = e2e["cancel_action"]
    assert_unchanged(report)
    assert report["messages"] == []
    (job,) = (tmp / "project" / "DiffMusic").iterdir()
    assert_cancel_was_sent(job)
    assert "cancelled; nothing was changed" in report["console"]
    assert report["extstate"]["DiffMusic"]["pending"] == ""


@pytest.mark.slow
def test_daemon_down_gives_a_clear_message_and_changes_nothing(e2e: dict) -> None:
    report, c, _ = e2e["daemon_down"]
    assert_unchanged(report)
    (message,) = report["messages"]
    assert str(c["missing"]) in message["message"] and "daemon" in message["message"]
    assert report["extstate"]["DiffMusic"]["pending"] == ""


@pytest.mark.slow
def test_import_places_renders_that_finished_while_no_script_ran(e2e: dict) -> None:
    first, c, tmp = e2e["import"]
    assert_unchanged(first, n_tracks=2)
    state = first["extstate"]["DiffMusic"]
    job_ids = state["pending"].split()
    assert len(job_ids) == 2
    deadline = time.monotonic() + 240  # a loaded 2-core machine took over 120 s
    for job_id in job_ids:
        status = Path(state[f"job.{job_id}"]) / "status.json"
        while not (status.exists() and json.loads(status.read_text())["state"] == "finished"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
    # Later (REAPER restarted: only persistent ExtState is left) the import action runs.
    persistent = {k: v for k, v in state.items() if not k.startswith("beat.")}
    second = run_scripts(
        tmp, c["tracks"], [{"script": script("Import finished renders")}],
        extstate=persistent, name="second",
    )  # fmt: skip
    assert_one_undo_point(second, "DiffMusic: import finished renders")
    take = only_new_take(second)
    audio, rate = read_wav(take["file"])
    assert rate == SR and audio.shape == (1, 5 * SR)
    # the short item's render is its audio unchanged: no take, and the console says why
    assert len(second["tracks"][1]["items"][0]["takes"]) == 1
    assert "DiffMusic: 'short': left as it is (no room could be measured" in second["console"]
    assert "DiffMusic: imported 1 render(s); 0 job(s) pending." in second["console"]
    assert second["extstate"]["DiffMusic"]["pending"] == ""
    assert not any(f"job.{job_id}" in second["extstate"]["DiffMusic"] for job_id in job_ids)
