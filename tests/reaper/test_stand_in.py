"""The ReaScript stand-in is strict and its audio accessor has REAPER's semantics; the library's
WAV, JSON and splicing code is right. Small Lua snippets run through the same harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import SCRIPTS, heard, read_wav, run_scripts, take_item, write_wav

from diffmusic_engine.damage import SOURCES_RANGE

pytestmark = pytest.mark.lua

SR = 8000
LIB = SCRIPTS / "lib" / "diffmusic.lua"


def run_snippet(tmp: Path, code: str, tracks: list[dict] | None = None, **kwargs) -> dict:
    """Run Lua ``code`` as a script (``dm`` is the library) in a stand-in project."""
    path = tmp / "snippet.lua"
    path.write_text(f"local dm = dofile({json.dumps(str(LIB))})\n{code}\n")
    return run_scripts(tmp, tracks or [], [{"script": path}], **kwargs)


def error_of(report: dict) -> str:
    (error,) = report["errors"]
    return error["error"]


def test_undefined_api_function_raises_naming_it(tmp_path: Path) -> None:
    report = run_snippet(tmp_path, "reaper.GetSelectedMediaItems(0, 0)")
    assert "reaper.GetSelectedMediaItems: not defined in the ReaScript stand-in" in error_of(report)
    report = run_snippet(tmp_path, "gfx.drawtext('x')")
    assert "gfx.drawtext: not defined" in error_of(report)


def test_wrong_arguments_raise(tmp_path: Path) -> None:
    report = run_snippet(tmp_path, "reaper.GetSet_LoopTimeRange(false, false, 0, 0)")
    assert "GetSet_LoopTimeRange: argument 5 must be a boolean" in error_of(report)
    report = run_snippet(tmp_path, "reaper.GetMediaItemInfo_Value(nil, 'D_POSITION')")
    assert "argument 1 must be a MediaItem" in error_of(report)
    source = write_wav(tmp_path / "a.wav", np.zeros((1, 100)), SR)
    report = run_snippet(
        tmp_path, "reaper.GetMediaItemInfo_Value(reaper.GetSelectedMediaItem(0, 0), 'D_POSITON')",
        tracks=[{"items": [take_item(source, 0.0, 0.01)]}],
    )  # fmt: skip
    assert "parameter D_POSITON not supported" in error_of(report)
    report = run_snippet(tmp_path, "reaper.Undo_EndBlock('x', -1)")
    assert "no open undo block" in error_of(report)


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16", "PCM_24"])
@pytest.mark.parametrize(("startoffs", "playrate"), [(0.0, 1.0), (0.0123, 1.0), (0.05, 0.75)])
def test_audio_accessor_plays_the_take(
    tmp_path: Path, subtype: str, startoffs: float, playrate: float
) -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    source = write_wav(tmp_path / "a.wav", audio, SR, subtype=subtype)
    samples, _ = read_wav(source)  # as quantised in the file
    frames = 900
    code = f"""
local take = reaper.GetActiveTake(reaper.GetSelectedMediaItem(0, 0))
local accessor = reaper.CreateTakeAudioAccessor(take)
assert(reaper.GetAudioAccessorStartTime(accessor) == 0)
assert(reaper.GetAudioAccessorEndTime(accessor) == 0.1)
local buffer = reaper.new_array({frames} * 2)
assert(reaper.GetAudioAccessorSamples(accessor, {SR}, 2, 0, {frames}, buffer) == 1)
reaper.DestroyAudioAccessor(accessor)
reaper.ShowConsoleMsg(dm.json_encode(buffer.table()))
"""
    report = run_snippet(
        tmp_path, code,
        tracks=[{"items": [take_item(source, 1.0, 0.1, startoffs=startoffs, playrate=playrate)]}],
    )  # fmt: skip
    assert report["errors"] == []
    got = np.array(json.loads(report["console"]), dtype=np.float64).reshape(-1, 2).T
    expected = heard(samples, SR, startoffs, playrate, frames)
    expected[:, 800:] = 0  # silence after the item's end (0.1 s)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # the take's start offset really moves the audio: frame 0 is source frame startoffs * SR
    if playrate == 1.0 and startoffs * SR == int(startoffs * SR):
        assert np.allclose(got[:, 0], samples[:, int(startoffs * SR)])


def test_lib_wav_writer_json_and_splice(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(-1, 1, (2, 300)).astype(np.float32)
    patch = rng.uniform(-1, 1, (2, 50)).astype(np.float32)
    write_wav(tmp_path / "base.wav", base, SR)
    write_wav(tmp_path / "patch.wav", patch, 44100)
    write_wav(tmp_path / "patch8k.wav", patch, SR)
    code = f"""
local t = tostring
local f = assert(io.open({json.dumps(str(tmp_path / "ours.wav"))}, "wb"))
f:write(dm.wav_header({SR}, 2, 3) .. string.pack("<ffffff", 0.5, -0.25, 1, -1, 0.125, 0))
f:close()
local info = dm.wav_info({json.dumps(str(tmp_path / "patch8k.wav"))})
reaper.ShowConsoleMsg(t(info.rate) .. " " .. t(info.channels) .. " " .. t(info.frames) .. "\\n")
local ok = dm.splice_wav({json.dumps(str(tmp_path / "base.wav"))},
  {json.dumps(str(tmp_path / "patch8k.wav"))}, 100, {json.dumps(str(tmp_path / "out.wav"))})
assert(ok)
local bad, problem = dm.splice_wav({json.dumps(str(tmp_path / "base.wav"))},
  {json.dumps(str(tmp_path / "patch.wav"))}, 100, {json.dumps(str(tmp_path / "bad.wav"))})
assert(not bad)
reaper.ShowConsoleMsg(problem .. "\\n")
local v = dm.json_decode('{{"job": "a\\\\"b", "state": "running", "fraction": 0.25, ' ..
  '"outputs": ["x", "y"], "error": null, "n": -1.5e2, "ok": true}}')
reaper.ShowConsoleMsg(dm.json_encode(v))
"""
    report = run_snippet(tmp_path, code)
    assert report["errors"] == []
    lines = report["console"].split("\n")
    assert lines[0] == f"{SR} 2 50"
    assert "44100 Hz" in lines[1] and "expected 8000 Hz" in lines[1]
    assert json.loads(lines[2]) == {
        "job": 'a"b', "state": "running", "fraction": 0.25, "outputs": ["x", "y"],
        "error": None, "n": -150.0, "ok": True,
    }  # fmt: skip
    ours, rate = read_wav(tmp_path / "ours.wav")
    assert rate == SR and np.array_equal(ours, [[0.5, 1, 0.125], [-0.25, -1, 0]])
    out, _ = read_wav(tmp_path / "out.wav")
    expected = base.copy()
    expected[:, 100:150] = patch
    assert np.array_equal(out, expected)
    assert not (tmp_path / "bad.wav").exists()


def test_settings_are_checked_and_kept_in_extstate(tmp_path: Path) -> None:
    settings = SCRIPTS / "DiffMusic - Settings.lua"
    bad = "diffmusic,,dsp,,,many,2,2,"
    report = run_scripts(tmp_path, [], [{"script": settings}], user_inputs=[bad], name="bad")
    assert report["errors"] == []
    assert "steps 'many': expected a whole number" in report["messages"][0]["message"]
    assert "steps" not in report["extstate"]["DiffMusic"]
    # "2.0" sources had been saved, then refused by the CLI at every Separate
    bad = "diffmusic,,dsp,,,,2,2.0,"
    report = run_scripts(tmp_path, [], [{"script": settings}], user_inputs=[bad], name="bad2")
    low, high = SOURCES_RANGE  # the engine's range, which the script checks before the CLI
    said = f"sources '2.0': expected a whole number from {low} to {high}"
    assert said in report["messages"][0]["message"]

    good = f"{tmp_path / 'no-diffmusic'},/tmp/c.json,diffusion,cvssp/audioldm2-music,,50,1.5,3,"
    report = run_scripts(tmp_path, [], [{"script": settings}], user_inputs=[good], name="good")
    assert report["errors"] == []
    state = report["extstate"]["DiffMusic"]
    assert state["backend"] == "diffusion" and state["model"] == "cvssp/audioldm2-music"
    assert (state["steps"], state["context"], state["sources"]) == ("50", "1.5", "3")
    assert state["connection_file"] == "/tmp/c.json"
    # saved, then the daemon check ran (and failed: no such command), its tries short enough
    # for ExecProcess's 20 s wait
    assert "did not answer" in report["messages"][0]["message"]
    assert report["exec"] == [
        f"'{tmp_path / 'no-diffmusic'}' 'ping' '--timeout' '3' '--connection-file' '/tmp/c.json'"
    ]
    assert report["undo_points"] == [] and report["changes"] == []
