"""Repair marked damage gives an item with several kinds of damage ONE new take holding every
repair (lib/diffmusic/repairs.lua): a user trial's items each held a dropout and clicks, and the
take made active (the declick) still played the dropout.

A stand-in ``diffmusic`` renders exactly derivable repairs (every frame of a ``--gap`` set to
0.25, of a ``--click`` to -0.25, the rest as sent); the real daemon repairs a dropout and clicks
in the slow test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import read_wav, run_scripts, script, take_item, write_script, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 8000
REPAIR = script("Repair marked damage")
GAP, CLICK = 0.25, -0.25  # what the stand-in writes over a --gap, a --click

RENDER = """import json, sys
import numpy as np, soundfile as sf
args = sys.argv[1:]
def values(flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]
audio, rate = sf.read(args[1], dtype="float32", always_2d=True)
if MODE == "scale":
    audio = audio * np.float32(0.5)  # every frame sent changed
elif MODE == "broken" and values("--task") == ["declick"]:
    audio = audio[:-1]  # a render one frame short
else:
    for flag, value in (("--gap", GAP), ("--click", CLICK)):
        for span in values(flag):
            a, b = (round(float(x) * rate) for x in span.split(":"))
            audio[a:b] = value
out, status = values("-o")[0], values("--status-file")[0]
sf.write(out, audio, rate, subtype="FLOAT")
with open(status, "w") as f:
    json.dump({"state": "finished", "fraction": 1, "outputs": [out], "notes": []}, f)
"""
CLI = """#!/bin/sh
status=""; task=""; prev=""
for a in "$@"; do
  [ "$prev" = --status-file ] && status="$a"; [ "$prev" = --task ] && task="$a"; prev="$a"
done
DIES
exec "PYTHON" "RENDER" "$@"
"""
# the declick's client dies with its shell after saying "running", once (REAPER closed mid-job)
DIES = """if [ "$task" = declick ] && [ ! -f "$status.once" ]; then touch "$status.once"
  printf '{"state": "running", "fraction": 0.5}' > "$status"; kill -9 $PPID; kill -9 $$; fi"""


def stand_in(tmp: Path, mode: str = "marks", dies: str = "") -> dict:
    render = tmp / "render.py"
    render.write_text(RENDER.replace("MODE", repr(mode)).replace("GAP", repr(GAP))
                      .replace("CLICK", repr(CLICK)))  # fmt: skip
    text = CLI.replace("DIES", dies).replace("PYTHON", sys.executable)
    cli = write_script(tmp / "diffmusic-stand-in", text.replace("RENDER", str(render)))
    return {"cli": cli, "job_folder": str(tmp / "jobs"), "context": "0.1"}


# item time (s) of the damage on a 2 s item at 1.0 s: the declick's window (0.5 s around its
# clicks, 0.3-1.9 s) holds the dropout's (0.4-0.62 s): the windows overlap, the repairs do not
DROPOUT, CLICKS = (0.5, 0.52), [(0.8, 0.801), (1.4, 1.401)]
POSITION = 1.0


def repair(tmp: Path, settings: dict, clicks=CLICKS, fx=(), **kwargs) -> tuple[dict, np.ndarray]:
    audio = np.stack([music_excerpt(2.0, SR, 1, seed=s)[0] for s in (4, 5)])
    marks = [(DROPOUT, "dropout")] + [(c, "click") for c in clicks]
    item = take_item(write_wav(tmp / "a.wav", audio, SR), POSITION, 2.0)
    item["takes"][0]["fx"] = list(fx)
    report = run_scripts(
        tmp, [{"name": "A", "items": [item]}],
        [{"script": REPAIR, **kwargs}], extstate=settings, max_seconds=60,
        markers=[{"isrgn": True, "pos": POSITION + a, "rgnend": POSITION + b,
                  "name": f"DiffMusic: {name}"} for (a, b), name in marks],
    )  # fmt: skip
    return report, audio


def frames(span: tuple[float, float]) -> slice:
    return slice(round(span[0] * SR), round(span[1] * SR))


def test_a_dropout_and_clicks_make_one_take_with_every_repair(tmp_path: Path) -> None:
    chain = ["VST: ReaEQ (Cockos)", "VST: ReaComp (Cockos)"]  # the read take's: the new one's too
    report, audio = repair(tmp_path, stand_in(tmp_path), fx=chain)
    assert report["errors"] == [] and report["messages"] == [], report
    assert report["undo_points"] == ["DiffMusic: repair marked damage"]
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("take", False),
        ("take (DiffMusic dropout restore + declick)", True),
    ]
    assert takes[0]["file"].endswith("a.wav")  # the original take untouched
    assert list(takes[1]["fx"] or []) == chain and list(takes[0]["fx"] or []) == chain
    repaired, rate = read_wav(takes[1]["file"])
    want = audio.copy()
    want[:, frames(DROPOUT)] = GAP
    for click in CLICKS:
        want[:, frames(click)] = CLICK
    assert rate == SR and np.array_equal(repaired, want)
    assert "Repair damage: 2 render(s) placed." in report["console"]
    assert "no take holds them all" not in report["console"]


def test_repairs_that_change_the_same_audio_stay_one_take_each(tmp_path: Path) -> None:
    """Renders that change every frame they were sent (the windows overlap): no take can hold
    both, so each repair is its own take, as before, and the message says why."""
    report, audio = repair(tmp_path, stand_in(tmp_path, mode="scale"))
    (message,) = [m["message"] for m in report["messages"]]
    assert message.endswith(
        "'take': 'take (DiffMusic dropout restore)' holds the dropout restore, 'take (DiffMusic "
        "declick)' holds the declick; no take holds them all (the dropout restore and the declick "
        "change the same audio (item time 0.400 s)). To have them on one take: with 'take "
        "(DiffMusic declick)' active, delete the 'DiffMusic: click' regions and run 'DiffMusic - "
        "Repair marked damage' again"
    ), message
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [t["active"] for t in takes] == [False, False, True]
    # each take as placed alone: its render's window spliced into the item, the rest as it was
    for take, (a, b) in zip(takes[1:], [(0.4, 0.62), (0.3, 1.901)], strict=True):
        placed, _ = read_wav(take["file"])
        want = audio.copy()
        want[:, frames((a, b))] *= np.float32(0.5)
        assert np.array_equal(placed, want), take["name"]


def test_a_click_just_after_the_dropout_shares_its_take(tmp_path: Path) -> None:
    """A click 10 frames after the dropout's end: what each render changed is found to the
    frame (wav.differing), so the two stretches do not meet; found to 64 frames, they had, and
    the item got a take per repair."""
    clicks = [(0.52125, 0.52225)]  # frames 4170-4178; the dropout's end at 4160
    report, audio = repair(tmp_path, stand_in(tmp_path), clicks=clicks)
    assert report["errors"] == [] and report["messages"] == [], report
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [t["name"] for t in takes] == ["take", "take (DiffMusic dropout restore + declick)"]
    repaired, _ = read_wav(takes[1]["file"])
    want = audio.copy()
    want[:, frames(DROPOUT)] = GAP
    want[:, frames(clicks[0])] = CLICK
    assert np.array_equal(repaired, want)


def test_a_broken_render_keeps_no_other_repair_from_its_take(tmp_path: Path) -> None:
    """The declick's render is a frame short: the dropout restore is still placed (its own take,
    active, exact), and the declick's problem shown; that job stays pending, as it did before
    the repairs shared a take (the broken render had kept both from being placed)."""
    report, audio = repair(tmp_path, stand_in(tmp_path, mode="broken"))
    (message,) = [m["message"] for m in report["messages"]]
    # the declick's window: 0.3-1.901 s of the item (its clicks +-0.5 s), 12808 frames
    assert message.startswith("Repair damage: 1 of 2 done.\n\n" + str(tmp_path / "jobs")), message
    assert message.endswith(
        "/restored.wav: 8000 Hz, 2 channels, 12807 frames; expected 8000 Hz, 2, 12808"
    )
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("take", False),
        ("take (DiffMusic dropout restore)", True),
    ]
    repaired, _ = read_wav(takes[1]["file"])
    want = audio.copy()
    want[:, frames(DROPOUT)] = GAP
    assert np.array_equal(repaired, want)
    assert len(report["extstate"]["DiffMusic"]["pending"].split()) == 1


def test_import_after_reaper_closed_places_the_item_s_repairs_as_one_take(tmp_path: Path) -> None:
    """REAPER closed while the declick ran (its client died; the dropout's render had come back):
    Import starts the declick's client again and places both renders as one take once it is
    fetched (the finished one waits for it: placed alone it would be a take of its own again)."""
    settings = stand_in(tmp_path, dies=DIES)
    first, audio = repair(tmp_path, settings, kill_cycle=40)
    jobs = sorted((tmp_path / "jobs").iterdir())
    assert len(jobs) == 2 and first["tracks"][0]["items"][0]["takes"][1:] == []
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    tracks = [{"name": "A", "items": [take_item(tmp_path / "a.wav", POSITION, 2.0)]}]
    report = run_scripts(tmp_path, tracks, [{"script": script("Import finished renders")}],
                         extstate=state, name="import", max_seconds=60)  # fmt: skip
    assert report["messages"] == [], report
    held = "1 finished render(s) wait for their item's other repairs fetched, to be placed with"
    assert held in report["console"], report["console"]  # neither imported nor pending: said
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("take", False),
        ("take (DiffMusic dropout restore + declick)", True),
    ]
    repaired, _ = read_wav(takes[1]["file"])
    want = audio.copy()
    want[:, frames(DROPOUT)] = GAP
    for click in CLICKS:
        want[:, frames(click)] = CLICK
    assert np.array_equal(repaired, want)
    assert report["extstate"]["DiffMusic"]["pending"] == ""


def test_a_render_waits_for_its_item_s_other_repair_still_at_work(tmp_path: Path) -> None:
    """REAPER closed while the declick's client still runs (it goes on): an Import then leaves
    the dropout's finished render pending, said in the console; the next Import, once the
    declick is back, places both as one take."""
    busy = tmp_path / "busy"
    slow = (f'if [ "$task" = declick ]; then printf \'{{"state": "running"}}\' > "$status"; '
            f'while [ -f "{busy}" ]; do sleep 0.05; done; fi')  # fmt: skip
    busy.write_text("1")
    first, audio = repair(tmp_path, stand_in(tmp_path, dies=slow), kill_cycle=40)
    state = {k: v for k, v in first["extstate"]["DiffMusic"].items() if not k.startswith("beat.")}
    tracks = [{"name": "A", "items": [take_item(tmp_path / "a.wav", POSITION, 2.0)]}]
    import_ = [{"script": script("Import finished renders")}]
    report = run_scripts(tmp_path, tracks, import_, extstate=state, name="import1")
    assert report["messages"] == [] and report["changes"] == [], report
    assert (
        "'take' (dropout restore): waits for the item's other repairs, to be placed with them as "
        "one take" in report["console"]
    ), report["console"]
    assert "'take' (declick): its client is still at work" in report["console"]
    busy.unlink()  # the declick comes back
    for _ in range(200):
        if all((job / "submit.exit").exists() for job in (tmp_path / "jobs").iterdir()):
            break
        time.sleep(0.05)
    report = run_scripts(tmp_path, tracks, import_, extstate=report["extstate"]["DiffMusic"],
                         name="import2")  # fmt: skip
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("take", False),
        ("take (DiffMusic dropout restore + declick)", True),
    ]
    assert report["extstate"]["DiffMusic"]["pending"] == ""


@pytest.mark.slow
def test_the_real_daemon_s_repairs_of_a_dropout_and_clicks_share_one_take(
    tmp_path: Path, daemon: dict
) -> None:
    rate = 44100
    t = np.arange(2 * rate) / rate
    tones = [
        0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t + c) for c in (0, 1)
    ]
    # over a -60 dB noise floor: on noiseless tones the click detector's scale is float32 rounding
    clean = np.stack(tones) + 1e-3 * np.random.default_rng(1).standard_normal((2, t.size))
    damaged = clean.astype(np.float32)
    gap = (int(0.7 * rate), int(0.72 * rate))
    damaged[:, gap[0] : gap[1]] = 0
    clicks = [(int(s * rate), int(s * rate) + 44) for s in (1.0, 1.3)]  # 1 ms bursts
    for seed, (a, b) in enumerate(clicks):
        damaged[:, a:b] += np.random.default_rng(seed).uniform(-0.6, 0.6, b - a).astype(np.float32)
    marks = [(gap, "dropout")] + [(c, "click") for c in clicks]
    item = take_item(write_wav(tmp_path / "a.wav", damaged, rate), 0.0, 2.0)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [item]}],
        [{"script": REPAIR}], extstate={**daemon, "context": "0.3"}, max_seconds=120,
        markers=[{"isrgn": True, "pos": a / rate, "rgnend": b / rate, "name": f"DiffMusic: {name}"}
                 for (a, b), name in marks],
    )  # fmt: skip
    assert report["errors"] == [] and report["messages"] == [], report
    takes = report["tracks"][0]["items"][0]["takes"]
    assert [(t["name"], t["active"]) for t in takes] == [
        ("take", False),
        ("take (DiffMusic dropout restore + declick)", True),
    ]
    repaired, _ = read_wav(takes[1]["file"])
    keep = np.ones(repaired.shape[1], dtype=bool)
    keep[gap[0] - 250 : gap[1] + 250] = False  # the engine's crossfade is at most 5 ms
    for a, b in clicks:
        keep[a:b] = False
    assert np.array_equal(repaired[:, keep], damaged[:, keep])  # the original elsewhere
    a, b = gap  # the dropout filled: the zeros had relative error 1
    assert np.sum((repaired - clean)[:, a:b] ** 2) / np.sum(clean[:, a:b] ** 2) < 0.1
    for a, b in clicks:  # and the clicks gone: their error falls 20 dB or more
        before = np.sum((damaged - clean)[:, a:b] ** 2)
        assert np.sum((repaired - clean)[:, a:b] ** 2) < 0.01 * before
