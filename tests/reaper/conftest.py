"""Fixtures of the REAPER tests: the ``diffmusic`` command and a real daemon (dsp backend)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reaper_helpers import CLI


@pytest.fixture(scope="session")
def diffmusic_cli() -> str:
    """The ``diffmusic`` command the scripts call (a failure, not a skip, when it is missing:
    the REAPER suite must not pass by running nothing)."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: install the package first (make .venv/.installed)")
    help_text = subprocess.run([str(CLI), "--help"], capture_output=True, text=True).stdout
    assert "serve" in help_text and "submit" in help_text, "diffmusic lacks serve/submit"
    return str(CLI)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory, diffmusic_cli: str) -> dict[str, str]:
    """A real ``diffmusic serve`` on loopback; yields the ExtState settings that reach it."""
    folder = tmp_path_factory.mktemp("daemon")
    connection = folder / "connection.json"
    log = (folder / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(CLI), "serve", "--connection-file", str(connection), "--journal",
         str(folder / "journal"), "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not connection.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("diffmusic serve did not start:\n" + _tail(folder))
            time.sleep(0.1)
        yield {"cli": diffmusic_cli, "connection_file": str(connection), "backend": "dsp"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _tail(folder: Path) -> str:
    return (folder / "serve.log").read_text()[-2000:]
