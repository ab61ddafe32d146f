"""Run the REAPER scripts for real under Lua 5.4, against the ReaScript stand-in.

``run_scripts`` writes a scenario (the project the stand-in builds, the scripts to start and
ExtState) as a Lua table, runs ``harness.lua`` in a subprocess and returns what it wrote: the
resulting project, undo points, changes, messages, commands run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS = REPO / "reaper_scripts"
# The Lua 5.4 interpreter: lupa's (a wheel in the test extra, so nothing from the system), or
# the binary that $DIFFMUSIC_TEST_LUA names (for example lua5.4) to run the same tests under it.
LUA = (
    [os.environ["DIFFMUSIC_TEST_LUA"]]
    if os.environ.get("DIFFMUSIC_TEST_LUA")
    else [sys.executable, str(HERE / "run_lua.py")]
)
CLI = Path(sys.executable).with_name("diffmusic")


def script(name: str) -> Path:
    """The path of ``DiffMusic - <name>.lua``."""
    path = SCRIPTS / f"DiffMusic - {name}.lua"
    assert path.is_file(), path
    return path


def to_lua(value: Any) -> str:
    """A Python value as a Lua literal (scenario files)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(value)
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str | Path):
        # JSON string escapes are valid Lua escapes for these; other characters go as UTF-8
        # (Lua 5.4 has no \uXXXX escape)
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{to_lua(k)}] = {to_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    raise TypeError(type(value))


class Run:
    """A harness process running scripts in the stand-in; ``result()`` waits for its report."""

    def __init__(self, proc: subprocess.Popen, out: Path, timeout: float) -> None:
        self.proc, self.out, self.timeout = proc, out, timeout

    def result(self) -> dict:
        _, stderr = self.proc.communicate(timeout=self.timeout)
        assert self.proc.returncode == 0, stderr
        report = json.loads(self.out.read_text())
        assert not report["timed_out"], report
        return report


def start_scripts(
    tmp: Path,
    tracks: list[dict],
    runs: list[dict],
    *,
    extstate: dict[str, str] | None = None,
    time_selection: tuple[float, float] = (0.0, 0.0),
    max_seconds: float = 120.0,
    name: str = "run",
    **extra: Any,
) -> Run:
    """Start scripts in the stand-in (in a subprocess, so several can run at once)."""
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    scenario = {
        "tracks": tracks,
        "runs": [{**r, "script": str(r["script"])} for r in runs],
        "extstate": {"DiffMusic": extstate or {}},
        "time_selection": list(time_selection),
        "project_path": str(project),
        "resource_path": str(tmp / "resource"),
        "max_seconds": max_seconds,
        "sleep": 0.05,
        **extra,
    }
    scenario_path = tmp / f"{name}.lua"
    scenario_path.write_text("return " + to_lua(scenario) + "\n")
    out = tmp / f"{name}.json"
    proc = subprocess.Popen(
        [*LUA, str(HERE / "harness.lua"), str(scenario_path), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp,
    )  # fmt: skip
    return Run(proc, out, max_seconds + 60)


def run_scripts(tmp: Path, tracks: list[dict], runs: list[dict], **kwargs: Any) -> dict:
    """Run scripts in the stand-in; returns the harness's JSON report."""
    return start_scripts(tmp, tracks, runs, **kwargs).result()


def write_script(path: Path, text: str) -> str:
    """An executable shell script (a stand-in for the `diffmusic` command); its path."""
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def write_wav(path: Path, audio: np.ndarray, rate: int, subtype: str = "FLOAT") -> Path:
    """``audio`` (channels, frames) as a WAV file."""
    sf.write(path, np.asarray(audio, dtype=np.float32).T, rate, subtype=subtype)
    return path


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.T, rate


def heard(source: np.ndarray, rate: int, startoffs: float, playrate: float, frames: int):
    """What a take plays at item times j / rate (j < frames), as the stand-in's accessor
    defines it: source position (startoffs + t * playrate) * rate, linear interpolation."""
    t = np.arange(frames, dtype=np.float64) / rate
    position = (startoffs + t * playrate) * rate
    nearest = np.floor(position + 0.5)
    position = np.where(np.abs(position - nearest) < 1e-7, nearest, position)
    i0 = np.floor(position).astype(np.int64)
    frac = position - i0
    n = source.shape[1]
    inside = (i0 >= 0) & (i0 < n)
    a = np.where(inside, source[:, np.clip(i0, 0, n - 1)], 0.0)
    b = np.where(inside & (i0 + 1 < n), source[:, np.clip(i0 + 1, 0, n - 1)], 0.0)
    return (a + (b - a) * frac).astype(np.float32)


def take_item(
    file: Path, position: float, length: float, *, startoffs: float = 0.0,
    playrate: float = 1.0, selected: bool = True, name: str = "take", midi: bool = False,
) -> dict:  # fmt: skip
    return {
        "position": position, "length": length, "selected": selected,
        "takes": [{"file": str(file), "startoffs": startoffs, "playrate": playrate,
                   "name": name, "midi": midi}],
    }  # fmt: skip


def assert_unchanged(report: dict, n_tracks: int = 1) -> None:
    """No change to the project, no undo point, no script error."""
    assert report["errors"] == []
    assert report["undo_points"] == []
    assert report["changes"] == []
    assert report["undo_depth"] == 0
    assert len(report["tracks"]) == n_tracks
    for track in report["tracks"]:
        for item in track["items"]:
            assert len(item["takes"]) == 1
