"""The CLI contract the REAPER scripts rely on: --json lines, --status-file, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from bridge_helpers import Daemon, free_port

from bridge.connection import ConnectionInfo, write_connection_file
from bridge.osc import DONE
from diffmusic_engine.api import restore
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.damage import PhaseRetrieval, Separate
from diffmusic_engine.dsp.dereverb import NO_ROOM
from diffmusic_engine.errors import ModelError

RATE = 16000
HPSS = {"masks": "harmonic-percussive"}  # the dsp backend separates only when named


def run(cli_command, *args, timeout=120):
    return subprocess.run(
        [*cli_command, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def done_jobs(messages):
    """``{job: (path, [why])}`` for each OSC done message received."""
    return {args[0]: args[1:] for address, args in messages if address == DONE}


def test_submit_wait_json_lines_status_file_and_output(daemon, clip, tmp_path, cli_command):
    source = write_audio(tmp_path / "take.wav", clip, RATE)  # float32 WAV: exact round trip
    preset = tmp_path / "pr.toml"
    preset.write_text('task = "phase-retrieval"\nn_fft = 256\nhop = 64\n'
                      '[options.dsp]\niterations = 40\n')  # fmt: skip
    status_file = tmp_path / "state" / "job.json"
    out = tmp_path / "restored.wav"
    result = run(
        cli_command, "submit", source, "--preset", preset, "--job-id", "cli-1", "--wait",
        "-o", out, "--status-file", status_file, "--json", "--connection-file", daemon.connection,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"event": "accepted", "job": "cli-1"}
    assert lines[-1] == {"event": "done", "job": "cli-1", "outputs": [str(out)]}
    progress = [line for line in lines if line["event"] == "progress"]
    assert all(set(p) == {"event", "job", "fraction", "step", "total"} for p in progress)
    assert [p["fraction"] for p in progress] == sorted(p["fraction"] for p in progress)
    assert json.loads(status_file.read_text()) == {
        "job": "cli-1", "state": "finished", "fraction": 1.0, "outputs": [str(out)], "error": None,
        "unchanged": None, "notes": [],
    }  # fmt: skip
    assert [p.name for p in status_file.parent.iterdir()] == ["job.json"]  # no temp files left
    restored, info = read_audio(out)
    assert info.file_dtype == "float32"
    expected = restore(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 40}).audio
    np.testing.assert_array_equal(restored, expected)

    result = run(cli_command, "status", "cli-1", "--json", "--connection-file", daemon.connection)
    status = json.loads(result.stdout)
    assert status["event"] == "status" and status["job"] == "cli-1"
    assert status["state"] == "finished" and status["task"] == "phase-retrieval"

    # --wait without -o: the id is printed once the job is done (it had printed nothing, and a
    # script that chose no id had no handle on the result)
    result = run(cli_command, "submit", source, "--preset", preset, "--wait", "--quiet",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (job,) = result.stdout.split()
    with daemon.client() as client:
        assert client.status(job)["state"] == "finished"


def test_every_client_says_when_the_output_is_the_input_unchanged(
    daemon, clip, tmp_path, cli_command, osc_listener
):
    """1 s is too short to measure a room: blind dereverb returns the input, and says so on
    stderr (restore, fetch), in the done line (--json), the status file (REAPER), the OSC done
    message and the daemon's log."""
    source = write_audio(tmp_path / "take.wav", clip, RATE)
    why = NO_ROOM
    blind = ("--task", "dereverb", "--rir", "blind")
    out = tmp_path / "restored.wav"
    result = run(cli_command, "restore", source, "-o", out, *blind, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"note: {out} is the input unchanged: {why}\n"
    np.testing.assert_array_equal(read_audio(out)[0], clip)

    status_file, out = tmp_path / "status.json", tmp_path / "via-daemon.wav"
    result = run(
        cli_command, "submit", source, *blind, "--job-id", "same-1", "-o", out, "--json",
        "--status-file", status_file, "--connection-file", daemon.connection,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done == {"event": "done", "job": "same-1", "outputs": [str(out)], "unchanged": why}
    assert json.loads(status_file.read_text())["unchanged"] == why
    assert "note:" not in result.stderr  # --json: the done line carries it
    assert f"job same-1 finished, its output the input unchanged: {why}" in daemon.log.read_text()
    messages = osc_listener.wait_for(lambda ms: "same-1" in done_jobs(ms))
    assert done_jobs(messages)["same-1"] == (str(daemon.journal / "exports" / "same-1.wav"), why)

    out = tmp_path / "fetched.wav"
    result = run(cli_command, "fetch", "same-1", "-o", out, "--connection-file", daemon.connection)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert result.stderr == f"note: {out} is the input unchanged: {why}\n"

    # waited for with no output file: the result stays on the daemon, and is still said
    status_file = tmp_path / "wait.json"
    wait = ("--wait", "--status-file", status_file, "--connection-file", daemon.connection)
    result = run(cli_command, "submit", source, *blind, "--job-id", "same-2", "--json", *wait)
    done = json.loads(result.stdout.splitlines()[-1])
    assert done == {"event": "done", "job": "same-2", "state": "finished", "unchanged": why}
    assert json.loads(status_file.read_text())["unchanged"] == why
    result = run(cli_command, "submit", source, *blind, "--job-id", "same-3", "--quiet", *wait)
    assert result.stderr == f"note: job same-3's result is the input unchanged: {why}\n"


def test_every_client_carries_the_notes_of_the_gaps_it_was_given(
    daemon, clip, tmp_path, cli_command
):
    """A gap 3 ms short of a dropout's edges (extended), one over a dropout on the left channel
    only (the right kept) and one over music (a warning): each said, in order, in the done line
    and the status file (what REAPER reads), and on stderr without --json."""
    damaged = clip.copy()
    damaged[:, int(0.2 * RATE) : int(0.25 * RATE)] = 0
    damaged[0, int(0.5 * RATE) : int(0.6 * RATE)] = 0
    source = write_audio(tmp_path / "take.wav", damaged, RATE)
    gaps = ("--task", "inpaint", "--gap", "0.203:0.247", "--gap", "0.5:0.6", "--gap", "0.8:0.81")
    extended, kept, music = (
        "gap 0.2030-0.2470 s extended to 0.2000-0.2500 s (3.0 ms earlier, 3.0 ms later)",
        "gap 0.5000-0.6000 s: channel(s) 1 of 2 dropped out and were filled; channel(s) 2 held",
        "gap 0.8000-0.8100 s held audio at",
    )

    def assert_told(notes: list[dict]) -> None:
        expected = [("note", extended), ("note", kept), ("warning", music)]
        assert [n["level"] for n in notes] == [level for level, _ in expected]
        assert all(n["text"].startswith(text) for n, (_, text) in zip(notes, expected, strict=True))

    status_file, out = tmp_path / "status.json", tmp_path / "out.wav"
    result = run(cli_command, "submit", source, *gaps, "--job-id", "notes-1", "-o", out, "--json",
                 "--status-file", status_file, "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert_told(done["notes"])
    assert json.loads(status_file.read_text())["notes"] == done["notes"]
    assert "note:" not in result.stderr and "warning:" not in result.stderr
    wait = ("--wait", "--status-file", status_file, "--connection-file", daemon.connection)
    result = run(cli_command, "submit", source, *gaps, "--job-id", "notes-2", "--json", *wait)
    assert json.loads(result.stdout.splitlines()[-1])["notes"] == done["notes"]
    assert json.loads(status_file.read_text())["notes"] == done["notes"]
    result = run(cli_command, "fetch", "notes-1", "-o", tmp_path / "fetched.wav", "--json",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert json.loads(result.stdout)["notes"] == done["notes"]
    result = run(cli_command, "restore", source, *gaps, "-o", tmp_path / "here.wav", "--json")
    assert json.loads(result.stdout.splitlines()[-1])["notes"] == done["notes"]
    result = run(cli_command, "restore", source, *gaps, "-o", tmp_path / "said.wav", "--quiet")
    assert result.stderr.splitlines() == [f"{n['level']}: {n['text']}" for n in done["notes"]]


def test_fetch_separation_into_a_folder(daemon, clip, tmp_path, cli_command):
    with daemon.client() as client:
        job = client.submit(clip, RATE, Separate(2), options=HPSS,
                            source={"name": "mix.flac", "file_dtype": "int24"})  # fmt: skip
        assert client.wait(job)["state"] == "finished"
    result = run(cli_command, "fetch", job, "-o", tmp_path / "stems", "--json",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    paths = [tmp_path / "stems" / f"mix_source{i}.flac" for i in (1, 2)]
    assert json.loads(result.stdout) == {
        "event": "done",
        "job": job,
        "outputs": list(map(str, paths)),
    }
    expected = restore(clip, RATE, Separate(2), options=HPSS).tracks
    for path, track in zip(paths, expected, strict=True):
        audio, info = read_audio(path)
        assert info.file_dtype == "int24"  # the submitter's sample format is kept
        np.testing.assert_allclose(audio, track, atol=2.0**-22)


def test_restore_connect_equals_in_process(daemon, clip, tmp_path, cli_command):
    source = write_audio(tmp_path / "in.wav", clip, RATE)
    out = tmp_path / "out.wav"
    result = run(cli_command, "restore", source, "-o", out, "--task", "phase-retrieval",
                 "--n-fft", "256", "--hop", "64", "--connect", "--quiet",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = restore(clip, RATE, PhaseRetrieval(256, 64)).audio
    np.testing.assert_array_equal(read_audio(out)[0], expected)


def test_daemon_not_running_fails_clearly(clip, tmp_path, cli_command):
    connection = tmp_path / "connection.json"
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_connection_file(connection, ConnectionInfo("127.0.0.1", 1, 2, "ab" * 32, pid=gone.pid))
    source = write_audio(tmp_path / "in.wav", clip, RATE)
    status_file = tmp_path / "status.json"
    env = {**os.environ, "DIFFMUSIC_CONNECTION": str(connection)}  # the documented variable
    result = subprocess.run(
        [*cli_command, "submit", source, "--task", "phase-retrieval", "--wait", "--json",
         "--status-file", str(status_file)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: daemon pid") and str(connection) in result.stderr
    assert "tcp://127.0.0.1:1" in result.stderr
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["event"] == "error" and str(connection) in line["message"]
    state = json.loads(status_file.read_text())
    assert state["state"] == "failed" and state["job"] is None and state["outputs"] == []
    assert str(connection) in state["error"] and "\n" not in state["error"]


def test_a_second_daemon_does_not_take_over_a_live_connection_file(daemon, tmp_path, cli_command):
    before = daemon.connection.read_text()
    result = run(cli_command, "serve", "--connection-file", daemon.connection,
                 "--journal", tmp_path / "other-journal")  # fmt: skip
    assert result.returncode == 1
    assert "already uses" in result.stderr and str(daemon.connection) in result.stderr
    assert daemon.connection.read_text() == before  # clients still reach the first daemon


def test_serve_refuses_unusable_osc_settings_before_writing_its_connection_file(
    tmp_path, cli_command
):
    """Each had left a connection file naming a daemon that never ran (the notifier was built
    after the sockets were bound), and --reaper-action alone was silently ignored."""
    connection = tmp_path / "c.json"
    cases = {
        ("--notify-osc", "nohost.invalid:9000"): "OSC target nohost.invalid:9000 is unusable",
        ("--notify-osc", "127.0.0.1:9000", "--reaper-action", "foo bar"): "REAPER action",
        ("--reaper-action", "40044"): "--reaper-action is sent to the --notify-osc targets",
    }
    for extra, message in cases.items():
        result = run(cli_command, "serve", "--connection-file", connection, "--journal",
                     tmp_path / "journal", *extra)  # fmt: skip
        assert result.returncode == 1 and message in result.stderr, (extra, result.stderr)
        assert not connection.exists(), extra


def test_a_connection_file_naming_another_program_s_pid_is_taken_over(tmp_path):
    """After a crash and a reboot the file's pid may belong to another program: serve had
    refused for good ("a daemon (pid N) already uses ...")."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = Daemon(tmp_path)
        ports = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)  # nothing there
        write_connection_file(stale.connection, ConnectionInfo("127.0.0.1", *ports, "00" * 32,
                                                               pid=other.pid))  # fmt: skip
        stale.start()
        try:
            with stale.client() as client:
                assert client.ping()
        finally:
            stale.stop()
    finally:
        other.kill()
        other.wait()


def test_a_status_file_that_is_the_input_or_the_output_is_refused_first(
    clip, tmp_path, cli_command
):
    """The status file is written first: named as the input it had replaced the audio with
    JSON; named as the output, the output was the JSON and the done line said all was well."""
    source = write_audio(tmp_path / "take.wav", clip, RATE)
    before = source.read_bytes()
    gap = ("--task", "inpaint", "--gap", "0.2:0.21")
    connection = tmp_path / "connection.json"  # a daemon's: it had been written over
    connection.write_text("{}")
    for status, out, what in ((source, None, "the input"), (tmp_path / "o.wav", "o", "the output"),
                              (connection, None, "the daemon's connection file")):  # fmt: skip
        output = ("-o", tmp_path / "o.wav") if out else ()
        result = run(cli_command, "submit", source, *gap, *output, "--status-file", status,
                     "--connection-file", connection)  # fmt: skip
        assert result.returncode == 1
        assert result.stderr == (f"error: --status-file {status} is {what}; give the status file "
                                 "a name of its own (e.g. job.status.json)\n")  # fmt: skip
    assert source.read_bytes() == before and not (tmp_path / "o.wav").exists()
    assert connection.read_text() == "{}"


def test_submit_and_fetch_say_when_an_integer_output_clips(daemon, tmp_path, cli_command):
    """A 0.8 tone's harmonic source is about 1.6 (+4.1 dBFS): written clipped to 16 bits and
    said, as restore says it (submit -o and fetch wrote it without a word)."""
    t = np.arange(RATE) / RATE
    source = tmp_path / "tone.wav"
    write_audio(source, np.stack([0.8 * np.sin(2 * np.pi * 220 * t)] * 2), RATE)
    import soundfile as sf

    sf.write(source, read_audio(source)[0].T, RATE, subtype="PCM_16")
    separate = ("--task", "separate", "--preset", "harmonic-percussive")
    result = run(cli_command, "submit", source, *separate, "-o", tmp_path / "a", "--quiet",
                 "--job-id", "loud-1", "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"warning: {tmp_path / 'a' / 'tone_source1.wav'}: the audio "
                                    "peaks at +4.")  # fmt: skip
    result = run(cli_command, "fetch", "loud-1", "-o", tmp_path / "b", "--quiet",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"warning: {tmp_path / 'b' / 'tone_source1.wav'}: the audio peaks at +4." in (
        result.stderr
    )


def test_the_osc_export_of_a_declick_job_is_the_restored_wav(daemon, clip, osc_listener):
    """Declick returns two tracks (the restoration, the removed clicks): its export was a
    folder, which a listener expecting a WAV cannot place."""
    from diffmusic_engine.damage import Declick, Gap

    damage = Declick(clicks=(Gap(0.3, 0.301),))
    with daemon.client() as client:
        job = client.submit(clip, RATE, damage, job_id="osc-declick")
        assert client.wait(job, timeout=60)["state"] == "finished"
    messages = osc_listener.wait_for(lambda ms: job in done_jobs(ms))
    (path, *_) = done_jobs(messages)[job]
    assert os.path.isabs(path) and path.endswith(f"{job}.wav")
    exported, _ = read_audio(path)
    np.testing.assert_array_equal(exported, restore(clip, RATE, damage).tracks[0])


def test_resubmitting_a_cancelled_job_s_id_says_it_will_not_run(
    daemon, clip, tmp_path, cli_command
):
    """The daemon answers the same id again with its state (a job id runs once): the CLI had
    printed the id, exit 0, and the status file said "queued" for a job that never runs."""
    source = write_audio(tmp_path / "take.wav", clip, RATE)
    preset = tmp_path / "slow.toml"
    preset.write_text('task = "phase-retrieval"\nn_fft = 256\nhop = 64\n'
                      "[options.dsp]\niterations = 10000\n")  # fmt: skip
    submit = ("submit", source, "--preset", preset, "--job-id", "again-1", "--connection-file",
              daemon.connection)  # fmt: skip
    assert run(cli_command, *submit).returncode == 0
    # --quiet drops the progress bar, not the job's one handle: a generated id had gone unsaid
    quiet = run(cli_command, *submit[:4], "--quiet", *submit[-2:])
    job = quiet.stdout.strip()
    assert quiet.returncode == 0 and job and job != "again-1", quiet.stderr
    with daemon.client() as client:
        for cancelled in ("again-1", job):
            client.cancel(cancelled)
            assert client.wait(cancelled, timeout=60)["state"] == "cancelled"
    status_file = tmp_path / "status.json"
    result = run(cli_command, *submit, "--status-file", status_file)
    message = "job again-1 was already cancelled; a job id runs once: submit with another"
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert json.loads(status_file.read_text())["state"] == "failed"


def test_models_lists_failed_loads_as_its_json_does(daemon, tmp_path, cli_command):
    """The table had said only "no models loaded" after a load failed (--json listed it)."""
    missing = tmp_path / "no-such-model"
    with daemon.client() as client, pytest.raises(ModelError):
        client.load_model(str(missing), wait=120)
    result = run(cli_command, "models", "--connection-file", daemon.connection)
    assert result.returncode == 0, result.stderr
    assert f"failed to load {missing}: " in result.stdout


def test_fetch_of_one_track_into_a_folder_names_the_folder(daemon, clip, tmp_path, cli_command):
    """It had said "cannot write a file without an extension"."""
    with daemon.client() as client:
        job = client.submit(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 2},
                            source={"name": "take.flac", "file_dtype": "int16"})  # fmt: skip
        assert client.wait(job, timeout=60)["state"] == "finished"
    result = run(cli_command, "fetch", job, "-o", tmp_path, "--connection-file", daemon.connection)
    assert result.returncode == 1
    assert result.stderr == (f"error: {tmp_path} is a folder; give a file name to write, e.g. "
                             f"{tmp_path / 'take_restored.flac'}\n")  # fmt: skip


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


def test_a_status_file_check_takes_a_folder_output():
    """ "-o ." (separate into this folder) had made the check raise ValueError (a traceback)."""
    from pathlib import Path

    from bridge.cli.daemon import check_status_file

    for output in (Path("."), Path("/")):
        args = argparse.Namespace(input=Path("a.wav"), output=output, status_file=Path("s.json"),
                                  connection_file=None)  # fmt: skip
        check_status_file(args)  # nothing to refuse


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
