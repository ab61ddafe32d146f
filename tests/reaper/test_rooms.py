"""Dereverberate selected items (issue 15): blind, it shows the room `diffmusic diagnose`
estimates (checked in test_actions.py's dereverb round trip, which runs beside the others); with
an impulse-response item selected, it sends that response (--rir FILE)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import read_wav, run_scripts, script, take_item, write_wav
from scipy.signal import fftconvolve

from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100
DEREVERB = "Dereverberate selected items"


def room(seconds: float, rt60: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dry music, a room's impulse response, and the music in that room (mono)."""
    dry = music_excerpt(seconds, SR, 1, seed=seed)
    rir = synthetic_rir(rt60, SR, seed=seed)
    wet = fftconvolve(dry[0], rir)[: dry.shape[1]][None, :]
    scale = 0.5 / np.max(np.abs(wet))
    return dry * scale, rir[None, :].astype(np.float32), (wet * scale).astype(np.float32)


def room_line(reverb: dict | None) -> str:
    """What the action prints for a diagnose report's reverb (lib/diffmusic/diagnosis.lua)."""
    if reverb is None:
        return "no room reverberation measured"
    told = reverb.get("regression_rt60_s")  # where the free decays read the room shorter
    return (f"room RT60 {reverb['rt60_s']:.2f} s, DRR {reverb['drr_db']:+.1f} dB "
            f"(confidence {reverb['confidence']:.2f})"
            + (f"; dereverb is told {told:.2f} s" if told else ""))  # fmt: skip


def library() -> tuple:
    """A Lua 5.4 runtime and its ``use(name)``, which loads reaper_scripts/lib/diffmusic/NAME.lua
    once, as lib/diffmusic.lua's loader does."""
    from lupa import lua54

    lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    use = lua.execute(
        "local folder, loaded = ..., {}\n"
        "local function use(name)\n"
        "  local file = folder .. name .. '.lua'\n"
        "  loaded[name] = loaded[name] or assert(loadfile(file, 't', _ENV))(use)\n"
        "  return loaded[name]\n"
        "end\n"
        "return use",
        str(Path(__file__).parents[2] / "reaper_scripts" / "lib" / "diffmusic") + "/",
    )
    return lua, use


def test_the_room_line_names_what_dereverb_is_told_where_the_free_decays_read_shorter() -> None:
    """diagnosis.lua's describe_room, run under Lua: the estimate (the free decays' 0.60 s),
    then the regression's 1.20 s that blind dereverb is told; without it, the estimate alone."""
    _, use = library()
    reverb = {"rt60_s": 0.6, "drr_db": -3.0, "confidence": 0.8, "regression_rt60_s": 1.2}
    alone = {k: v for k, v in reverb.items() if k != "regression_rt60_s"}
    for room, expected in ((reverb, "; dereverb is told 1.20 s"), (alone, "(confidence 0.80)")):
        line = use("diagnosis").describe_room(use("json").decode(json.dumps({"reverb": room})))
        assert line == room_line(room) and line.endswith(expected), line


# Where a REAPER user gives a dereverb option (placement.lua's words for the command line's).
IN_SETTINGS = (
    "under [options] in a preset file with task = \"dereverb\" named in 'DiffMusic - Settings'"
)


def test_a_short_rooms_reason_says_where_a_reaper_user_acts_on_it() -> None:
    """Blind dereverb leaves a room told under 0.8 s alone, advising a preset's min_rt60 or
    --rir FILE; placement.lua's for_project adds where each is done in REAPER."""
    from diffmusic_engine.dsp.dereverb import reason_to_skip
    from diffmusic_engine.room import RoomEstimate

    lua, use = library()
    why = reason_to_skip(RoomEstimate(0.6, {}, 0.0, 0.6), 1.0)
    said = lua.eval("function(placement, text) return placement.for_project(text, {}) end")(
        use("placement"), why
    )
    # said in the command line's place: appended, the hints had nested in its parentheses
    from diffmusic_engine.backends import IN_A_DEREVERB_PRESET

    assert IN_A_DEREVERB_PRESET in why, why  # else the replace below proves nothing
    in_items = '(select the room\'s impulse-response item with the items: "IR" in its name)'
    wanted = why.replace(IN_A_DEREVERB_PRESET, IN_SETTINGS).replace("(--rir FILE)", in_items)
    assert said == wanted, said
    assert "--" not in said and "(in REAPER" not in said, said


def test_an_unknown_options_source_is_said_where_a_reaper_user_gave_it(tmp_path, capsys) -> None:
    """REAPER's job ran submit with --steps from its Settings: a preset's typo and that flag
    had been said "amonut ... in the preset FILE, steps on the command line", which a REAPER user
    never typed; placement.lua's for_project says where it was given there."""
    from bridge.cli import main
    from bridge.cli.common import ON_THE_COMMAND_LINE

    preset, audio = tmp_path / "typo.toml", tmp_path / "in.wav"
    preset.write_text('task = "dereverb"\nrir = "blind"\n[options]\namonut = 0.5\n')
    write_wav(audio, np.zeros((1, 4410), np.float32), SR)
    argv = ["submit", str(audio), "--task", "dereverb", "--preset", str(preset), "--backend"]
    assert main([*argv, "dsp", "--steps", "10", "--connection-file", str(tmp_path)]) == 1
    line = capsys.readouterr().err.removeprefix("error: ").rstrip("\n")
    assert f"in the preset {preset}, steps {ON_THE_COMMAND_LINE} (steps is an" in line, line
    lua, use = library()
    said = lua.eval("function(placement, text) return placement.for_project(text, {}) end")(
        use("placement"), line
    )
    assert said == line.replace(ON_THE_COMMAND_LINE, "in 'DiffMusic - Settings'"), said


def test_what_blind_dereverb_removed_says_how_to_keep_part_of_it_there() -> None:
    """The note had advised "option amount", which no flag sets (a user trial typed
    --amount): it names the preset field, and in REAPER where that preset is named."""
    from bridge.notes import notes_of

    room = {"rt60_s": 1.86, "rt60_bands": {}, "drr_db": -1.9, "confidence": 0.8}
    (note,) = notes_of({"task": "dereverb", "method": "wpe", "room": room, "removed_db": 4.45})
    assert note["text"].endswith("(confidence 0.80); a recording's own hall or reverb goes too: "
                                 "amount = 0.5 (0..1) in a dereverb preset's [options] (restore "
                                 "--preset FILE) keeps half of it")  # fmt: skip
    # given under 1, amount is said, not advised again (half.toml's 0.5 had been)
    details = {"task": "dereverb", "method": "wpe", "room": room, "removed_db": 2.12}
    (half,) = notes_of({**details, "amount": 0.5})
    assert half["text"].endswith("goes too: amount 0.5 made 50% of the change"), half
    lua, use = library()
    said = lua.eval("function(placement, text) return placement.for_project(text, {}) end")(
        use("placement"), note["text"]
    )
    from diffmusic_engine.backends import IN_A_DEREVERB_PRESET

    assert said == note["text"].replace(IN_A_DEREVERB_PRESET, IN_SETTINGS)
    assert said.endswith(f"amount = 0.5 (0..1) {IN_SETTINGS} keeps half of it"), said


def test_dereverb_with_an_impulse_response_says_what_it_did_there() -> None:
    """The impulse-response path had said nothing of what it did (a user trial): its note, and
    in REAPER where its options are given, once for both (the long Settings phrase had been said
    twice: 372 characters)."""
    from bridge.notes import notes_of

    details = {"task": "dereverb", "method": "wiener", "ir_seconds": 6.0, "regularization": 0.01}
    (note,) = notes_of({**details, "amount": 1.0, "left_out": ["late_mask", "min_rt60"]})
    lua, use = library()
    said = lua.eval("function(placement, text) return placement.for_project(text, {}) end")(
        use("placement"), note["text"]
    )
    assert said == (
        "deconvolved by the given impulse response (6.00 s; Wiener, regularization 0.01): where "
        "it rings or sounds thin, regularization = 0.1 inverts the response less and amount = 0.5 "
        f"(0..1) keeps half of it, both {IN_SETTINGS}; left out blind dereverb's late_mask, "
        "min_rt60"
    ), said


@pytest.mark.slow
def test_dereverb_uses_the_selected_impulse_response(tmp_path: Path, daemon: dict) -> None:
    dry, rir, wet = room(1.5, 0.4, seed=2)
    source = write_wav(tmp_path / "wet.wav", wet, SR)
    response = write_wav(tmp_path / "response.wav", rir, SR)
    ir_length = rir.shape[1] / SR
    report = run_scripts(
        tmp_path,
        [
            {"name": "Vox", "items": [take_item(source, 0.0, 1.5, name="vox")]},
            {"name": "Room IR", "items": [take_item(response, 5.0, ir_length, name="hall")]},
        ],
        [{"script": script(DEREVERB)}],
        extstate=daemon,
        max_seconds=180,
    )
    assert report["errors"] == [] and report["messages"] == [], report
    vox, impulse = (track["items"][0]["takes"] for track in report["tracks"])
    assert len(impulse) == 1  # the response is used, not processed
    assert len(vox) == 2 and vox[1]["name"] == "vox (DiffMusic dereverb with hall)"
    job = Path(vox[1]["file"]).parent
    command = (job / "submit.sh").read_text()
    assert f"'--rir' '{job / 'rir.wav'}'" in command and "blind" not in command
    sent_rir, _ = read_wav(job / "rir.wav")
    assert np.array_equal(sent_rir, rir[:, : sent_rir.shape[1]])
    assert sent_rir.shape[1] >= rir.shape[1] - 1
    assert not (job / "diagnose.sh").exists()  # the room is known: no estimate needed
    # with the true response the render is much closer to the dry music than the input was
    restored, _ = read_wav(vox[1]["file"])
    before = np.sum((wet - dry) ** 2)
    assert np.sum((restored - dry) ** 2) < 0.5 * before


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((("IR hall", "A"), ("Impulse response", "B")), "Select one impulse-response item"),
        ((("vox", "Room IR"),), "Select the items to dereverberate along with"),
    ],
)
def test_impulse_response_selection_problems(tmp_path: Path, names: tuple, expected: str) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(0.5, SR, 1, seed=3), SR)
    tracks = [{"name": track, "items": [take_item(source, 0.0, 0.5, name=take)]}
              for take, track in names]  # fmt: skip
    report = run_scripts(tmp_path, tracks, [{"script": script(DEREVERB)}])
    (message,) = report["messages"]
    assert expected in message["message"]
    assert report["exec"] == [] and report["undo_points"] == []


def test_the_impulse_response_rule() -> None:
    """Which names mark an impulse response (a word "IR", or "impulse" in any case)."""
    code = """
local items = dofile(arg[1])
local out = {}
for _, name in ipairs({ "IR", "Room IR", "IR-hall", "impulse", "Hall Impulse Response",
                        "IRON", "stIR", "choir", "" }) do
  out[#out + 1] = items.is_impulse_response({ take_name = name, track_name = "" }) and "y" or "n"
end
io.write(table.concat(out))
"""
    from reaper_helpers import LUA, SCRIPTS

    here = Path(__file__).parent
    script_path = here / ".rule_check.lua"
    try:
        script_path.write_text(code)
        proc = subprocess.run(
            [*LUA, str(script_path), str(SCRIPTS / "lib" / "diffmusic" / "items.lua")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        script_path.unlink(missing_ok=True)
    assert proc.stdout == "yyyyynnnn"
