"""Restoration steps through a real daemon (``--connect``): same outputs as in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import write

from bridge.batch import Restorer
from bridge.cli import main
from bridge.client import Client
from bridge.connection import DaemonUnavailable, read_connection_file
from diffmusic_engine.audio import read_audio
from diffmusic_engine.synth import music_excerpt

REPO = Path(__file__).resolve().parents[2]
CHAIN = """
[[steps]]
plugin = "Gain"
gain_db = -2.0

[[steps]]
restore = "inpaint"
gaps = ["0.60:0.62"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    """``diffmusic serve`` in a subprocess on loopback; yields its connection file."""
    folder = tmp_path_factory.mktemp("daemon")
    connection = folder / "connection.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "bridge", "serve", "--connection-file", str(connection),
               "--journal", str(folder / "journal")]  # fmt: skip
    log = open(folder / "daemon.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (folder / "daemon.log").read_text()
        try:
            if read_connection_file(connection).pid == process.pid:
                with Client(connection, timeout=2.0) as client:
                    client.ping()
                break
        except DaemonUnavailable:
            pass
        assert time.monotonic() < deadline, "daemon did not start"
        time.sleep(0.1)
    yield connection
    process.terminate()
    process.wait(timeout=15)
    log.close()


@pytest.mark.slow  # worker processes / a subprocess: several seconds
def test_batch_through_the_daemon_matches_in_process(daemon: Path, tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "x.wav", music_excerpt(1.5, 16000, 2, seed=7), 16000, 16)
    chain = tmp_path / "chain.toml"
    chain.write_text(CHAIN)
    base = ["batch", str(source), "--chain", str(chain), "--quiet"]
    assert main([*base, "-o", str(tmp_path / "local")]) == 0
    assert main([*base, "-o", str(tmp_path / "daemon"), "--connect",
                 "--connection-file", str(daemon)]) == 0  # fmt: skip
    local, _ = read_audio(tmp_path / "local" / "x.wav")
    remote, _ = read_audio(tmp_path / "daemon" / "x.wav")
    np.testing.assert_array_equal(remote, local)
    # and the gap really was restored on the way (it differs from the gain alone)
    gain_only = read_audio(source)[0] * 10 ** (-2 / 20)
    assert np.abs(local[:, 9600:9920] - gain_only[:, 9600:9920]).max() > 1e-3


def test_restorer_connect_without_daemon_fails_clearly(tmp_path: Path, capsys) -> None:
    """No daemon: the batch asks it once before any file (one error line, exit 1, nothing
    written; it used to spend the client's three tries on every file, then fail each)."""
    source = write(tmp_path / "x.wav", music_excerpt(1.0, 16000, 1, seed=1), 16000)
    chain = tmp_path / "chain.toml"
    chain.write_text(CHAIN.replace("0.60:0.62", "0.30:0.31"))
    missing = tmp_path / "no-daemon.json"
    code = main(["batch", str(source), "-o", str(tmp_path / "out"), "--chain", str(chain),
                 "--connect", "--connection-file", str(missing), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: no connection file")
    assert "no-daemon.json" in err[0] and not (tmp_path / "out").exists()
    with pytest.raises(DaemonUnavailable):
        Restorer(task="dereverb", connect=True, connection_file=missing)(np.ones(4000), 16000)
