"""What a new user met in the first hour (issue 14), each now one line naming the remedy."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from tqdm import tqdm

from bridge.batch.report import write_report
from bridge.cli import main
from bridge.cli.common import BAR_FORMAT
from diffmusic_engine.containers import CONTAINERS

SR = 22050


@pytest.fixture
def no_restore(monkeypatch):
    """Fail the test if a restoration starts (the output must be refused before)."""

    def refuse(*_, **__):
        raise AssertionError("restore ran before the output was checked")

    monkeypatch.setattr("diffmusic_engine.api.restore", refuse)


def error_lines(capsys) -> tuple[list[str], list[dict]]:
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return captured.err.strip().splitlines(), events


@pytest.mark.parametrize(
    ("name", "says"), [("out.xyz", "a .xyz file"), ("out_noext", "a file without")]
)
def test_restore_refuses_an_unwritable_output_before_restoring(
    clip, tmp_path, capsys, no_restore, name, says
):
    out = tmp_path / name
    argv = ["restore", str(clip), "-o", str(out), "--task", "super-resolution", "--cutoff", "4000"]
    assert main([*argv, "--json"]) == 1
    err, events = error_lines(capsys)
    assert len(err) == 1 and err[0].startswith(f"error: {out}: cannot write {says}")
    assert ".tmp" not in err[0] and f"({', '.join(CONTAINERS)})" in err[0]
    assert events == [{"event": "error", "message": err[0].removeprefix("error: ")}]
    assert list(tmp_path.iterdir()) == [clip]  # nothing written, not even a temporary file


@pytest.mark.parametrize("command", ["submit", "fetch"])
def test_client_commands_refuse_an_unwritable_output_before_the_daemon(
    clip, tmp_path, capsys, command
):
    missing = tmp_path / "no-daemon.json"  # no daemon: the output is refused first anyway
    first = ["submit", str(clip), "--task", "inpaint", "--gap", "0.4:0.5", "--wait"]
    argv = first if command == "submit" else ["fetch", "job-1"]
    argv += ["-o", str(tmp_path / "x.xyz"), "--connection-file", str(missing), "--json"]
    assert main(argv) == 1
    err, events = error_lines(capsys)
    assert err == [f"error: {tmp_path / 'x.xyz'}: cannot write a .xyz file; give the output an "
                   f"audio extension ({', '.join(CONTAINERS)})"]  # fmt: skip
    assert events[-1]["event"] == "error"


def test_inpaint_without_a_gap_names_the_flag(clip, tmp_path, capsys):
    assert main(["restore", str(clip), "-o", str(tmp_path / "o.wav"), "--task", "inpaint"]) == 1
    err, _ = error_lines(capsys)
    assert err == ["error: inpaint needs --gap START:END|auto (or the field 'gaps' in a preset)"]


def test_degrade_dereverb_needs_a_room_file(clip, tmp_path, capsys):
    argv = ["degrade", str(clip), "-o", str(tmp_path / "o.wav"), "--task", "dereverb"]
    assert main([*argv, "--rir", "blind"]) == 1
    err, _ = error_lines(capsys)
    assert len(err) == 1 and "degrade --task dereverb needs --rir FILE" in err[0]


def test_degrade_phase_retrieval_says_its_file_cannot_be_restored(clip, tmp_path, capsys):
    out = tmp_path / "phaseless.wav"
    assert main(["degrade", str(clip), "-o", str(out), "--task", "phase-retrieval"]) == 0
    err, _ = error_lines(capsys)
    assert err == [f"note: {out} holds the clean STFT magnitude under random phases; read back "
                   f"as audio, its magnitude is smeared by them and no longer the clean one, so "
                   f"restoring it cannot bring {clip} back: phase retrieval is scored on the "
                   f"clean file's own magnitude (diffmusic restore {clip} --task "
                   f"phase-retrieval, then eval --reference {clip})"]  # fmt: skip
    # what the note says: read back, the file's STFT magnitude is far from the clean's
    from diffmusic_engine.metrics import spectral_convergence

    assert spectral_convergence(sf.read(clip)[0].T, sf.read(out)[0].T) > 0.3


def test_degrade_that_would_clip_offers_normalize(clip, tmp_path, capsys):
    room = tmp_path / "room.wav"
    # an echo one 330 Hz period later, 4x louder: peaks add to 0.3 * 5 = 1.5
    sf.write(room, np.r_[1.0, np.zeros(round(SR / 330) - 1), 4.0], SR, subtype="FLOAT")
    out = tmp_path / "wet.wav"
    argv = ["degrade", str(clip), "-o", str(out), "--task", "dereverb", "--rir", str(room)]
    assert main(argv) == 1
    err, _ = error_lines(capsys)
    assert len(err) == 1 and "16-bit samples .wav holds (they clip); pass --normalize" in err[0]
    assert not out.exists()
    assert main([*argv, "--bit-depth", "32f"]) == 0  # float keeps the peaks over full scale
    assert sf.info(out).subtype == "FLOAT" and np.abs(sf.read(out)[0]).max() > 1.4
    assert main([*argv, "--normalize", "--json"]) == 0
    _, events = error_lines(capsys)
    wet, _ = sf.read(out)
    assert 0.98 < np.max(np.abs(wet)) <= 0.99 + 2**-15
    assert 0 < events[-1]["gain"] < 1


def test_eval_into_a_closed_pipe_ends_quietly(clip, cli_command):
    """``diffmusic eval ... | head -1``: the reader leaves; no BrokenPipeError traceback."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader has already gone: every write fails with EPIPE
    argv = [*cli_command, "eval", "--reference", str(clip), "--estimate", str(clip)]
    done = subprocess.run(argv, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == 141


def test_ping_without_a_connection_file_names_the_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DIFFMUSIC_CONNECTION", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["ping"]) == 1
    err, _ = error_lines(capsys)
    assert len(err) == 1 and "start it with diffmusic serve" in err[0]
    assert "--connection-file PATH" in err[0] and "DIFFMUSIC_CONNECTION=PATH" in err[0]


def test_progress_bar_shows_percent_and_time_without_a_rate():
    line = tqdm.format_meter(500, 1000, 2.0, prefix="restore", bar_format=BAR_FORMAT, ncols=80)
    assert "50%" in line and "00:02<00:02" in line and "/s" not in line and "‰" not in line


def test_progress_bars_stay_off_a_stderr_redirected_to_a_log(monkeypatch):
    """A bar's carriage returns and cursor moves are noise in a log (``2> log.txt``): a
    restore's bar (shown after 1 s) and a batch's bars are drawn on a terminal only."""
    from bridge.batch.progress import BatchProgress
    from bridge.cli.common import progress_reporter
    from diffmusic_engine.progress import Progress

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    with progress_reporter(argparse.Namespace(quiet=False, json=False), "restore") as callback:
        callback(Progress(1, 10))
        time.sleep(1.1)  # past the bar's 1 s delay
        callback(Progress(5, 10))
    batch = BatchProgress(2)
    batch.handle(("progress", 0, "a.wav", 10, 100))
    batch.close()
    assert log.getvalue() == ""


def test_json_progress_never_repeats_a_line_nor_runs_back(tmp_path, capsys):
    """A declip printed 181 of its 319 progress lines twice; a declick's fraction ran to 0.75
    detecting, then back to 0 repairing. Each line is new, and the fraction only rises."""
    from diffmusic_engine.api import degrade
    from diffmusic_engine.damage import Declick
    from diffmusic_engine.synth import music_excerpt

    music = music_excerpt(2.0, 44100, 2, seed=2)
    hot, clicked = tmp_path / "hot.wav", tmp_path / "clicked.wav"
    sf.write(hot, np.clip(music, -0.2, 0.2).T, 44100, subtype="FLOAT")
    sf.write(clicked, degrade(music, 44100, Declick(rate=10.0, seed=1)).T, 44100, subtype="FLOAT")
    for source, task in (
        (hot, ["--task", "declip", "--level", "auto"]),
        (clicked, ["--task", "declick"]),
    ):
        argv = ["restore", str(source), "-o", str(tmp_path / "out.wav"), *task, "--json"]
        assert main(argv) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        progress = [(line["fraction"], line["step"], line["total"], line["stage"])
                    for line in lines if line["event"] == "progress"]  # fmt: skip
        assert len(progress) > 2 and all(
            a != b for a, b in zip(progress[:-1], progress[1:], strict=True)
        )
        fractions = [p[0] for p in progress]
        assert fractions == sorted(fractions), task


def test_batch_reports_honour_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        report = write_report(tmp_path / "report.json", [], {})
    finally:
        os.umask(previous)
    assert report.stat().st_mode & 0o777 == 0o640  # as restore's outputs, not mkstemp's 0600
