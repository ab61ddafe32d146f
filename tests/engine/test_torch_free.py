"""The dsp backend, the damage report and the CLI's own checks run without torch.

Loading torch cost the CLI 1.1-1.3 s a call (median of 3, one 2-core run: ``diagnose`` of a
6 s stereo clip 3.18 -> 1.89 s, a dsp declick 3.24 -> 1.97 s, ``submit --sensitivity`` 1.99 ->
0.89 s; REAPER runs ``diffmusic diagnose`` on every item it dereverberates or searches); only
the diffusion backend, ``degrade`` (the forward models) and dsp phase retrieval (Griffin-Lim on
the operators' STFT) need it. Each check runs in a fresh interpreter, where nothing else has
imported torch yet, on the shipped clip with a damage its method repairs (the job's details say
it ran: no ``unchanged``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diffmusic_engine.api import degrade
from diffmusic_engine.damage import Declick, Declip, Dereverb, Gap, Inpaint, SuperResolution
from diffmusic_engine.evaluation.corpus import REAL_DIR
from diffmusic_engine.impulse_response import synthetic_rir

REPO = Path(__file__).resolve().parents[2]
# The CLI in this interpreter, then its exit code and whether torch (or diffusers) was imported.
SCRIPT = """
import json, sys
from bridge.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in ("torch", "diffusers") if m in sys.modules)]))
"""


def cli_in_fresh_interpreter(argv: list[str]) -> tuple[int, list[str], list[dict], str]:
    """``diffmusic ARGV`` in a new interpreter at the repository's root: its exit code, the
    heavy modules it imported, the JSON events it printed and its stderr."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True,
                          timeout=240, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr
    *events, last = done.stdout.strip().splitlines()
    code, heavy = json.loads(last)
    return code, heavy, [json.loads(line) for line in events], done.stderr


# One damage of each kind its dsp method repairs, made by the engine's own degrade (which loads
# torch in this process, not in the CLI's).
DAMAGES = {
    "inpaint": Inpaint(gaps=(Gap(1.0, 1.2),)),
    "declip": Declip(sdr=5.0),
    "declick": Declick(rate=4.0),
    "dereverb": Dereverb(rir=synthetic_rir(1.5, 44100, seed=3)),
    "super-resolution": SuperResolution(cutoff=8000.0),
}


def damaged_clip(task: str) -> np.ndarray:
    """The shipped clip (6 s, stereo) with ``DAMAGES[task]``."""
    clean, rate = sf.read(REAL_DIR / "chaos_god_backing.flac", dtype="float32", always_2d=True)
    damaged = degrade(clean.T, rate, DAMAGES[task])
    return damaged / max(1.0, float(np.abs(damaged).max()))  # a room's tail may pass full scale


@pytest.mark.parametrize(
    ("task", "flags"),
    [
        ("inpaint", ["--gap", "auto"]),
        ("declip", ["--task", "declip"]),
        ("declick", ["--task", "declick"]),
        ("dereverb", ["--rir", "blind"]),
        ("super-resolution", ["--cutoff", "auto"]),
    ],
)
def test_a_dsp_restore_never_loads_torch(tmp_path, task, flags):
    source, out = tmp_path / "damaged.wav", tmp_path / "out.wav"
    sf.write(source, damaged_clip(task).T, 44100, subtype="FLOAT")
    argv = ["restore", str(source), "-o", str(out), "--json", *flags]
    code, heavy, events, _ = cli_in_fresh_interpreter(argv)
    assert code == 0 and out.is_file()
    details = next(event for event in events if event["event"] == "done")["details"]
    assert details["task"] == task and "unchanged" not in details  # the method ran
    assert heavy == []


def test_the_damage_report_never_loads_torch(tmp_path):
    source = tmp_path / "damaged.wav"
    sf.write(source, damaged_clip("inpaint").T, 44100, subtype="FLOAT")
    code, heavy, events, _ = cli_in_fresh_interpreter(["diagnose", str(source), "--json"])
    assert code == 0
    assert [(d["start"], d["end"]) for d in events[-1]["dropouts"]] == [(1.0, 1.2)]
    assert heavy == []


def test_naming_a_task_by_its_option_never_loads_torch(tmp_path):
    # --sensitivity alone names declick (every backend's option tables are read); no daemon
    # runs, so submit stops at the connection file, after the task was inferred
    source, missing = tmp_path / "damaged.wav", tmp_path / "connection.json"
    sf.write(source, damaged_clip("declick").T, 44100, subtype="FLOAT")
    argv = ["submit", str(source), "--sensitivity", "0.8", "--connection-file", str(missing)]
    code, heavy, _, stderr = cli_in_fresh_interpreter(argv)
    assert code != 0 and f"no connection file {missing}" in stderr
    assert heavy == []


def test_dsp_phase_retrieval_does_load_torch(tmp_path):
    # the check above is real: a path that needs torch shows it
    source, out = tmp_path / "damaged.wav", tmp_path / "out.wav"
    second = damaged_clip("inpaint")[:, :44100]  # one second: 100 iterations on 6 s took 30 s
    sf.write(source, second.T, 44100, subtype="FLOAT")  # on a loaded machine
    argv = ["restore", str(source), "-o", str(out), "--json", "--task", "phase-retrieval"]
    code, heavy, _, _ = cli_in_fresh_interpreter(argv)
    assert code == 0 and out.is_file()
    assert heavy == ["torch"]
