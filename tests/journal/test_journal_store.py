"""The journal's contract: durability, idempotency, ordering, recovery, results and expiry."""

from __future__ import annotations

import io
import queue
import sqlite3
import threading

import numpy as np
import pytest
from journal_helpers import job_audio, same_bits

from bridge.journal import JobConflict, JobState, Journal, UnknownJob
from diffmusic_engine.errors import DiffMusicError, InputError

REQUEST = {"task": "inpaint", "gaps": [[1.0, 0.1]], "backend": "dsp", "options": {"steps": 4}}


def blob_files(directory):
    blobs = directory / "blobs"
    return sorted(p.relative_to(blobs) for p in blobs.rglob("*") if p.is_file())


def blob_folders(journal):
    """{job id: blob folder} as the journal's database records them."""
    raw = sqlite3.connect(journal.directory / "journal.sqlite3")
    try:
        rows = raw.execute("SELECT job_id, blob_dir FROM jobs").fetchall()
    finally:
        raw.close()
    return {job: journal.directory / "blobs" / folder for job, folder in rows}


def test_submit_is_durable_across_reopen(tmp_path, clock):
    audio = job_audio(1)
    with Journal(tmp_path / "j", clock=clock) as journal:
        record, created = journal.submit("job-1", REQUEST, {"audio": audio}, priority=3)
    assert created
    assert record.state is JobState.QUEUED and record.attempts == 0
    with Journal(tmp_path / "j", clock=clock) as journal:
        again = journal.get("job-1")
        stored = journal.inputs("job-1")
    assert again == record
    assert again.request == REQUEST and again.priority == 3 and again.created == clock.now
    assert list(stored) == ["audio"]
    assert same_bits(stored["audio"], audio)


def test_inputs_are_stored_as_float32(journal):
    journal.submit("j", REQUEST, {"a": job_audio(2).astype(np.float64)})
    assert same_bits(journal.inputs("j")["a"], job_audio(2))
    with pytest.raises(InputError, match="float32"):
        journal.submit("k", REQUEST, {"a": np.zeros((2, 10), dtype=np.int16)})
    with pytest.raises(InputError, match="JSON"):
        journal.submit("k", {"x": object()}, {"a": job_audio(3)})
    with pytest.raises(InputError, match="job id"):
        journal.submit("", REQUEST, {})
    with pytest.raises(InputError, match="priority"):
        journal.submit("k", REQUEST, {}, priority=1.5)
    assert journal.get("k") is None


@pytest.mark.parametrize("shape", [(7,), (2, 4801), (3, 2, 999)])
def test_staged_inputs_become_exactly_the_files_np_save_writes(journal, shape):
    audio = job_audio(5, 1, int(np.prod(shape))).reshape(shape)
    staged = journal.stage([memoryview(audio).cast("B")])  # raw bytes, as a frame brings them
    record, created = journal.submit("s", REQUEST, {"audio": audio}, staged=staged)
    assert created and record.state is JobState.QUEUED
    (stored,) = blob_folders(journal)["s"].iterdir()
    expected = io.BytesIO()
    np.save(expected, audio, allow_pickle=False)
    assert stored.name.endswith(".npy") and stored.read_bytes() == expected.getvalue()
    assert same_bits(journal.inputs("s")["audio"], audio)


def test_staged_bytes_that_become_no_job_are_deleted(journal):
    audio = job_audio(6)
    journal.stage([audio.tobytes()]).discard()  # a message that failed its checks
    # staged bytes that are not the checked inputs are not used: the inputs are written anew
    wrong = journal.stage([audio[:, :-1].tobytes()])
    journal.submit("a", REQUEST, {"audio": audio}, staged=wrong)
    journal.submit("a", REQUEST, {"audio": audio}, staged=journal.stage([audio.tobytes()]))
    journal.close()  # waits for the staging thread
    folders = {p.name for p in (journal.directory / "blobs").iterdir()}
    assert folders == {blob_folders(journal)["a"].name}
    with Journal(journal.directory) as reopened:
        assert same_bits(reopened.inputs("a")["audio"], audio)


def test_resubmitting_the_same_job_returns_the_existing_record(journal, clock):
    first, created = journal.submit("job-1", REQUEST, {"audio": job_audio(1)})
    files = blob_files(journal.directory)
    clock.advance(5.0)
    # A retry: same id, same request (other key order, a tuple for a list), same audio.
    # The file it came from is not the job (a REAPER retry renders the item to a fresh file).
    retry = {"options": {"steps": 4}, "backend": "dsp", "gaps": [(1.0, 0.1)], "task": "inpaint",
             "source": {"name": "take-2.wav", "path": "/elsewhere/take-2.wav"}}  # fmt: skip
    again, created_again = journal.submit("job-1", retry, {"audio": job_audio(1)})
    assert created and not created_again
    assert again == first and again.created == first.created
    assert len(journal.list()) == 1
    assert blob_files(journal.directory) == files  # nothing new stored


def test_same_id_with_another_request_or_audio_is_a_conflict(journal):
    journal.submit("job-1", REQUEST, {"audio": job_audio(1)})
    with pytest.raises(JobConflict, match="job-1.*different request"):
        journal.submit("job-1", {**REQUEST, "backend": "diffusion"}, {"audio": job_audio(1)})
    with pytest.raises(JobConflict, match="job-1.*different input audio"):
        journal.submit("job-1", REQUEST, {"audio": job_audio(2)})
    with pytest.raises(JobConflict):
        journal.submit("job-1", REQUEST, {"other": job_audio(1)})
    assert same_bits(journal.inputs("job-1")["audio"], job_audio(1))
    assert len(journal.list()) == 1


def test_concurrent_submits_of_one_id_create_one_job(journal):
    results, errors = [], []

    def submit() -> None:
        try:
            results.append(journal.submit("same", REQUEST, {"audio": job_audio(5)})[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(results) == [False, False, False, True]
    assert len(journal.list()) == 1
    assert len(blob_files(journal.directory)) == 1  # the losers' blobs were removed


def test_recovery_order_is_priority_then_age(journal, clock):
    """The order a restarted daemon queues jobs in (the live queue is worker.JobQueue)."""
    for job, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)]:
        journal.submit(job, REQUEST, {"x": job_audio(0, samples=8)}, priority=priority)
    assert journal.mark_running("c")  # interrupted by a stop: queued again, in its place
    assert [r.job_id for r in journal.recover().queued] == ["b", "d", "a", "c", "e"]


def test_state_changes(journal):
    for job in "abc":
        journal.submit(job, REQUEST, {"x": job_audio(0, samples=8)})
    assert journal.mark_running("a") and not journal.mark_running("a")
    assert journal.cancel("b") and not journal.cancel("b")
    assert not journal.mark_running("b")  # a cancelled job never starts
    journal.fail("a", "model\nnot found")
    assert journal.get("a").state is JobState.FAILED
    assert journal.get("a").error == "model not found"
    assert not journal.cancel("a") and not journal.cancel("nope")
    with pytest.raises(UnknownJob, match="nope"):
        journal.inputs("nope")
    with pytest.raises(UnknownJob):
        journal.mark_running("nope")
    assert {r.job_id for r in journal.list([JobState.QUEUED])} == {"c"}


def test_finish_round_trip_and_results_after_reopen(tmp_path, clock):
    outputs = [job_audio(10), job_audio(11, channels=1)]
    with Journal(tmp_path / "j", clock=clock) as journal:
        journal.submit("job", REQUEST, {"audio": job_audio(1)})
        journal.mark_running("job")
        journal.progress("job", 3, 12)
        running = journal.get("job")
        assert (running.step, running.total, running.fraction) == (3, 12, 0.25)
        clock.advance(2.0)
        journal.finish("job", outputs, {"lsd": np.float32(0.5), "steps": 12})
        done = journal.get("job")
    assert done.state is JobState.FINISHED and done.fraction == 1.0 and done.n_outputs == 2
    assert done.details == {"lsd": 0.5, "steps": 12} and done.updated == clock.now
    with Journal(tmp_path / "j", clock=clock) as journal:
        assert journal.get("job") == done
        stored = journal.outputs("job")
        assert journal.recover().queued == []  # nothing to resume
    assert len(stored) == 2 and all(map(same_bits, stored, outputs))


def test_finish_after_cancel_keeps_the_cancel_and_stores_nothing(journal):
    journal.submit("job", REQUEST, {"audio": job_audio(1)})
    journal.mark_running("job")
    files = blob_files(journal.directory)
    assert journal.cancel("job")
    journal.finish("job", [job_audio(2)], {})
    assert journal.get("job").state is JobState.CANCELLED
    assert journal.outputs("job") == []
    assert blob_files(journal.directory) == files


def test_recover_requeues_interrupted_jobs(tmp_path, clock):
    directory = tmp_path / "j"
    with Journal(directory, clock=clock) as journal:
        for job, priority in [("low", 0), ("run", 0), ("high", 9), ("done", 0)]:
            journal.submit(job, REQUEST, {"x": job_audio(0, samples=8)}, priority=priority)
        journal.mark_running("run")
        journal.progress("run", 5, 10)
        journal.mark_running("done")
        journal.finish("done", [job_audio(4)], {})
    # The "daemon" stopped while "run" was running.
    with Journal(directory, clock=clock) as journal:
        assert journal.get("run").state is JobState.RUNNING
        resumed = journal.recover().queued
        assert [r.job_id for r in resumed] == ["high", "low", "run"]
        run = journal.get("run")
        assert run.state is JobState.QUEUED and run.attempts == 1 and run.fraction == 0.0
        assert journal.get("done").state is JobState.FINISHED
        assert same_bits(journal.outputs("done")[0], job_audio(4))


def test_recover_gives_up_on_a_job_that_keeps_killing_the_daemon(tmp_path):
    with Journal(tmp_path / "j", max_attempts=2) as journal:
        journal.submit("poison", REQUEST, {"x": job_audio(0, samples=8)})
        for attempt in (1, 2):
            journal.mark_running("poison")
            assert [r.job_id for r in journal.recover().queued] == ["poison"]
            assert journal.get("poison").attempts == attempt
        journal.mark_running("poison")
        assert journal.recover().queued == []
        record = journal.get("poison")
    assert record.state is JobState.FAILED and "interrupted 3 times" in record.error


def test_requeue_after_a_clean_stop_counts_no_attempt_and_touches_only_running_jobs(tmp_path):
    with Journal(tmp_path / "j", max_attempts=1) as journal:
        journal.submit("run", REQUEST, {"x": job_audio(0, samples=8)})
        journal.submit("wait", REQUEST, {"x": job_audio(1, samples=8)})
        assert not journal.requeue("wait")  # queued, not running: nothing to do
        for _ in range(3):  # more clean stops than max_attempts allows crashes
            journal.mark_running("run")
            journal.progress("run", 5, 10)
            assert journal.requeue("run")
            assert [r.job_id for r in journal.recover().queued] == ["run", "wait"]
        record = journal.get("run")
    assert record.state is JobState.QUEUED and record.attempts == 0 and record.step == 0


def test_recover_cancels_jobs_whose_cancel_was_requested_instead_of_resuming_them(tmp_path, clock):
    directory = tmp_path / "j"
    with Journal(directory, clock=clock) as journal:
        for job in ("running", "starting", "resumed", "done"):
            journal.submit(job, REQUEST, {"x": job_audio(0, samples=8)})
        for job in ("running", "resumed", "done"):
            journal.mark_running(job)
        journal.finish("done", [job_audio(4)], {})
        clock.advance(5.0)
        assert journal.request_cancel("running")  # the worker has not stopped it yet
        assert journal.request_cancel("starting")  # taken by a worker, not yet marked running
        assert not journal.request_cancel("done") and not journal.request_cancel("nope")
        assert journal.get("running").state is JobState.RUNNING  # only asked, not done
    # The daemon was killed before the jobs saw their cancel.
    clock.advance(5.0)
    with Journal(directory, clock=clock) as journal:
        recovery = journal.recover()
        assert [r.job_id for r in recovery.queued] == ["resumed"]
        assert [r.job_id for r in recovery.cancelled] == ["running", "starting"]
        for record in recovery.cancelled:
            assert record == journal.get(record.job_id)
            assert record.state is JobState.CANCELLED and record.attempts == 0
            assert record.updated == clock.now
        assert journal.get("done").state is JobState.FINISHED
        assert journal.recover().cancelled == []  # reported once


def test_a_version_1_journal_is_upgraded_in_place(tmp_path):
    directory = tmp_path / "j"
    with Journal(directory) as journal:
        journal.submit("job", REQUEST, {"x": job_audio(0, samples=8)})
        journal.mark_running("job")
    raw = sqlite3.connect(directory / "journal.sqlite3")  # as the version 1 daemon left it
    raw.execute("ALTER TABLE jobs DROP COLUMN cancel_requested")
    raw.execute("PRAGMA user_version=1")
    raw.close()
    with Journal(directory) as journal:
        assert journal.get("job").state is JobState.RUNNING
        assert journal.request_cancel("job")
        assert [r.job_id for r in journal.recover().cancelled] == ["job"]
    raw = sqlite3.connect(directory / "journal.sqlite3")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 2
    raw.execute("PRAGMA user_version=3")  # written by a newer daemon
    raw.close()
    with pytest.raises(DiffMusicError, match="schema version 3; this daemon reads versions 1 to 2"):
        Journal(directory)


def test_progress_is_throttled_but_readers_see_it_live(tmp_path):
    with Journal(tmp_path / "j", progress_interval=3600.0) as journal:
        journal.submit("job", REQUEST, {"x": job_audio(0, samples=8)})
        journal.mark_running("job")
        changes = journal._records._db.total_changes
        for step in range(1, 1001):
            journal.progress("job", step, 1000)
        assert journal._records._db.total_changes == changes  # throttled: no database write
        assert journal.get("job").fraction == 1.0 and journal.get("job").step == 1000
    with Journal(tmp_path / "k", progress_interval=0.0) as journal:
        journal.submit("job", REQUEST, {"x": job_audio(0, samples=8)})
        journal.mark_running("job")
        journal.progress("job", 7, 10)
        raw = sqlite3.connect(journal.directory / "journal.sqlite3")
        assert raw.execute("SELECT step, fraction FROM jobs").fetchone() == (7, 0.7)
        raw.close()


def test_a_job_that_ends_while_running_keeps_its_last_progress(tmp_path):
    """The row's progress is written at most every interval: a job cancelled (or failed) at
    15 % had read 2.1 % once ended (the last value written; here the start's 0)."""
    with Journal(tmp_path / "j", progress_interval=3600.0) as journal:
        for job, end in (("a", journal.cancel), ("b", lambda job: journal.fail(job, "boom"))):
            journal.submit(job, REQUEST, {"x": job_audio(0, samples=8)})
            journal.mark_running(job)
            journal.progress(job, 150, 1000)  # held back by the interval: the row says 0
            assert end(job)
            assert (journal.get(job).fraction, journal.get(job).step) == (0.15, 150)


def test_expire_drops_old_results_and_their_blobs(journal, clock):
    tiny = {"x": job_audio(0, samples=8)}
    for job in ("old-done", "old-failed", "old-queued", "new-done"):
        journal.submit(job, REQUEST, tiny)
    journal.mark_running("old-done")
    journal.finish("old-done", [job_audio(1)], {})
    journal.fail("old-failed", "boom")
    clock.advance(3000.0)
    journal.mark_running("new-done")
    journal.finish("new-done", [job_audio(2)], {})
    folders = blob_folders(journal)
    assert all(folder.is_dir() for folder in folders.values())

    assert journal.expire(clock.now + 599.0) == 0  # ttl is 3600 s: nothing old enough yet
    assert journal.expire(clock.now + 601.0) == 2
    assert {r.job_id for r in journal.list()} == {"old-queued", "new-done"}
    assert not folders["old-done"].exists() and not folders["old-failed"].exists()
    assert folders["old-queued"].is_dir() and folders["new-done"].is_dir()
    assert same_bits(journal.outputs("new-done")[0], job_audio(2))
    clock.advance(10_000.0)
    assert journal.expire() == 1  # the queued job is never expired
    assert [r.job_id for r in journal.list()] == ["old-queued"]


def test_open_removes_orphans_and_keeps_committed_blobs(tmp_path):
    directory = tmp_path / "j"
    with Journal(directory) as journal:
        journal.submit("job", REQUEST, {"audio": job_audio(1)})
        kept = blob_files(directory)
    folder = directory / "blobs" / kept[0].parent
    (folder / "out0-deadbeef.npy.tmp").write_bytes(b"torn")  # a crash mid-write
    (folder / "out0-cafebabe.npy").write_bytes(b"renamed, never committed")
    (directory / "blobs" / "0123-abcd").mkdir()  # a submit that never reached its commit
    (directory / "blobs" / "0123-abcd" / "in0-00000000.npy").write_bytes(b"x")
    with Journal(directory) as journal:
        assert blob_files(directory) == kept
        assert same_bits(journal.inputs("job")["audio"], job_audio(1))


def test_one_journal_folder_serves_one_daemon(tmp_path):
    with Journal(tmp_path / "j"):
        with pytest.raises(DiffMusicError, match="in use by another daemon"):
            Journal(tmp_path / "j")
    Journal(tmp_path / "j").close()  # free again once closed
    journal = Journal(tmp_path / "j")
    journal.close()
    with pytest.raises(DiffMusicError, match="closed"):
        journal.get("x")


def test_a_corrupt_database_is_a_clear_error(tmp_path):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "journal.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(DiffMusicError, match="journal database .* unreadable"):
        Journal(tmp_path / "j")


def test_server_and_worker_threads_share_the_journal(tmp_path):
    """A worker thread claims, reports and finishes jobs while the server thread submits."""
    with Journal(tmp_path / "j") as journal:
        submitted = queue.SimpleQueue()  # job ids, as the daemon's JobQueue hands them out
        errors = []

        def worker() -> None:
            try:
                while (job_id := submitted.get()) is not None:
                    assert journal.mark_running(job_id)
                    record = journal.get(job_id)
                    for step in range(1, 21):
                        journal.progress(record.job_id, step, 20)
                    audio = journal.inputs(record.job_id)["audio"]
                    journal.finish(record.job_id, [-audio], {"n": record.request["n"]})
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        for n in range(20):
            journal.submit(f"job-{n}", {"n": n}, {"audio": job_audio(n, samples=256)})
            submitted.put(f"job-{n}")
            journal.list()
        submitted.put(None)
        thread.join(timeout=30)
        assert not errors and not thread.is_alive()
        for n in range(20):
            record = journal.get(f"job-{n}")
            assert record.state is JobState.FINISHED and record.details == {"n": n}
            assert same_bits(journal.outputs(f"job-{n}")[0], -job_audio(n, samples=256))


def test_the_daemon_s_storage_failures_are_its_own_not_the_request_s(tmp_path):
    """A full journal at submit, a damaged result blob: answered "bad-request" (the client's
    fault, no remedy) before; now "internal", with what to do."""
    from bridge.daemon.gateway import Gateway
    from bridge.journal.blobs import BlobStore, StorageError
    from bridge.protocol import Message

    with pytest.raises(StorageError, match="stored audio of job 'j' is unreadable"):
        BlobStore.load("j", tmp_path / "missing.npy")
    full = StorageError(f"cannot store job data in {tmp_path}: No space left on device")
    peer = type("Envelope", (), {"peer": "tester"})()
    reply = Gateway._error_reply(None, peer, Message("submit"), full)
    assert (reply.content["status"], reply.content["code"]) == ("error", "internal")
    assert reply.content["message"] == str(full)


def test_a_short_write_on_a_full_disk_is_said_to_be_a_full_disk(tmp_path, monkeypatch):
    """numpy's short write ("882000 requested and 463840 written") has no errno: a full
    journal disk had been said in those words alone, with no remedy."""
    import shutil
    from collections import namedtuple

    from bridge.journal import blobs

    store = blobs.BlobStore(tmp_path)
    folder = store.new_folder("j")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**30, 10 * 2**30, 2**18))

    def short_write(file, array, **kwargs):  # what ndarray.tofile raises on a full disk
        raise OSError(f"{array.nbytes} requested and 463840 written")

    monkeypatch.setattr(np, "save", short_write)
    with pytest.raises(blobs.StorageError) as error:
        store.write(folder, "in", [np.zeros(220500, np.float32)])
    assert str(error.value).endswith(
        "882000 requested and 463840 written; the disk is full (0 MiB left): free space in the "
        "daemon's journal folder (serve --journal) and submit again"
    )
