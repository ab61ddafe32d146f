"""Find damage in selected items, then repair it (issue 16): regions per dropout, click and
clipping, then one job per kind of damage with its task, placed as a new take.

The real ``diffmusic diagnose`` finds dropouts; clicks and clipping are read from a strict
stand-in of that one command (diagnose_stand_in.py) until the engine reports them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import (
    HERE,
    read_wav,
    run_scripts,
    script,
    take_item,
    write_script,
    write_wav,
)

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100
FIND, REPAIR = "Find damage in selected items", "Repair marked damage"


def stand_in_cli(tmp: Path, report: dict) -> str:
    """A `diffmusic` that answers `diagnose FILE --json` with ``report`` (and nothing else)."""
    (tmp / "report.json").write_text(json.dumps(report))
    return write_script(
        tmp / "diffmusic-stand-in",
        f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "diagnose_stand_in.py"}" '
        f'--report "{tmp / "report.json"}" "$@"\n',
    )


def regions(report: dict) -> list[tuple[float, float, str]]:
    return [(m["pos"], m["rgnend"], m["name"]) for m in report["markers"] if m["isrgn"]]


def test_find_damage_marks_a_region_per_damage(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(4.0, SR, 1, seed=1), SR)
    found = {
        "reverb": None, "bandwidth": {"cutoff_hz": None},
        "dropouts": [{"start": 1.0, "end": 1.05}],
        "clicks": [{"start": 2.0, "end": 2.001}, {"start": 2.5, "end": 2.5015}],
        # the last region runs past the item's end: the region stops there
        "clipping": {"level": 0.5, "fraction": 0.01,
                     "regions": [{"start": 3.0, "end": 3.2}, {"start": 3.9, "end": 4.5}]},
        "expect_seconds": 4.0,
    }  # fmt: skip
    report = run_scripts(
        tmp_path,
        [{"name": "Drums", "items": [take_item(source, 3.0, 4.0, name="kit")]}],
        [{"script": script(FIND)}],
        extstate={"cli": stand_in_cli(tmp_path, found)},
    )
    assert report["errors"] == [] and report["messages"] == [], report
    assert report["undo_points"] == ["DiffMusic: mark damage"]
    assert all(c["in_undo_block"] for c in report["changes"])
    got = regions(report)
    want = [(4.0, 4.05, "dropout"), (5.0, 5.001, "click"), (5.5, 5.5015, "click"),
            (6.0, 6.2, "clipping"), (6.9, 7.0, "clipping")]  # fmt: skip
    assert [name for *_, name in got] == [f"DiffMusic: {name}" for *_, name in want]
    np.testing.assert_allclose([g[:2] for g in got], [w[:2] for w in want], atol=1e-9)
    assert "'kit': 5 damage region(s) marked" in report["console"]
    assert "Find damage: 1 item(s) read." in report["console"]  # no render placed
    # each region belongs to the item it was found in (the project's ExtState, by region index),
    # kept with its track, extent and what of its source it plays there (a part split off it or
    # the item it is glued into repairs it too: test_region_owners.py)
    item, track = report["tracks"][0]["items"][0]["guid"], report["tracks"][0]["guid"]
    owners = report["proj_extstate"]["DiffMusic"]
    by_index = {m["index"]: m for m in report["markers"]}
    assert len(owners) == 5
    for key, owner in owners.items():
        a, b = (by_index[int(key.removeprefix("region."))][k] for k in ("pos", "rgnend"))
        kept = f"{track} 3.000000000 7.000000000 {a - 3:.9f} {b - 3:.9f} {source}"
        assert owner == f"{item} {a:.9f} {b:.9f} {kept}"
    assert len(report["tracks"][0]["items"][0]["takes"]) == 1  # no take: only regions


def find_with_the_real_diagnose(tmp_path: Path, cli: str, audio: np.ndarray) -> dict:
    """Find damage run on one 2 s take of ``audio`` at 1.0 s, the real ``diffmusic`` ``cli``
    diagnosing it: the run's report, checked free of errors and messages."""
    source = write_wav(tmp_path / "a.wav", audio, SR)
    report = run_scripts(
        tmp_path,
        [{"name": "Mix", "items": [take_item(source, 1.0, 2.0)]}],
        [{"script": script(FIND)}],
        extstate={"cli": cli},
        max_seconds=120,
    )
    assert report["errors"] == [] and report["messages"] == [], report
    return report


def test_find_damage_with_the_real_diagnose(tmp_path: Path, diffmusic_cli: str) -> None:
    audio = music_excerpt(2.0, SR, 2, seed=2)
    audio[:, int(0.8 * SR) : int(0.85 * SR)] = 0  # a 50 ms digital-silence dropout
    report = find_with_the_real_diagnose(tmp_path, diffmusic_cli, audio)
    got = regions(report)
    ((start, end, _),) = [r for r in got if r[2] == "DiffMusic: dropout"]
    assert abs(start - 1.8) < 2e-3 and abs(end - 1.85) < 2e-3
    # every stretch the command printed (clicks, clipping too, as the engine finds them) is a
    # region at the item position plus its start
    (job,) = (tmp_path / "project" / "DiffMusic").iterdir()
    (printed,) = [x for x in (job / "diagnose.log").read_text().splitlines() if x[:1] == "{"]
    found = json.loads(printed)
    spans = [(d["start"], d["end"], "dropout") for d in found["dropouts"]]
    spans += [(d["start"], d["end"], "click") for d in found.get("clicks") or []]
    clipping = found.get("clipping") or {"regions": []}
    spans += [(d["start"], d["end"], "clipping") for d in clipping["regions"]]
    want = sorted((1.0 + a, 1.0 + min(b, 2.0), f"DiffMusic: {n}") for a, b, n in spans)
    assert len(got) == len(want)
    for (a, b, n), (wa, wb, wn) in zip(sorted(got), want, strict=True):
        assert n == wn and abs(a - wa) < 1e-9 and abs(b - wb) < 1e-9


def test_find_damage_names_silence_cutting_off_the_item_s_end(
    tmp_path: Path, diffmusic_cli: str
) -> None:
    """The real diagnose reads the take's last 0.4 s of digital silence after its music as a cut
    end: no dropout region is marked (nothing fills a file's ends on its own), and the console
    names it in item time with how to have it repaired."""
    audio = music_excerpt(2.0, SR, 2, seed=2)
    audio[:, int(1.6 * SR) :] = 0
    report = find_with_the_real_diagnose(tmp_path, diffmusic_cli, audio)
    assert not [r for r in regions(report) if r[2] == "DiffMusic: dropout"]
    assert (
        "digital silence at the item's ends cuts its music off, not marked (1.600-2.000 s (end) "
        'into the item): if the take was cut off there, draw a region named "DiffMusic: dropout" '
        "over it" in report["console"]
    ), report["console"]


def test_find_damage_names_a_channel_lost_whole(tmp_path: Path, diffmusic_cli: str) -> None:
    """The real diagnose reads a take whose second channel is digital silence throughout as a
    dead channel: nothing is marked for it, and the console names it and what to do."""
    audio = music_excerpt(2.0, SR, 2, seed=2)
    audio[1] = 0
    report = find_with_the_real_diagnose(tmp_path, diffmusic_cli, audio)
    assert not [r for r in regions(report) if r[2] == "DiffMusic: dropout"]
    assert (
        "'take': channel(s) 2 digital silence throughout, not marked: lost in the recording or "
        "the transfer, or empty on purpose; if lost, nothing restores it" in report["console"]
    ), report["console"]


def test_repair_without_marked_damage_says_so(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=3), SR)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script(REPAIR)}],
        markers=[{"isrgn": True, "pos": 0.2, "rgnend": 0.3, "name": "Verse"}],
    )  # fmt: skip
    (message,) = report["messages"]
    assert "No damage is marked" in message["message"]
    assert report["exec"] == [] and report["undo_points"] == []


def test_a_region_found_in_one_item_repairs_only_that_item(tmp_path: Path) -> None:
    """Bass and vocal selected, the bass's dropout found (region 1, its owner kept) and one
    drawn by hand (region 2): the vocal, clean at the bass's dropout, is sent only the drawn
    one (it had been "repaired" at the bass's dropout: its audio changed there)."""
    source = write_wav(tmp_path / "a.wav", music_excerpt(2.0, SR, 1, seed=5), SR)
    bass = "{00000000-0000-0000-0000-000000000002}"  # the stand-in's GUIDs, in creation order
    report = run_scripts(
        tmp_path,
        [{"name": "Bass", "items": [take_item(source, 0.0, 2.0)]},
         {"name": "Vocal", "items": [take_item(source, 0.0, 2.0)]}],
        [{"script": script(REPAIR)}],
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "context": "0.25"},
        markers=[{"isrgn": True, "pos": 0.5, "rgnend": 0.52, "name": "DiffMusic: dropout"},
                 {"isrgn": True, "pos": 1.5, "rgnend": 1.51, "name": "DiffMusic: dropout"}],
        proj_extstate={"DiffMusic": {"region.1": f"{bass} 0.500000000 0.520000000"}},
    )  # fmt: skip
    assert report["tracks"][0]["items"][0]["guid"] == bass
    gaps = {}
    for job in (tmp_path / "project" / "DiffMusic").iterdir():
        track = json.loads((job / "job.json").read_text())["track_name"]
        gaps[track] = (job / "submit.sh").read_text().count("'--gap'")
    assert gaps == {"Bass": 2, "Vocal": 1}  # the bass: both regions; the vocal: the drawn one


def test_repair_sends_each_kind_with_its_task(tmp_path: Path) -> None:
    audio = music_excerpt(4.0, SR, 1, seed=4)
    source = write_wav(tmp_path / "a.wav", audio, SR)
    position = 10.0
    marks = [
        (11.0, 11.02, "dropout"), (11.5, 11.51, "dropout"), (12.0, 12.001, "click"),
        (13.0, 13.2, "clipping"), (20.0, 20.5, "dropout"),  # the last one misses the item
    ]  # fmt: skip
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, position, 4.0)]}],
        [{"script": script(REPAIR)}],
        # no daemon needed: the missing command ends each job after its audio is written
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "context": "0.25"},
        markers=[{"isrgn": True, "pos": a, "rgnend": b, "name": f"DiffMusic: {n}"}
                 for a, b, n in marks],
    )  # fmt: skip
    assert report["undo_points"] == []
    jobs = {}
    for job in (tmp_path / "project" / "DiffMusic").iterdir():
        command = (job / "submit.sh").read_text()
        task = command.split("'--task' '")[1].split("'")[0]
        jobs[task] = (job, command)
    assert sorted(jobs) == ["declick", "declip", "inpaint"]
    # dropouts: both gaps in one job, 0.25 s of context around them, relative to the file
    job, command = jobs["inpaint"]
    sent, _ = read_wav(job / "input.wav")
    c0, c1 = round(0.75 * SR), round(1.76 * SR)
    assert np.array_equal(sent, audio[:, c0:c1])
    assert "'--gap' '0.250000:0.270000' '--gap' '0.750000:0.760000'" in command
    # clicks and clipping: their stretch with 0.5 s around it, no gap; the click given
    for task, (a, b) in {"declick": (2.0, 2.001), "declip": (3.0, 3.2)}.items():
        job, command = jobs[task]
        sent, _ = read_wav(job / "input.wav")
        first, stop = round((a - 0.5) * SR), min(round((b + 0.5) * SR), 4 * SR)
        assert np.array_equal(sent, audio[:, first:stop]), task
        assert "--gap" not in command
        click = f"'--click' '0.500000:{0.5 + round(0.001 * SR) / SR:.6f}'"  # whole frames
        assert (click in command) == (task == "declick")
        # the whole item, to splice the repair into (read, then removed: the job failed)
        assert json.loads((job / "job.json").read_text())["full"] == str(job / "item.wav")
        assert not (job / "item.wav").exists()


@pytest.mark.slow
def test_repair_marked_dropouts_places_one_take(tmp_path: Path, daemon: dict) -> None:
    # two tones: the engine's short-gap fill is near exact on them, so a misplaced splice shows
    t = np.arange(2 * SR) / SR
    clean = np.stack(
        [0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t + c) for c in (0, 1)]
    ).astype(np.float32)
    damaged = clean.copy()
    gaps = [(int(0.7 * SR), int(0.72 * SR)), (int(1.2 * SR), int(1.215 * SR))]
    for a, b in gaps:
        damaged[:, a:b] = 0
    source = write_wav(tmp_path / "a.wav", damaged, SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 1.0, 2.0)]}],
        [{"script": script(REPAIR)}],
        extstate={**daemon, "context": "0.3"},
        markers=[{"isrgn": True, "pos": 1.0 + a / SR, "rgnend": 1.0 + b / SR,
                  "name": "DiffMusic: dropout"} for a, b in gaps],
    )  # fmt: skip
    assert report["errors"] == [] and report["messages"] == [], report
    assert report["undo_points"] == ["DiffMusic: repair marked damage"]
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["active"]
    assert takes[1]["name"].endswith("(DiffMusic dropout restore)")
    restored, _ = read_wav(takes[1]["file"])
    keep = np.ones(restored.shape[1], dtype=bool)
    for a, b in gaps:
        keep[a - 250 : b + 250] = False  # the engine's crossfade is at most 5 ms
    assert np.array_equal(restored[:, keep], damaged[:, keep])
    for a, b in gaps:
        error = np.sum((restored[:, a:b] - clean[:, a:b]) ** 2) / np.sum(clean[:, a:b] ** 2)
        assert error < 0.1  # the zeros had relative error 1


@pytest.mark.slow
def test_repair_marked_click_runs_the_real_declick(tmp_path: Path, daemon: dict) -> None:
    t = np.arange(2 * SR) / SR
    clean = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t))[None, :]
    # over a -60 dB noise floor, as a recording has: on noiseless digital tones the detector's
    # robust scale is float32 rounding and it finds nothing (declick then says so, no take)
    clean = clean + 1e-3 * np.random.default_rng(1).standard_normal(clean.shape)
    damaged = clean.astype(np.float32)
    a, b = int(1.0 * SR), int(1.0 * SR) + 44  # a 1 ms burst
    damaged[:, a:b] += np.random.default_rng(0).uniform(-0.6, 0.6, b - a).astype(np.float32)
    # and one whose region the user deleted (a false find, say): it stays as it was (the
    # stretch sent had been searched again, and every click in it repaired)
    c, d = int(1.3 * SR), int(1.3 * SR) + 44
    damaged[:, c:d] += np.random.default_rng(2).uniform(-0.6, 0.6, d - c).astype(np.float32)
    source = write_wav(tmp_path / "a.wav", damaged, SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 2.0)]}],
        [{"script": script(REPAIR)}],
        extstate=daemon,
        markers=[{"isrgn": True, "pos": a / SR, "rgnend": b / SR, "name": "DiffMusic: click"}],
    )
    assert report["errors"] == [] and report["messages"] == [], report
    takes = report["tracks"][0]["items"][0]["takes"]
    assert len(takes) == 2 and takes[1]["name"].endswith("(DiffMusic declick)")
    restored, _ = read_wav(takes[1]["file"])
    # outside the click marked the take is the original, bit for bit
    keep = np.ones(restored.shape[1], dtype=bool)
    keep[a:b] = False
    assert np.array_equal(restored[:, keep], damaged[:, keep])
    # inside it, the daemon's render of that stretch, spliced at the place it came from
    job = Path(takes[1]["file"]).parent
    assert "'--task' 'declick'" in (job / "submit.sh").read_text()
    render, _ = read_wav(job / "restored.wav")
    assert np.array_equal(restored[:, a - SR // 2 : b + SR // 2], render)
    # and the burst is gone: the click's error against the clean tones falls 20 dB or more
    before = np.sum((damaged - clean)[:, a:b] ** 2)
    assert np.sum((restored - clean)[:, a:b] ** 2) < 0.01 * before


def test_a_cancelled_find_stops_its_diagnosis(tmp_path: Path) -> None:
    """Esc while the diagnosis runs: it had gone on running on the CPU after the action said
    "cancelled". The action writes the stop file the command watches (`diagnose --stop-file`),
    and a diagnosis that waits for it ends."""
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=1), SR)
    cli = write_script(
        tmp_path / "diffmusic-stand-in",
        '#!/bin/sh\n[ "$1" = diagnose ] && [ "$4" = --stop-file ] || exit 2\n'
        'while [ ! -f "$5" ]; do sleep 0.02; done\n'
        'echo \'{"event": "error", "message": "cancelled"}\'; exit 130\n',
    )
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script(FIND)}],
        extstate={"cli": cli},
        gfx_keys={3: 27},  # Esc once the audio is read and the diagnosis started
    )
    assert report["undo_points"] == [] and report["messages"] == []
    (job,) = (tmp_path / "project" / "DiffMusic").iterdir()
    assert (job / "diagnose.stop").exists()
    deadline = time.monotonic() + 20
    while not (job / "diagnose.exit").exists():
        assert time.monotonic() < deadline, "the diagnosis did not stop"
        time.sleep(0.05)
    assert (job / "diagnose.exit").read_text().strip() == "130"


@pytest.mark.parametrize(
    ("cycle", "when"), [(3, "before"), (40, "during")], ids=["while-read", "while-diagnosed"]
)
def test_find_damage_marks_where_a_moved_item_plays_its_damage(tmp_path: Path, cycle, when):
    """A move of the item while it is read (no edit of its audio) or diagnosed takes its
    regions along: they mark the damage where it plays now, for Repair to find there.

    60 s at 8 kHz is read over 15 defer cycles (32768 frames each): cycle 3 falls in the read,
    cycle 40 after it; the stand-in checks which, and holds its answer for the edit."""
    from test_edits_and_orphans import edit

    rate, mark = 8000, tmp_path / "moved"
    source = write_wav(tmp_path / "a.wav", music_excerpt(60.0, rate, 1, seed=1), rate)
    found = {
        "reverb": None, "bandwidth": {"cutoff_hz": None},
        "dropouts": [{"start": 30.0, "end": 30.05}], "clicks": [],
        "clipping": {"level": 0.5, "fraction": 0.0, "regions": []}, "expect_seconds": 60.0,
        "edited": [str(mark), when],
    }  # fmt: skip
    move = (
        "reaper.SetMediaItemInfo_Value(item, 'D_POSITION', 10.0)\n"
        f"local mark = io.open([[{mark}]], 'w'); mark:write('moved'); mark:close()\n"
    )
    report = run_scripts(
        tmp_path, [{"name": "Mix", "items": [take_item(source, 0.0, 60.0)]}],
        [{"script": script(FIND)}, {"script": edit(tmp_path, move), "cycle": cycle}],
        extstate={"cli": stand_in_cli(tmp_path, found)}, max_seconds=60,
    )  # fmt: skip
    assert report["messages"] == []
    assert [(round(a, 6), round(b, 6)) for a, b, _ in regions(report)] == [(40.0, 40.05)]
