"""The dsp backend, the damage report and the CLI's own checks run without torch.

Loading torch cost the CLI 1.1-1.3 s a call (median of 3, one 2-core run: ``diagnose`` of a
6 s stereo clip 3.18 -> 1.89 s, a dsp declick 3.24 -> 1.97 s, ``submit --sensitivity`` 1.99 ->
0.89 s; REAPER runs ``diffmusic diagnose`` on every item it dereverberates or searches); only
the diffusion backend, ``degrade`` (the forward models) and dsp phase retrieval (Griffin-Lim on
the operators' STFT) need it. Each check runs in a fresh interpreter, where nothing else has
imported torch yet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RATE = 44100
# The CLI in this interpreter, then whether torch (or diffusers) was imported: one line of JSON.
SCRIPT = """
import json, sys
from bridge.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in ("torch", "diffusers") if m in sys.modules)]))
"""


def cli_in_fresh_interpreter(argv: list[str]) -> tuple[int, list[str]]:
    """The exit code of ``diffmusic ARGV`` and the heavy modules it imported."""
    import json

    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    code, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return code, heavy


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """3 s of stereo tones and noise with a 0.2 s dropout, clipped at 0.5, in a 0.6 s room."""
    rng = np.random.default_rng(5)
    t = np.arange(3 * RATE) / RATE
    notes = np.sin(2 * np.pi * 220 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2
    dry = np.stack([notes, np.roll(notes, 300)]) + 0.05 * rng.standard_normal((2, t.size))
    tail = rng.standard_normal(int(0.6 * RATE)) * 10 ** (
        -3 * np.arange(int(0.6 * RATE)) / (0.6 * RATE)
    )
    wet = np.stack([np.convolve(channel, 0.1 * tail)[: t.size] for channel in dry]) + dry
    wet = np.clip(0.8 * wet / np.max(np.abs(wet)), -0.5, 0.5)
    wet[:, RATE : RATE + RATE // 5] = 0.0
    path = tmp_path_factory.mktemp("torch_free") / "damaged.wav"
    sf.write(path, wet.T, RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "flags",
    [
        ["--gap", "auto"],
        ["--task", "declip"],
        ["--task", "declick"],
        ["--rir", "blind"],
        ["--cutoff", "auto"],
    ],
    ids=["inpaint", "declip", "declick", "dereverb", "super-resolution"],
)
def test_a_dsp_restore_never_loads_torch(damaged, tmp_path, flags):
    out = tmp_path / "out.wav"
    code, heavy = cli_in_fresh_interpreter(
        ["restore", str(damaged), "-o", str(out), "--quiet", *flags]
    )
    assert code == 0 and out.is_file()
    assert heavy == []


def test_the_damage_report_never_loads_torch(damaged):
    code, heavy = cli_in_fresh_interpreter(["diagnose", str(damaged), "--json"])
    assert code == 0
    assert heavy == []


def test_naming_a_task_by_its_option_never_loads_torch(damaged):
    # --sensitivity alone names declick (every backend's option tables are read); no daemon runs,
    # so submit stops at the connection, after the task was inferred
    code, heavy = cli_in_fresh_interpreter(
        ["submit", str(damaged), "--sensitivity", "0.8", "--connection-file", "/nonexistent.json"]
    )
    assert code != 0
    assert heavy == []


def test_dsp_phase_retrieval_does_load_torch(damaged, tmp_path):
    # the check above is real: a path that needs torch shows it
    out = tmp_path / "out.wav"
    argv = ["restore", str(damaged), "-o", str(out), "--quiet", "--task", "phase-retrieval"]
    code, heavy = cli_in_fresh_interpreter(argv)
    assert code == 0
    assert heavy == ["torch"]
