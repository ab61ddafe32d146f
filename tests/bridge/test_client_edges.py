"""The client commands at their edges: a file they must not write over, audio over the daemon's
message limit, a waiting submit stopped by a signal, malformed job ids, a daemon still starting
(a real daemon on loopback, the real CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import numpy as np
import pytest
from bridge_helpers import RATE, Daemon, free_port
from test_cli import run

from bridge.connection import ConnectionInfo, write_connection_file
from diffmusic_engine.audio import write_audio


def test_fetch_refuses_to_write_over_the_submitted_file(daemon, clip, tmp_path, cli_command):
    """``submit take.wav`` then ``fetch J -o take.wav`` replaced the take with its repair (the
    daemon had no path to compare with); restore and ``submit -o`` refuse that."""
    take = write_audio(tmp_path / "take.wav", clip, RATE)
    before = take.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(take)
    connect = ("--connection-file", daemon.connection)
    result = run(cli_command, "submit", take, "--task", "phase-retrieval", "--wait",
                 "--job-id", "over-1", *connect)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for output in (take, link):
        result = run(cli_command, "fetch", "over-1", "-o", output, *connect)
        assert result.returncode == 1
        assert result.stderr == (
            f"error: {output}: output would overwrite the input {take}; choose another name\n"
        )
    assert take.read_bytes() == before
    result = run(cli_command, "fetch", "over-1", "-o", tmp_path / "fixed.wav", *connect)
    assert result.returncode == 0, result.stderr


def test_audio_over_the_daemons_message_limit_is_refused_before_it_is_sent(
    daemon, tmp_path, cli_command
):
    """4.5 s of 8 channels is within this daemon's length and channel limits, but 2.2 MiB of
    float32, over its --max-message-mb 2: ZeroMQ had dropped it unanswered, and the client
    said "no reply ... after 3 tries of 10 s" 30 s later."""
    take = write_audio(tmp_path / "wide.wav", np.zeros((8, int(4.5 * RATE)), np.float32), RATE)
    result = run(cli_command, "submit", take, "--task", "phase-retrieval", "--connection-file",
                 daemon.connection, timeout=20)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        "error: the audio is 2.2 MiB as float32 samples, over the 2 MiB the daemon takes in one "
        "message: send a shorter region (or fewer channels), or serve with a higher "
        "--max-message-mb\n"
    )


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_a_terminated_waiting_submit_leaves_its_job_running_and_says_so(
    daemon, clip, tmp_path, cli_command, signal_name
):
    """SIGTERM or SIGHUP (a host quitting, a closed terminal) had ended a waiting submit with
    no last word: its status file said "running" for ever. The job goes on in the daemon (a
    submit with its id attaches again, as REAPER's actions do) and the file says so."""
    import signal
    import time

    source = write_audio(tmp_path / "take.wav", clip, RATE)
    preset = tmp_path / "slow.toml"
    preset.write_text('task = "phase-retrieval"\n[options]\niterations = 10000\n')
    status_file, job = tmp_path / "status.json", f"term-{signal_name}"
    process = subprocess.Popen(
        [*cli_command, "submit", str(source), "--preset", str(preset), "--job-id", job,
         "-o", str(tmp_path / "out.wav"), "--status-file", str(status_file),
         "--connection-file", str(daemon.connection)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if status_file.exists() and json.loads(status_file.read_text())["state"] == "running":
            break
        time.sleep(0.05)
    signum = getattr(signal, signal_name)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    said = json.loads(status_file.read_text())
    goes_on = (f"stopped by {signal_name}; job {job} goes on in the daemon if it took it: "
               f"diffmusic fetch {job} -o OUT --connection-file {daemon.connection} once it is "
               f"done (or submit again with --job-id {job}, which waits for it, or sends it if "
               "it had not arrived)")  # fmt: skip
    assert (said["state"], said["error"]) == ("detached", goes_on)
    assert stderr == f"error: {goes_on}\n"
    with daemon.client() as client:
        assert client.status(job)["state"] == "running"
        client.cancel(job)  # not to hold the daemon's worker for the tests after this one
        assert client.wait(job, timeout=30)["state"] == "cancelled"


@pytest.mark.parametrize("command", ["cancel", "fetch", "status"])
def test_a_malformed_job_id_is_refused_by_the_client(tmp_path, cli_command, command):
    """``cancel 'bad/id'`` had reached the daemon, which answered "not-found"."""
    output = ("-o", tmp_path / "out.wav") if command == "fetch" else ()
    result = run(cli_command, command, "bad/id", *output, "--connection-file", tmp_path / "c.json")
    assert result.returncode == 1
    assert result.stderr == (
        "error: job id 'bad/id': expected 1-64 of A-Z a-z 0-9 _ . - (the first a letter or digit)\n"
    )


def test_a_submit_stopped_before_its_job_is_accepted_is_detached_not_failed(
    tmp_path, clip, cli_command
):
    """A SIGTERM while the audio was still on its way had written "failed" (final): REAPER,
    which gives every job an id, then never submitted it again, though the daemon may hold it.
    A daemon that never answers stands in for one still storing a long take."""
    import signal
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connection = tmp_path / "connection.json"
    write_connection_file(
        connection,
        ConnectionInfo(
            "127.0.0.1", listener.getsockname()[1], free_port(), "ab" * 32, pid=os.getpid()
        ),
    )
    source, status_file = write_audio(tmp_path / "take.wav", clip, RATE), tmp_path / "s.json"
    try:
        process = subprocess.Popen(
            [*cli_command, "submit", str(source), "--task", "phase-retrieval", "--job-id",
             "early", "-o", str(tmp_path / "out.wav"), "--status-file", str(status_file),
             "--connection-file", str(connection), "--timeout", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # sending, unanswered
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        listener.close()
    assert process.returncode == 128 + signal.SIGTERM
    said = json.loads(status_file.read_text())
    assert said["state"] == "detached" and said["error"].startswith(
        "stopped by SIGTERM; job early goes on in the daemon if it took it"
    )


def test_ping_waits_for_a_daemon_still_starting(tmp_path, cli_command):
    """A studio script that starts a daemon and then submits had failed at once ("no
    connection file"); ``ping --wait S`` is the step between."""
    import time

    daemon = Daemon(tmp_path)
    waiting = subprocess.Popen(
        [*cli_command, "ping", "--wait", "60", "--connection-file", str(daemon.connection)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        assert waiting.poll() is None  # no daemon yet: still waiting
        daemon.start()
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert out.startswith(f"daemon pid {daemon.process.pid} up ")
    finally:
        waiting.kill()
        daemon.stop()
    result = run(cli_command, "ping", "--wait", "0.5", "--connection-file", tmp_path / "none.json")
    assert result.returncode == 1 and "no connection file" in result.stderr
