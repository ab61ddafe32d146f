"""Which items a marked region repairs once its item is moved, split or glued: the item of its
track that plays the same stretch of the same source (a split part) or covers its old extent
(glued); never an item that did not have the damage, nor one of another track."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reaper_helpers import run_scripts, script, take_item, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 8000
# The mock numbers GUIDs in creation order: track 1, its first item, that item's take, ...
TRACK, OWNER, GONE = (f"{{00000000-0000-0000-0000-{n:012d}}}" for n in (1, 2, 99))
REGION = {"isrgn": True, "pos": 22.0, "rgnend": 22.05, "name": "DiffMusic: dropout"}


def source(tmp: Path) -> Path:
    return write_wav(tmp / "a.wav", music_excerpt(9.0, SR, 1, seed=4), SR)


def entry(wav: Path, owner: str = OWNER, track: str | None = TRACK, startoffs: float = 1.0) -> str:
    """The region's ExtState entry as Find damage writes it, for an item [20, 28) playing `wav`
    from `startoffs` (track None: as a version before the track was kept wrote it)."""
    text = f"{owner} 22.000000000 22.050000000"
    if track is None:
        return text
    at = f"{startoffs + 2:.9f} {startoffs + 2.05:.9f}"
    return f"{text} {track} 20.000000000 28.000000000 {at} {wav}"


def repair(tmp: Path, tracks: list[dict], region_entry: str) -> tuple[dict, list[dict]]:
    report = run_scripts(
        tmp, tracks, [{"script": script("Repair marked damage")}],
        extstate={"cli": str(tmp / "no-such-diffmusic"), "context": "0.25"}, markers=[REGION],
        proj_extstate={"DiffMusic": {"region.1": region_entry}},
    )  # fmt: skip
    assert report["errors"] == []
    folder = tmp / "project" / "DiffMusic"
    jobs = [json.loads(path.read_text()) for path in folder.glob("*/job.json")]
    return report, jobs


NOTHING = "No marked damage overlaps the selected items."


# an entry of the version before this one: the owner's track alone
LAST = f"{OWNER} 22.000000000 22.050000000 {TRACK}"
VERSIONS = pytest.mark.parametrize("last", [False, True], ids=["entry", "last-version's-entry"])


@VERSIONS
def test_a_moved_owner_gives_its_region_to_no_other_item(tmp_path: Path, last: bool) -> None:
    """Found in item A at 22 s; A moved to 40 s; item B, under the region on the same track,
    plays another stretch of the file: it never had the dropout."""
    wav = source(tmp_path)
    items = [take_item(wav, 40.0, 8.0, startoffs=1.0, selected=False),
             take_item(wav, 20.0, 8.0, startoffs=0.0)]  # fmt: skip
    report, jobs = repair(tmp_path, [{"name": "Mix", "items": items}], LAST if last else entry(wav))
    assert jobs == [] and [m["message"] for m in report["messages"]] == [NOTHING]


@pytest.mark.parametrize("track", [None, TRACK], ids=["without-track", "with-track"])
def test_a_gone_owner_gives_its_region_to_no_item_of_another_track(tmp_path, track) -> None:
    wav = source(tmp_path)
    tracks = [{"name": "Bass", "items": [take_item(wav, 20.0, 8.0, startoffs=1.0, selected=False)]},
              {"name": "Vox", "items": [take_item(wav, 20.0, 8.0, startoffs=1.0)]}]  # fmt: skip
    _, jobs = repair(tmp_path, tracks, entry(wav, owner=GONE, track=track))
    assert jobs == []


def test_an_entry_without_a_track_repairs_its_item_alone(tmp_path: Path) -> None:
    """As before the track was kept: the item glued (owner gone), the new item is not repaired."""
    wav = source(tmp_path)
    items = [take_item(wav, 20.0, 8.0, startoffs=1.0)]
    _, jobs = repair(tmp_path, [{"name": "Mix", "items": items}], entry(wav, GONE, track=None))
    assert jobs == []


@VERSIONS
def test_the_right_part_of_a_split_inside_a_region_repairs_its_part(tmp_path, last) -> None:
    """Split at 22.02 s: A keeps [20, 22.02) and its GUID; the right part, selected alone, gets
    the part of the region beyond A, 22.02-22.05 s."""
    wav = source(tmp_path)
    items = [take_item(wav, 20.0, 2.02, startoffs=1.0, selected=False),
             take_item(wav, 22.02, 5.98, startoffs=3.02)]  # fmt: skip
    report, jobs = repair(tmp_path, [{"name": "Mix", "items": items}], LAST if last else entry(wav))
    assert NOTHING not in str(report["messages"])
    (job,) = jobs
    assert job["position"] == 22.02 and job["spans"] == [[0, 240]]  # 30 ms at 8 kHz


@VERSIONS
def test_a_region_of_a_split_item_repairs_the_part_under_it(tmp_path, last) -> None:
    """Split at 21 s (A keeps [20, 21)); an entry with the track alone compares with how A plays
    its source now."""
    wav = source(tmp_path)
    items = [take_item(wav, 20.0, 1.0, startoffs=1.0, selected=False),
             take_item(wav, 21.0, 7.0, startoffs=2.0)]  # fmt: skip
    _, (job,) = repair(tmp_path, [{"name": "Mix", "items": items}], LAST if last else entry(wav))
    assert job["position"] == 21.0
    # the gap 0.25 s into the audio sent (0.25 s of context before it)
    (folder,) = (tmp_path / "project" / "DiffMusic").iterdir()
    assert "'--gap' '0.250000:0.300000'" in (folder / "submit.sh").read_text()


def test_a_region_of_a_glued_item_repairs_the_item_covering_it(tmp_path: Path) -> None:
    """Glued: a new item (another file) over [19, 28) replaces the owner."""
    wav = source(tmp_path)
    glued = write_wav(tmp_path / "glued.wav", music_excerpt(9.0, SR, 1, seed=5), SR)
    items = [take_item(glued, 19.0, 9.0)]
    _, (job,) = repair(tmp_path, [{"name": "Mix", "items": items}], entry(wav, owner=GONE))
    assert job["position"] == 19.0


def test_a_region_of_a_glued_item_spares_a_shorter_item(tmp_path: Path) -> None:
    """The owner gone, an item of its track under the region that does not cover its extent
    (another recording) is not repaired."""
    wav = source(tmp_path)
    other = write_wav(tmp_path / "other.wav", music_excerpt(9.0, SR, 1, seed=5), SR)
    items = [take_item(other, 21.0, 2.0)]
    _, jobs = repair(tmp_path, [{"name": "Mix", "items": items}], entry(wav, owner=GONE))
    assert jobs == []
