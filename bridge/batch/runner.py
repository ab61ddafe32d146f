"""Running a batch: every file through the chain, one at a time or in worker processes.

A file that cannot be read or restored is reported as failed and the batch goes on. Outputs
are written atomically; the manifest (:mod:`bridge.batch.manifest`) is updated by the main
process after each file, so ``resume=True`` skips exactly the files a previous run finished.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from bridge.batch.chain import Chain, RestoreStep
from bridge.batch.inputs import BatchItem
from bridge.batch.manifest import Manifest
from bridge.batch.progress import BatchProgress, Event
from bridge.batch.report import DONE, FAILED, REPORTED, SKIPPED, FileResult
from bridge.batch.stream import partial_files, render_file
from diffmusic_engine.api import BACKENDS
from diffmusic_engine.errors import DiffMusicError

EventSink = Callable[[Event], None]
_worker_queue: Any = None  # set in worker processes by _init_worker


def run_batch(
    items: list[BatchItem],
    chain: Chain,
    outdir: Path,
    *,
    jobs: int = 1,
    resume: bool = False,
    show_progress: bool | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    restorer_overrides: dict[str, Any] | None = None,
) -> list[FileResult]:
    """Render ``items`` through ``chain`` into ``outdir``; one :class:`FileResult` per item.

    ``jobs`` > 1 renders that many files at once in worker processes. ``resume`` skips outputs
    the manifest records as finished for this input and chain. ``on_result`` is called in the
    main process as each file ends (done, skipped or failed). ``show_progress``: progress bars
    always, never, or (``None``) when stderr is a terminal (:class:`BatchProgress`).
    """
    if not items:
        return []
    overrides = dict(restorer_overrides or {})
    manifest = Manifest(outdir)
    results: dict[int, FileResult] = {}
    progress = BatchProgress(len(items), enabled=show_progress)

    def finish(item: BatchItem, result: FileResult) -> None:
        if result.status == DONE:
            manifest.record(item, chain.digest, {k: getattr(result, k) for k in REPORTED})
        results[item.index] = result
        progress.file_done(item.index, result)
        if on_result is not None:
            on_result(result)

    todo = []
    for item in items:
        if resume and manifest.finished(item, chain.digest):
            said = {k: v for k, v in manifest.reported(item).items() if k in REPORTED}
            finish(item, FileResult(str(item.source), str(item.output), SKIPPED, **said))
        else:
            for leftover in partial_files(item.output):  # from an interrupted run
                leftover.unlink(missing_ok=True)
            todo.append(item)
    try:
        if jobs <= 1 or len(todo) <= 1:
            for item in todo:
                finish(item, render_item(item, chain, overrides, progress.handle))
        else:
            _run_parallel(todo, chain, overrides, jobs, progress, finish)
    finally:
        progress.close()
    return [results[item.index] for item in items if item.index in results]


def render_item(
    item: BatchItem, chain: Chain, overrides: dict[str, Any], sink: EventSink | None
) -> FileResult:
    """Render one file; every error becomes a failed :class:`FileResult` (never raised), but
    an error an interrupt caused (:func:`_interrupt_behind`) is raised as KeyboardInterrupt."""
    started = time.perf_counter()
    name = item.source.name

    def progress(done: int, total: int) -> None:
        if sink is not None:
            sink(("progress", item.index, name, done, total))

    try:
        rendered = render_file(item.source, item.output, chain, progress=progress,
                               written_dtype=item.written_dtype, **overrides)  # fmt: skip
    except Exception as exc:  # a plugin or backend bug must not stop the batch either
        if _interrupt_behind(exc):  # a reader's "cannot read audio" too: not the file's fault
            raise KeyboardInterrupt from exc
        said = str(exc) if isinstance(exc, DiffMusicError) else f"{type(exc).__name__}: {exc}"
        return _failed(item, said, started)
    return FileResult(
        str(item.source), str(item.output), DONE, duration=round(rendered.duration, 6),
        seconds=round(time.perf_counter() - started, 3), sample_rate=rendered.sample_rate,
        channels=rendered.channels, note="; ".join(rendered.notes) or None,
        tail=round(rendered.tail / rendered.sample_rate, 6) if chain.tail else None,
        **rendered.repairs,
    )  # fmt: skip


def _interrupt_behind(exc: BaseException) -> bool:
    """Whether Ctrl-C or SIGTERM (a KeyboardInterrupt, as the CLI raises for both) caused
    ``exc``: an interrupt that lands while a numba kernel calls back into Python comes out as
    a SystemError ("CPUDispatcher(...) returned a result with an exception set") caused by it,
    which had failed the file with that line and gone on to the next file."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _failed(item: BatchItem, message: str, started: float) -> FileResult:
    message = " ".join(message.split())  # one line in the report
    seconds = round(time.perf_counter() - started, 3)
    return FileResult(str(item.source), str(item.output), FAILED, seconds=seconds, error=message)


def _run_parallel(
    todo: list[BatchItem],
    chain: Chain,
    overrides: dict[str, Any],
    jobs: int,
    progress: BatchProgress,
    finish: Callable[[BatchItem, FileResult], None],
) -> None:
    # "forkserver": workers fork from a clean server process that has imported the engine once
    # (no copy of this process's threads or torch state, and no import per worker).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bridge.batch.runner", *_backend_modules(chain)])
    queue = context.Queue()
    drain = threading.Thread(target=_drain, args=(queue, progress.handle), daemon=True)
    drain.start()
    try:
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=context,
            initializer=_init_worker,
            initargs=(queue, max(1, len(os.sched_getaffinity(0)) // jobs)),
        ) as pool:
            futures = {
                pool.submit(_render_in_worker, item, chain, overrides): item for item in todo
            }
            try:
                for future in as_completed(futures):
                    item = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool as exc:
                        result = _failed(item, f"worker process died ({exc})", time.perf_counter())
                    finish(item, result)
            except BaseException:  # Ctrl-C, SIGTERM (the CLI raises KeyboardInterrupt for it)
                # No future is cancelled here: the killed workers break the pool, whose thread
                # then fails every file not finished, and in Python 3.11 it raised
                # InvalidStateError on a future cancelled first (a traceback above the
                # interrupt's one line). pool.shutdown would drop the workers' list unkilled.
                _kill_workers(pool)
                for item in futures.values():  # what the killed workers were writing
                    for leftover in partial_files(item.output):
                        leftover.unlink(missing_ok=True)
                raise
    finally:
        queue.put(None)
        drain.join(timeout=5)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """End the workers now: leaving the ``with`` waits for each file being rendered, and a
    SIGTERM to this process alone (a scheduler stopping the batch) reaches no worker, which
    rendered on as an orphan and renamed outputs into the folder after the batch had ended.
    ``_processes`` is private: Python 3.14's ``ProcessPoolExecutor.kill_workers`` does this,
    3.11 has none."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
        process.join()


def _backend_modules(chain: Chain) -> list[str]:
    """The modules of the backends the chain's restoration steps use (imported once, early)."""
    backends = {s.options.get("backend", "dsp") for s in chain.steps if isinstance(s, RestoreStep)}
    return sorted(BACKENDS[b].split(":")[0] for b in backends if b in BACKENDS)


def _init_worker(queue: Any, threads: int) -> None:
    """In each worker: the progress queue, and a share of the cores for its thread pools (jobs
    that each use every core would only fight over them)."""
    global _worker_queue
    _worker_queue = queue
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # OpenMP/BLAS pools of numpy, scipy, torch
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _render_in_worker(item: BatchItem, chain: Chain, overrides: dict[str, Any]) -> FileResult:
    return render_item(item, chain, overrides, _worker_queue.put if _worker_queue else None)


def _drain(queue: Any, handle: EventSink) -> None:
    while (event := queue.get()) is not None:
        handle(event)
