"""``--resume`` after a real interruption (SIGKILL mid-batch) does no finished file twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import write

from bridge.batch.inputs import plan_items
from bridge.batch.manifest import MANIFEST_NAME, Manifest
from bridge.batch.report import FAILED, REPORTED
from bridge.cli import main
from diffmusic_engine.audio import read_audio
from diffmusic_engine.errors import InputError
from diffmusic_engine.synth import music_excerpt

CHAIN = """
[[steps]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 30

[[steps]]
restore = "super-resolution"
cutoff = 8000
chunk_seconds = 5.0
overlap_seconds = 0.5

[[steps]]
plugin = "Gain"
gain_db = -1.0
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inputs = tmp_path / "inputs"
    excerpt = music_excerpt(1.0, 44100, 2, seed=2)
    write(inputs / "a.wav", excerpt[:, :22050], 44100, 16)
    write(inputs / "b.wav", np.tile(excerpt, 12), 44100, 16)  # 12 s: still running when killed
    write(inputs / "c.wav", excerpt, 44100, 16)
    (tmp_path / "chain.toml").write_text(CHAIN)
    return inputs


@pytest.mark.slow  # worker processes / a subprocess: several seconds
def test_resume_after_kill_does_no_finished_file_twice(folder: Path, cli_command) -> None:
    outdir, chain = folder.parent / "out", folder.parent / "chain.toml"
    command = [*cli_command, "batch", str(folder), "-o", str(outdir), "--chain", str(chain),
               "--json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # kill -9 as soon as the first file is reported done
            event = json.loads(line)
            if event["event"] == "file":
                assert Path(event["input"]).name == "a.wav" and event["status"] == "done"
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    # the interrupted run finished a.wav only; b.wav was being written
    manifest = json.loads((outdir / MANIFEST_NAME).read_text())
    assert [Path(k).name for k in manifest["files"]] == ["a.wav"]
    assert not (outdir / "b.wav").exists() and not (outdir / "batch-report.json").exists()
    first = (outdir / "a.wav").stat()
    # an output that looks finished but is not in the manifest (e.g. copied in) is redone
    (outdir / "c.wav").write_bytes(b"not a finished render")

    code = main(command[len(cli_command) :] + ["--resume", "--quiet"])
    assert code == 0
    report = json.loads((outdir / "batch-report.json").read_text())
    statuses = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert statuses == {"a.wav": "skipped", "b.wav": "done", "c.wav": "done"}
    (a,) = (f for f in report["files"] if Path(f["input"]).name == "a.wav")
    assert a["duration"] > 0 and a["sample_rate"] == 44100  # what the killed run's render said
    again = (outdir / "a.wav").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # untouched
    assert not list(outdir.glob(".*.partial*"))  # the half-written temp was cleaned away
    for name, seconds in (("b.wav", 12.0), ("c.wav", 1.0)):
        audio, info = read_audio(outdir / name)
        assert info.frames == round(seconds * 44100) and np.abs(audio).max() > 0.05

    # a second resume has nothing left to do, and says of each file what its run said (the
    # skipped files' duration, rate, channels and note had been null)
    done = {Path(f["input"]).name: f for f in report["files"] if f["status"] == "done"}
    assert main(command[len(cli_command) :] + ["--resume", "--quiet"]) == 0
    report = json.loads((outdir / "batch-report.json").read_text())
    assert {f["status"] for f in report["files"]} == {"skipped"}
    for skipped in report["files"]:
        if Path(skipped["input"]).name in done:
            said = done[Path(skipped["input"]).name]
            assert skipped["duration"] == said["duration"] > 0
            assert [skipped[k] for k in REPORTED] == [said[k] for k in REPORTED]


def test_manifest_entry_goes_stale(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "x.wav", np.zeros((1, 100), np.float32) + 0.1, 8000)
    (item,) = plan_items([source], tmp_path / "out")
    write(item.output, np.zeros((1, 100), np.float32), 8000)
    manifest = Manifest(tmp_path / "out")
    assert not manifest.finished(item, "chain1")
    manifest.record(item, "chain1", {"duration": 0.0125, "note": None})
    assert Manifest(tmp_path / "out").finished(item, "chain1")  # read back from disk
    assert Manifest(tmp_path / "out").reported(item) == {"duration": 0.0125, "note": None}
    assert not manifest.finished(item, "chain2")  # another chain
    os.utime(source, ns=(1, 1))
    assert not manifest.finished(item, "chain1")  # the input changed
    manifest.record(item, "chain1", {"duration": 0.0125, "note": None})
    item.output.write_bytes(item.output.read_bytes()[:-10])
    assert not manifest.finished(item, "chain1")  # the output was truncated


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # worker processes / a subprocess: several seconds
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_sigterm_stops_the_workers_and_leaves_no_partial_file(folder: Path, cli_command) -> None:
    """SIGTERM to the batch alone (a scheduler stopping it) had ended the main process only:
    its workers, reparented, rendered on and renamed outputs in after the batch had ended.
    Four files for two workers: two rendering, one handed on to a worker (running, to the
    pool) and one still waiting, whose future the interrupt had cancelled; the killed workers
    then broke the pool, and Python 3.11's pool thread printed a traceback (InvalidStateError
    on that cancelled future) above the one error line. No future is cancelled now."""
    outdir, chain = folder.parent / "out", folder.parent / "chain.toml"
    names = ("b.wav", "d.wav", "e.wav", "f.wav")
    for name in names:  # long files: none ends before the signal
        write(folder / name, np.tile(music_excerpt(1.0, 44100, 2, seed=2), 40), 44100, 16)
    command = [*cli_command, "batch", *(str(folder / name) for name in names), "-o",
               str(outdir), "--chain", str(chain), "--jobs", "2", "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        while len(list(outdir.glob(".*.partial*"))) < 2:  # both workers are writing
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        workers = {w for child in _children(process.pid) for w in _children(child)}
        assert len(workers) >= 2, workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 130
    finally:
        process.kill()
        process.wait()
    report = outdir / "batch-report.json"
    assert process.stderr.read() == (  # the one line, nothing above it
        f"error: interrupted: 0 of 4 file(s) written to {outdir} and kept, none half-written "
        f"(report: {report}); the same command with --resume renders the rest\n"
    )
    assert not [pid for pid in workers if _alive(pid)]
    assert not list(outdir.glob(".*.partial*")) and not list(outdir.glob("*.wav"))
    written = json.loads(report.read_text())  # the folder is a batch's output, said so
    assert (written["interrupted"], written["not_rendered"], written["files"]) == (True, 4, [])


def test_an_interrupt_says_how_many_outputs_it_kept(folder: Path, monkeypatch, capsys) -> None:
    """The interrupt's line counts the outputs there to keep: those written and those an earlier
    run finished (skipped with --resume), not a failed file's; 0 of 2 alone (the SIGTERM test)
    could not tell."""
    import bridge.batch
    from bridge.batch.report import DONE, FAILED, SKIPPED, FileResult

    def interrupted(items, chain, outdir, *, on_result, **_) -> None:
        for item, status in zip(items, (SKIPPED, DONE, FAILED), strict=True):
            on_result(FileResult(str(item.source), str(outdir / "x.wav"), status))
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.batch, "run_batch", interrupted)
    outdir = folder.parent / "out"
    argv = ["batch", str(folder), "-o", str(outdir), "--chain", str(folder.parent / "chain.toml")]
    assert main([*argv, "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == (
        f"error: interrupted: 2 of 3 file(s) written to {outdir} and kept, none half-written; "
        "the same command with --resume renders the rest"
    )  # no folder made (the real batch makes it first): no report said


def test_an_interrupted_run_replaces_the_earlier_runs_report(folder: Path, monkeypatch) -> None:
    """An interrupt had left the earlier run's report in place: another chain's, its files'
    lengths those of outputs since rendered anew. Now the report is this run's: the files
    that ended, in the inputs' order, and how many were not rendered."""
    import bridge.batch
    from bridge.batch.report import DONE, FAILED, FileResult

    def interrupted(items, chain, outdir, *, on_result, **_) -> None:
        on_result(FileResult(str(items[2].source), str(outdir / "c.wav"), FAILED, error="bad"))
        on_result(FileResult(str(items[0].source), str(outdir / "a.wav"), DONE, duration=0.5))
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.batch, "run_batch", interrupted)
    outdir, chain = folder.parent / "out", folder.parent / "chain.toml"
    outdir.mkdir()
    (outdir / "batch-report.json").write_text('{"chain": "earlier.toml", "files": []}')
    assert main(["batch", str(folder), "-o", str(outdir), "--chain", str(chain), "-q"]) == 130
    report = json.loads((outdir / "batch-report.json").read_text())
    assert (report["chain"], report["interrupted"], report["not_rendered"]) == (str(chain), True, 1)
    assert [(f["input"], f["status"]) for f in report["files"]] == [
        (str(folder / "a.wav"), DONE), (str(folder / "c.wav"), FAILED)
    ]  # fmt: skip
    assert report["summary"]["done"] == 1 and report["summary"]["failed"] == 1


def _kernel_interrupted():
    """What an interrupt landing in librosa.lpc's numba kernel raises (measured: 37 of 45
    SIGINTs into a loop of ``ar.burg``): the handler runs in numba's ``_numba_unpickle``
    callback while the kernel's result is boxed, and the dispatcher returns the result with
    the KeyboardInterrupt set."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        message = "CPUDispatcher(<function __lpc>) returned a result with an exception set"
        raise SystemError(message) from exc


def _read_interrupted():
    """The same, where a reader's ``except Exception`` names it a bad file (``from None``,
    as ``AudioReader`` does): the interrupt is still behind it, in ``__context__``."""
    try:
        _kernel_interrupted()
    except SystemError as exc:
        raise InputError(f"x.wav: cannot read audio ({exc}); convert it") from None


@pytest.mark.parametrize("failure", [_kernel_interrupted, _read_interrupted])
def test_an_interrupt_behind_an_error_stops_the_batch(folder: Path, monkeypatch, failure) -> None:
    """Ctrl-C landing in a numba kernel came out of it as a SystemError caused by the
    KeyboardInterrupt: the file was reported failed with that line and the batch went on to
    the next (user trial, session 47). Now it stops there, a DiffMusicError over it too."""
    import bridge.batch.runner as runner
    from bridge.batch import load_chain

    rendered = []

    def render(source, *args, **kwargs):
        rendered.append(source.name)
        failure()

    monkeypatch.setattr(runner, "render_file", render)
    outdir = folder.parent / "out"
    items = plan_items([folder], outdir)
    with pytest.raises(KeyboardInterrupt):
        runner.run_batch(items, load_chain(folder.parent / "chain.toml"), outdir)
    assert rendered == ["a.wav"]  # the first file only, none after it


def test_an_error_with_no_interrupt_behind_it_fails_that_file_alone(folder: Path, monkeypatch):
    """A real SystemError (a backend bug) is no interrupt: each file fails with its line and
    the batch goes on."""
    import bridge.batch.runner as runner
    from bridge.batch import load_chain

    def render(source, *args, **kwargs):
        try:
            raise ValueError("inner")
        except ValueError as exc:
            raise SystemError(f"{source.name}: bad kernel") from exc

    monkeypatch.setattr(runner, "render_file", render)
    outdir = folder.parent / "out"
    chain = load_chain(folder.parent / "chain.toml")
    try:
        results = runner.run_batch(plan_items([folder], outdir), chain, outdir)
    except KeyboardInterrupt:  # would stop pytest itself: say it as this test's failure
        pytest.fail("an error with no interrupt behind it stopped the batch")
    assert [(Path(r.input).name, r.status, r.error) for r in results] == [
        (name, FAILED, f"SystemError: {name}: bad kernel") for name in ("a.wav", "b.wav", "c.wav")
    ]


def test_an_interrupted_run_writes_a_report_given_in_a_folder_of_its_own(
    folder: Path, monkeypatch, capsys
) -> None:
    """--report in a folder not made yet: the finished run makes it; the interrupted one had
    written no report there (it asked whether the report's folder was there), and said none."""
    import bridge.batch
    from bridge.batch.report import DONE, FileResult

    def interrupted(items, chain, outdir, *, on_result, **_) -> None:
        outdir.mkdir()  # the first output's write makes the folder
        on_result(FileResult(str(items[0].source), str(outdir / "a.wav"), DONE, duration=0.5))
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.batch, "run_batch", interrupted)
    outdir, report = folder.parent / "out", folder.parent / "reports" / "run.csv"
    argv = ["batch", str(folder), "-o", str(outdir), "--chain", str(folder.parent / "chain.toml")]
    assert main([*argv, "--report", str(report), "-q"]) == 130
    assert capsys.readouterr().err.strip() == (
        f"error: interrupted: 1 of 3 file(s) written to {outdir} and kept, none half-written "
        f"(report: {report}); the same command with --resume renders the rest"
    )
    rows = report.read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{folder / 'a.wav'},{outdir / 'a.wav'},done,0.5")


def test_an_interrupt_a_callback_dropped_stops_the_batch_at_that_files_end(
    folder: Path, monkeypatch, capsys
) -> None:
    """Ctrl-C landing in a callback that C code makes (llvmlite's object-cache notice while
    numba compiles: "Exception ignored on calling ctypes callback function") is dropped there:
    the batch rendered every file and exited 0. Now the interrupt is noted when it comes and
    the batch stops when that file ends."""
    import bridge.batch.runner as runner

    rendered = []

    def render(source, *args, **kwargs):
        rendered.append(source.name)
        try:
            signal.raise_signal(signal.SIGINT)  # the batch's handler runs here...
        except KeyboardInterrupt:
            pass  # ...and the callback drops what it raised
        raise InputError(f"{source}: the render went on")

    monkeypatch.setattr(runner, "render_file", render)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's batch
    try:
        outdir = folder.parent / "out"
        argv = [
            "batch",
            str(folder),
            "-o",
            str(outdir),
            "--chain",
            str(folder.parent / "chain.toml"),
        ]
        assert main([*argv, "-q"]) == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        signal.signal(signal.SIGINT, before)
    assert rendered == ["a.wav"]
    assert capsys.readouterr().err.startswith("error: interrupted: 0 of 3 file(s) written")
