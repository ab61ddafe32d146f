"""Actions that must change nothing: refusals before any job starts (bad selection, MIDI, no
CLI), each with one message saying what to do. Real Lua scripts on the ReaScript stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reaper_helpers import assert_unchanged, read_wav, run_scripts, script, take_item, write_wav

from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.lua

SR = 44100


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("Dereverberate selected items", "'--task' 'dereverb' '--rir' 'blind'"),
        ("Extend bandwidth of selected items", "'--task' 'super-resolution' '--cutoff' 'auto'"),
        ("Rebuild phase of selected items", "'--task' 'phase-retrieval' '--backend'"),
        ("Separate selected items", "'--task' 'separate' '--sources' '3'"),
    ],
)
def test_missing_cli_gives_a_clear_message(tmp_path: Path, name: str, task: str) -> None:
    audio = music_excerpt(1.0, SR, 1, seed=5)
    source = write_wav(tmp_path / "a.wav", audio, SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script(name)}],
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "sources": "3"},
    )
    assert_unchanged(report)
    (message,) = report["messages"]
    assert "no-such-diffmusic" in message["message"] and "Settings" in message["message"]
    # the command line the action would have run (the CLI contract)
    (job,) = (tmp_path / "project" / "DiffMusic").iterdir()
    command = (job / "submit.sh").read_text()
    assert f"'submit' '{job / 'input.wav'}' {task}" in command
    assert f"'--job-id' '{job.name}' '--wait' '-o'" in command
    assert f"'--status-file' '{job / 'status.json'}' '--json'" in command
    # the audio was read over several defer cycles (REAPER stays responsive), all of it
    assert "take: reading 0%" in report["gfx_text"]
    sent, _ = read_wav(job / "input.wav")
    assert np.array_equal(sent, audio)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ((3.0, 3.0), "Make a time selection"),  # empty
        ((5.0, 5.5), "does not overlap"),  # after the item
        ((0.0, 4.0), "covers all of"),  # the whole item: nothing to restore from
    ],
)
def test_bad_time_selection_changes_nothing(
    tmp_path: Path, selection: tuple[float, float], expected: str
) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 2, seed=6), SR)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 2.0, 1.0)]}],
        [{"script": script("Restore dropout in time selection")}],
        time_selection=selection,
    )  # fmt: skip
    assert_unchanged(report)
    (message,) = report["messages"]
    assert expected in message["message"]
    assert report["exec"] == []  # nothing was started
    assert not (tmp_path / "project" / "DiffMusic").exists()  # nothing was written


@pytest.mark.parametrize(
    "name", ["Restore dropout in time selection", "Dereverberate selected items",
             "Separate selected items", "Rebuild phase of selected items"],
)  # fmt: skip
def test_midi_take_changes_nothing(tmp_path: Path, name: str) -> None:
    item = take_item(tmp_path / "none.mid", 0.0, 2.0, midi=True, name="Piano roll")
    report = run_scripts(
        tmp_path, [{"name": "MIDI", "items": [item]}], [{"script": script(name)}],
        time_selection=(0.5, 0.6),
    )  # fmt: skip
    assert_unchanged(report)
    (message,) = report["messages"]
    assert "'Piano roll' is a MIDI take" in message["message"]
    assert report["exec"] == []


def test_no_selected_item_changes_nothing(tmp_path: Path) -> None:
    source = write_wav(tmp_path / "a.wav", music_excerpt(0.5, SR, 2, seed=7), SR)
    report = run_scripts(
        tmp_path, [{"name": "A", "items": [take_item(source, 0.0, 0.5, selected=False)]}],
        [{"script": script("Dereverberate selected items")}],
    )  # fmt: skip
    assert_unchanged(report)
    assert "Select one or more audio items" in report["messages"][0]["message"]


@pytest.mark.parametrize("folder", ["~/dm jobs", "jobs"])
def test_a_job_folder_that_is_no_full_path_is_refused(tmp_path: Path, folder: str) -> None:
    """'~/dm jobs' made a folder named '~' in REAPER's working folder, and the take's source
    path was relative: lost once the project opens from elsewhere."""
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=5), SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items")}],
        extstate={"cli": str(tmp_path / "no-such-diffmusic"), "job_folder": folder},
    )
    assert_unchanged(report)
    (message,) = report["messages"]
    assert f"job folder '{folder}': give a full path" in message["message"]


HOME = "/home/reaper user"  # $HOME of the scripts' process (each test sets it)
# each setting that names a file: its ExtState key, its place in the Settings dialog, and what
# it says to give
PATH_SETTINGS = {
    "diffmusic command": ("cli", 0, ", or a command on REAPER's PATH"),
    "connection file": (
        "connection_file",
        1,
        " (empty: the default, the file diffmusic serve writes)",
    ),
    "preset": ("preset", 4, ", or a shipped preset's name"),
}


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        # this README's own default, typed: saved, then every action said "no connection file
        # ~/.config/diffmusic/connection.json: is the daemon running?" while it ran
        ("connection file", "~/.config/diffmusic/connection.json",
         f" ({HOME}/.config/diffmusic/connection.json)"),
        ("connection file", "connection.json", ""),
        ("diffmusic command", "~/venv/bin/diffmusic", f" ({HOME}/venv/bin/diffmusic)"),
        ("diffmusic command", "venv/bin/diffmusic", ""),
        # the client reads a preset file from its working folder (REAPER's), ~ unexpanded: it
        # failed every job with "no such file or preset"
        ("preset", "~/presets/mine.toml", f" ({HOME}/presets/mine.toml)"),
        ("preset", "presets\\mine.toml", ""),
        ("preset", "mine.TOML", ""),
        ("preset", "mine.json", ""),
    ],
)  # fmt: skip
def test_a_path_that_is_not_full_is_refused_by_settings_and_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str, said: str
) -> None:
    """No shell expands ~ here and a relative path is read from REAPER's working folder: a
    connection file, a command or a preset file given so is not found where it is."""
    monkeypatch.setenv("HOME", HOME)
    key, index, otherwise = PATH_SETTINGS[field]
    fields = [str(tmp_path / "no-such-diffmusic"), "", "dsp", "", "", "", "30", "2", ""]
    fields[index] = value
    settings = script("Settings")
    report = run_scripts(tmp_path, [], [{"script": settings}], user_inputs=[",".join(fields)])
    expected = f"{field} '{value}': give a full path{said}{otherwise}"
    assert report["messages"] == [
        {"title": "DiffMusic", "message": f"Settings not saved: {expected}."}
    ]
    assert not report["extstate"]["DiffMusic"] and report["exec"] == []  # nothing saved, no ping
    # saved by an earlier version: an action refuses it before anything changes
    source = write_wav(tmp_path / "a.wav", music_excerpt(1.0, SR, 1, seed=5), SR)
    report = run_scripts(
        tmp_path,
        [{"name": "A", "items": [take_item(source, 0.0, 1.0)]}],
        [{"script": script("Rebuild phase of selected items")}],
        extstate={"cli": fields[0], key: value},
        name="action",
    )
    assert_unchanged(report)
    (message,) = report["messages"]
    assert message["message"] == f"Settings: {expected}.\nFix it in 'DiffMusic - Settings'."
    assert report["exec"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("diffmusic command", "diffmusic"),  # a command on REAPER's PATH
        ("preset", "harmonic-percussive"),  # a shipped preset's name
        ("preset", "/home/me/presets/mine.toml"),
        ("preset", "C:\\presets\\mine.json"),
        ("connection file", "\\\\server\\share\\connection.json"),
    ],
)
def test_a_name_or_a_full_path_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    """The rule refuses paths that are not full, not a bare command or a shipped preset's name:
    Settings saves them and goes on to ping the daemon (none answers here, or one does)."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no connection file in the default place
    key, index, _ = PATH_SETTINGS[field]
    fields = [str(tmp_path / "no-such-diffmusic"), "", "dsp", "", "", "", "30", "2", ""]
    fields[index] = value
    report = run_scripts(
        tmp_path, [], [{"script": script("Settings")}], user_inputs=[",".join(fields)]
    )
    (message,) = report["messages"]
    assert message["message"].startswith("Settings saved")
    assert report["extstate"]["DiffMusic"][key] == value
