"""The projects the end-to-end action tests (test_actions.py) run: each scenario builds source
files holding known audio and the run that opens them, and returns the numbers its test checks
against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from reaper_helpers import (
    script,
    take_item,
    write_wav,
)
from scipy.signal import fftconvolve

from diffmusic_engine.diagnose import selections
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.synth import music_excerpt, music_stems

SR = 44100
CROSSFADE = 0.002  # the inpaint preset's edge blend: samples this close to a gap may change


def dropout_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    clean = music_excerpt(1.2, SR, 2, seed=1)
    first, stop = int(0.6 * SR), int(0.62 * SR)  # a 20 ms dropout in the source file
    damaged = clean.copy()
    damaged[:, first:stop] = 0
    source = write_wav(tmp / "dropout.wav", damaged, SR)
    position = 10.0
    # a second selected item on another track plays the same file from 0.1 s, starting 0.1 s
    # later, so the same time selection covers its dropout too (one job per item)
    second = take_item(source, position + 0.1, 1.0, startoffs=0.1, name="second")
    run = {
        "tracks": [
            {"name": "Guitar", "items": [take_item(source, position, 1.2)]},
            {"name": "Double", "items": [second]},
        ],
        "runs": [
            {"script": script("Restore dropout in time selection")},
            # the daemon triggers the import action while the first one still watches its jobs
            {"script": script("Import finished renders"), "cycle": 30},
        ],
        # a job folder whose name the shell and JSON must carry: quotes, $, a backtick (the job
        # script was started as /bin/sh "DIR/submit.sh"), an emoji (a surrogate pair in the
        # status file's JSON, once decoded as two characters: "missing output file")
        "extstate": {**settings, "context": "0.5", "job_folder": str(tmp / JOB_FOLDER)},
        "time_selection": (position + first / SR, position + stop / SR),
    }
    return run, {"clean": clean, "damaged": damaged, "gap": (first, stop), "position": position}


JOB_FOLDER = 'it\'s "$HOME" `x` 🎵'  # shell and JSON specials


def playrate_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    clean = music_excerpt(2.0, SR, 2, seed=2)
    startoffs, playrate, position, length = 0.25, 1.5, 4.0, 1.0
    # the dropout in source time [1.0, 1.02) s sounds at item time (s - startoffs) / playrate
    damaged = clean.copy()
    damaged[:, int(1.0 * SR) : int(1.02 * SR)] = 0
    source = write_wav(tmp / "fast.wav", damaged, SR)
    t0, t1 = (1.0 - startoffs) / playrate, (1.02 - startoffs) / playrate
    item = take_item(source, position, length, startoffs=startoffs, playrate=playrate)
    # the user trims the item's left edge by TRIM while the job runs (as REAPER's trim does:
    # the position and the take's offset move together); the render must still line up
    trim = tmp / "trim.lua"
    trim.write_text(
        "reaper.Undo_BeginBlock()\n"
        f"local item, d = reaper.GetMediaItem(0, 0), {TRIM}\n"
        "local take = reaper.GetActiveTake(item)\n"
        "for key, by in pairs({D_POSITION = d, D_LENGTH = -d}) do\n"
        "  local now = reaper.GetMediaItemInfo_Value(item, key)\n"
        "  reaper.SetMediaItemInfo_Value(item, key, now + by)\n"
        "end\n"
        "reaper.SetMediaItemTakeInfo_Value(take, 'D_STARTOFFS',\n"
        f"  reaper.GetMediaItemTakeInfo_Value(take, 'D_STARTOFFS') + d * {playrate})\n"
        "reaper.Undo_EndBlock('trim item', -1)\n"
    )
    run = {
        "tracks": [{"name": "Keys", "items": [item]}],
        "runs": [
            {"script": script("Restore dropout in time selection")},
            {"script": trim, "cycle": 8},
        ],  # fmt: skip
        "extstate": {**settings, "context": "0.4"},
        "time_selection": (position + t0, position + t1),
    }
    context = {"clean": clean, "damaged": damaged, "t": (t0, t1), "startoffs": startoffs,
               "playrate": playrate, "length": length}  # fmt: skip
    return run, context


TRIM = 0.1  # s trimmed off the playrate scenario's item while its job runs


NOTES_AT = 2.0  # the notes scenario's items' position (s): notes are told in project time


def notes_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    """One time selection, [0.6, 0.8) s into three stereo items at 2 s (a track each): a
    dropout on the left channel only (the right kept), a dropout 3 ms wider on each side than
    the selection (extended to its edges), and music (filled, with a warning)."""
    clean = music_excerpt(1.2, SR, 2, seed=12)
    first, stop = int(0.6 * SR), int(0.8 * SR)
    wider = first - int(0.003 * SR), stop + int(0.003 * SR)
    left_only, both = clean.copy(), clean.copy()
    left_only[0, first:stop] = 0
    both[:, wider[0] : wider[1]] = 0
    sources = {"left": left_only, "both": both, "music": clean}
    run = {
        "tracks": [{"name": name, "items": [take_item(write_wav(tmp / f"{name}.wav", audio, SR),
                                                      NOTES_AT, 1.2, name=name)]}
                   for name, audio in sources.items()],
        "runs": [{"script": script("Restore dropout in time selection")}],
        "extstate": {**settings, "context": "0.5"},
        "time_selection": (NOTES_AT + first / SR, NOTES_AT + stop / SR),
        "max_seconds": 300,  # queued behind the other scenarios' jobs on a loaded machine
    }  # fmt: skip
    # the engine's lines, told in the project's time (the sent file's times, which start 0.5 s
    # before the selection, moved to where that file's audio sits in the project)
    origin = int(NOTES_AT * SR)
    given, sent = (origin + first, origin + stop), (origin + wider[0], origin + wider[1])
    lines = {
        "left": selections.kept_line(given, np.array([False, True]), SR),
        "both": selections.extension_line(given, sent, SR),
    }
    return run, {"lines": lines, "left_only": left_only}


def room_source(path: Path, seconds: float, channels: int = 2, seed: int = 3) -> Path:
    """Music in a 1.5 s room (blind dereverb reads 5 s of it as 1.5 s, confidence 0.5, and
    takes 1.4 dB; under 2 s it measures no room and leaves the audio as it is)."""
    dry = music_excerpt(seconds + 0.5, SR, channels, seed=seed)
    rir = synthetic_rir(1.5, SR, seed=0)
    wet = np.stack([fftconvolve(ch, rir)[: dry.shape[1]] for ch in dry]).astype(np.float32)
    return write_wav(path, wet * (0.5 / np.max(np.abs(wet))), SR, subtype="PCM_24")


def dereverb_scenario(tmp: Path, settings: dict, *, seconds: float = 5.0) -> tuple[dict, dict]:
    source = room_source(tmp / "room.wav", seconds)
    startoffs, position, length = 0.1, 2.0, seconds
    item = take_item(source, position, length, startoffs=startoffs)
    run = {
        "tracks": [{"name": "Vox", "items": [item]}],
        "runs": [{"script": script("Dereverberate selected items")}],
        "extstate": settings,
    }
    return run, {"source": source, "startoffs": startoffs, "position": position, "length": length}


def short_dereverb_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    """0.8 s: too short to measure a room, so blind dereverb leaves it as it is."""
    return dereverb_scenario(tmp, settings, seconds=0.8)


def separate_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    stems = music_stems(1.0, SR, 2, seed=4)
    mix = (0.5 * stems["drums"] + 0.5 * stems["keys"]).astype(np.float32)
    source = write_wav(tmp / "mix.wav", mix, SR)
    position, length = 1.0, 1.0
    mix_item = take_item(source, position, length)
    mix_item["takes"][0]["fx"] = ["VST: ReaEQ (Cockos)"]  # kept on the mix, not copied to sources
    run = {
        "tracks": [
            {"name": "Mix", "items": [mix_item]},
            {"name": "Other", "items": []},
        ],
        "runs": [{"script": script("Separate selected items")}],
        # the dsp backend separates only when the split is named
        "extstate": {**settings, "sources": "2", "preset": "harmonic-percussive"},
    }
    return run, {"mix": mix, "position": position, "length": length}


def cancel_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    source = write_wav(tmp / "a.wav", music_excerpt(1.0, SR, 2, seed=8), SR)
    run = {
        "tracks": [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        "runs": [{"script": script("Dereverberate selected items")}],
        "extstate": settings,
        "gfx_keys": {2: 27},  # Esc in the progress window at the 2nd defer cycle
    }
    return run, {}


def cancel_action_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    source = write_wav(tmp / "a.wav", music_excerpt(1.0, SR, 2, seed=10), SR)
    run = {
        "tracks": [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        "runs": [
            {"script": script("Dereverberate selected items")},
            {"script": script("Cancel running jobs"), "cycle": 2},  # the user runs it
        ],
        "extstate": settings,
    }
    return run, {}


def daemon_down_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    source = write_wav(tmp / "a.wav", music_excerpt(1.0, SR, 2, seed=5), SR)
    missing = tmp / "no-daemon.json"
    run = {
        "tracks": [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        "runs": [{"script": script("Dereverberate selected items")}],
        "extstate": {**settings, "connection_file": str(missing)},
    }
    return run, {"missing": missing}


def import_scenario(tmp: Path, settings: dict) -> tuple[dict, dict]:
    """Two jobs: one that dereverbs, and one too short to measure, left as it is."""
    source = room_source(tmp / "a.wav", 5.0, channels=1, seed=9)
    tracks = [
        {"name": "A", "items": [take_item(source, 3.0, 5.0)]},
        {"name": "B", "items": [take_item(source, 3.0, 0.5, name="short")]},
    ]
    # the user starts the action, then stops the script before the job ends
    run = {
        "tracks": tracks,
        # stopped once both items are read (32768 frames a cycle) and their jobs started
        "runs": [{"script": script("Dereverberate selected items"), "kill_cycle": 12}],
        "extstate": settings, "name": "first",
    }  # fmt: skip
    return run, {"tracks": tracks}


SCENARIOS = {
    "dropout": dropout_scenario,
    "playrate": playrate_scenario,
    "dereverb": dereverb_scenario,
    "short_dereverb": short_dereverb_scenario,
    "separate": separate_scenario,
    "cancel": cancel_scenario,
    "cancel_action": cancel_action_scenario,
    "daemon_down": daemon_down_scenario,
    "import": import_scenario,
    "notes": notes_scenario,
}
