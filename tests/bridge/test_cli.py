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
from bridge.notes import PHASE_REBUILT
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


def phase_submit(daemon, clip, tmp_path, job_id, iterations):
    """The arguments of a ``submit`` of ``clip`` for phase retrieval (``iterations`` of it) under
    ``--job-id job_id``."""
    source = write_audio(tmp_path / "take.wav", clip, RATE)
    preset = tmp_path / "pr.toml"
    preset.write_text('task = "phase-retrieval"\nn_fft = 256\nhop = 64\n'
                      f"[options.dsp]\niterations = {iterations}\n")  # fmt: skip
    return ("submit", source, "--preset", preset, "--job-id", job_id, "--connection-file",
            daemon.connection)  # fmt: skip


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
    told = [{"level": "note", "text": PHASE_REBUILT}]  # a rebuilt phase is always said
    assert lines[-1] == {"event": "done", "job": "cli-1", "outputs": [str(out)], "notes": told}
    progress = [line for line in lines if line["event"] == "progress"]
    assert all(set(p) == {"event", "job", "fraction", "step", "total"} for p in progress)
    assert [p["fraction"] for p in progress] == sorted(p["fraction"] for p in progress)
    assert json.loads(status_file.read_text()) == {
        "job": "cli-1", "state": "finished", "fraction": 1.0, "outputs": [str(out)], "error": None,
        "unchanged": None, "notes": told,
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


def test_python_m_bridge_cli_runs_the_diffmusic_command(tmp_path):
    """``python -m bridge.cli`` had said "'bridge.cli' is a package and cannot be directly
    executed" (a user trial): it runs the command, as the console script and ``-m bridge`` do."""
    missing = tmp_path / "missing.wav"
    command = [sys.executable, "-m", "bridge.cli", "diagnose", str(missing)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {missing}: no such file\n"


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


def test_submit_and_fetch_write_the_bit_depth_asked_for(daemon, tmp_path, cli_command):
    """--bit-depth at submit is what -o and a later fetch write; fetch's own wins over it."""
    import soundfile as sf

    t = np.arange(RATE) / RATE
    source = tmp_path / "tone.wav"
    sf.write(source, np.stack([0.8 * np.sin(2 * np.pi * 220 * t)] * 2).T, RATE, subtype="PCM_16")
    separate = ("--task", "separate", "--preset", "harmonic-percussive")
    result = run(cli_command, "submit", source, *separate, "-o", tmp_path / "a", "--quiet",
                 "--job-id", "deep-1", "--bit-depth", "32f",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert result.returncode == 0 and "warning" not in result.stderr  # float holds +4 dBFS
    assert sf.info(tmp_path / "a" / "tone_source1.wav").subtype == "FLOAT"
    for extra, subtype in (((), "FLOAT"), (("--bit-depth", "24"), "PCM_24")):
        out = tmp_path / f"b{len(extra)}"
        result = run(cli_command, "fetch", "deep-1", "-o", out, "--quiet", *extra,
                     "--connection-file", daemon.connection)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert sf.info(out / "tone_source1.wav").subtype == subtype
    mp3 = tmp_path / "c.mp3"  # an MP3 has no bit depth: refused, not dropped unsaid
    result = run(cli_command, "fetch", "deep-1", "-o", mp3, "--bit-depth", "24",
                 "--connection-file", daemon.connection)  # fmt: skip
    assert (result.returncode, result.stderr.splitlines()) == (1, [
        f"error: {mp3}: --bit-depth 24, but a .mp3 file has no bit depth (lossy coded: its decoder"
        " makes the samples); drop --bit-depth, or write a .flac or .wav to have 24-bit samples"
    ])  # fmt: skip


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
    submit = phase_submit(daemon, clip, tmp_path, "again-1", iterations=10000)
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


def test_resubmitting_an_id_says_it_is_that_job_not_run_again(daemon, clip, tmp_path, cli_command):
    """The daemon answers a job id it has, of the same request, with that job (the id is the
    idempotency key): the CLI had printed the id and said nothing, as if it had run again."""
    submit = phase_submit(daemon, clip, tmp_path, "twice-1", iterations=2)
    first = run(cli_command, *submit, "--wait", "--quiet")
    assert (first.returncode, first.stdout, first.stderr) == (
        0,
        "twice-1\n",
        f"note: {PHASE_REBUILT}\n",
    )
    with daemon.client() as client:
        job = client.status("twice-1")
    again = run(cli_command, *submit)
    assert (again.returncode, again.stdout) == (0, "twice-1\n")
    assert again.stderr == (
        "note: job twice-1 was already submitted with this request (finished): this is that job, "
        "not run again; another --job-id, or none, runs it anew; its result: diffmusic fetch "
        f"twice-1 -o OUT --connection-file {daemon.connection}\n"
    )
    as_json = run(cli_command, *submit, "--json")
    assert (as_json.returncode, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == {
        "event": "accepted", "job": "twice-1", "new": False, "state": "finished"
    }  # fmt: skip
    with daemon.client() as client:
        assert client.status("twice-1") == job  # not run again: its times and all as they were


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


def test_a_status_file_check_takes_a_folder_output():
    """ "-o ." (separate into this folder) had made the check raise ValueError (a traceback)."""
    from pathlib import Path

    from bridge.cli.daemon import check_status_file

    for output in (Path("."), Path("/")):
        args = argparse.Namespace(input=Path("a.wav"), output=output, status_file=Path("s.json"),
                                  connection_file=None)  # fmt: skip
        check_status_file(args)  # nothing to refuse
