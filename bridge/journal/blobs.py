"""The journal's blob store: job audio as numpy ``.npy`` files, written durably.

Every blob is written to ``<name>.tmp``, flushed and fsynced, renamed into place with
``os.replace``, and its folder fsynced, all BEFORE the journal commits the row that names it (see
:mod:`bridge.journal`). Each submission gets a fresh folder (``blobs/<hash of job id>-<random>``),
so blob files are never overwritten and expiry deletes whole folders. Big audio may be staged
(:class:`StagedBlobs`): written while the daemon still checks the message that carries it.

Written by hand because what it needs (numpy's own ``.npy`` format plus fsync + rename + folder
fsync) is a dozen lines that no library packages with these durability guarantees.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.atomic import disk_full
from diffmusic_engine.errors import DiffMusicError


def _remedy(exc: OSError, folder: Path) -> str:
    """What to do about a store that failed: free space, when space is what it lacked
    (:func:`~diffmusic_engine.atomic.disk_full`). Asked before the partial files go."""
    if disk_full(folder, exc):
        return (f"; the disk is full ({_free_mib(folder)} MiB left): free space in the daemon's "
                "journal folder (serve --journal) and submit again")  # fmt: skip
    return ""


def _free_mib(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder if folder.exists() else folder.parent).free / 2**20:.0f}"
    except OSError:
        return "?"


class StorageError(DiffMusicError):
    """The daemon's own storage failed (a full disk, a damaged blob): the server's fault, not
    the request's (answered ``internal``, not ``bad-request``)."""


log = logging.getLogger(__name__)

BLOBS_NAME = "blobs"
TEMP_SUFFIX = ".tmp"
STAGED_PREFIX = "incoming"  # blob folders written before their job was checked
NPY_HEADER_BYTES = 128  # room left before staged audio for its .npy header (any <= 3-D float32)


class BlobStore:
    """The ``blobs/`` folder of a journal: one folder of ``.npy`` files per job."""

    def __init__(self, directory: Path) -> None:
        self.root = Path(directory) / BLOBS_NAME
        self._stager = ThreadPoolExecutor(1, thread_name_prefix="journal-stage")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DiffMusicError(f"cannot create journal folder {directory}: {exc}") from exc

    def close(self) -> None:
        self._stager.shutdown()

    def folder(self, name: str) -> Path:
        return self.root / name

    def new_folder(self, job_id: str | None, *, create: bool = True) -> Path:
        label = hashlib.sha256(job_id.encode()).hexdigest()[:24] if job_id else STAGED_PREFIX
        path = self.root / f"{label}-{secrets.token_hex(4)}"
        if create:
            _make_blob_dir(path)
        return path

    def stage(self, frames: list[Any]) -> StagedBlobs:
        """Start writing ``frames`` (raw float32 audio bytes, not yet checked) durably in the
        background; pass the result to ``Journal.submit``, or :meth:`StagedBlobs.discard` it."""
        return StagedBlobs(self.new_folder(None, create=False), frames, self._stager)

    def write(self, folder: Path, prefix: str, arrays: list[np.ndarray]) -> list[str]:
        """Write each array durably as ``<prefix><i>-<random>.npy``; returns the file names."""
        names: list[str] = []
        try:
            for i, array in enumerate(arrays):
                name = f"{prefix}{i}-{secrets.token_hex(4)}.npy"
                temp = folder / (name + TEMP_SUFFIX)
                with open(temp, "wb") as file:
                    np.save(file, array, allow_pickle=False)
                    file.flush()
                    os.fsync(file.fileno())
                    _drop_cached_pages(file.fileno())
                os.replace(temp, folder / name)
                names.append(name)
            _fsync_dir(folder)
        except OSError as exc:
            said = f"cannot store job data in {folder}: {exc}{_remedy(exc, folder)}"  # first:
            for name in names:  # removing the partial files frees space again
                (folder / name).unlink(missing_ok=True)
            for temp in folder.glob(f"*{TEMP_SUFFIX}"):
                temp.unlink(missing_ok=True)
            raise StorageError(said) from exc
        return names

    @staticmethod
    def load(job_id: str, path: Path) -> np.ndarray:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StorageError(f"stored audio of job {job_id!r} is unreadable: {exc}") from exc

    def remove(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def remove_orphans(self, rows: Iterable[Any]) -> int:
        """Delete blob files and folders that no committed row names (a crash left them);
        ``rows`` have ``blob_dir``, ``inputs`` and ``outputs`` columns."""
        wanted: dict[str, set[str]] = {}
        for row in rows:
            files = set(json.loads(row["inputs"]).values()) | set(json.loads(row["outputs"]))
            wanted[row["blob_dir"]] = files
        removed = 0
        for folder in self.root.iterdir():
            if folder.name not in wanted or not folder.is_dir():
                removed += sum(1 for _ in folder.rglob("*")) if folder.is_dir() else 1
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink(missing_ok=True)
                continue
            for file in folder.iterdir():
                if file.name not in wanted[folder.name]:
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed


def _drop_cached_pages(fd: int) -> None:
    """Let the kernel drop a durable blob's pages from the page cache.

    The daemon keeps the audio it needs in its own memory (ArrayCache); a blob is read back only
    after a restart or an eviction. Left cached, every job would also hold its audio in the page
    cache, crowding out what the rest of the machine (the DAW's samples) needs; and, measured on
    a VM here, writing into fresh page-cache pages cost 45 ms per 23 MB against 5 ms for pages
    just released.
    """
    if hasattr(os, "posix_fadvise"):  # not on macOS
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _make_blob_dir(path: Path) -> None:
    """Create a fresh blob folder durably (its parent fsynced)."""
    try:
        path.mkdir()
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(
            f"cannot store job data in {path.parent}: {exc}{_remedy(exc, path.parent)}"
        ) from exc


class StagedBlobs:
    """Audio frames written durably in the background while their message is still checked.

    Each frame goes to ``<folder>/in<i>-<random>.npy.tmp`` at offset ``NPY_HEADER_BYTES``,
    fsynced. :meth:`claim`, called once the request is checked and its shapes known, writes each
    ``.npy`` header into the room left for it, fsyncs and renames: the files are then exactly what
    ``np.save`` writes (numpy pads every header to a multiple of 64 bytes, and a float32 header
    of at most three dimensions fits in 128), and the write and fsync of the audio overlapped the
    signature check. Never parsed; a crash leaves a folder no row names, deleted at next start.
    """

    def __init__(self, folder: Path, frames: list[Any], executor: ThreadPoolExecutor) -> None:
        self.folder = folder
        views = [memoryview(frame).cast("B") for frame in frames]
        self._future: Future[list[str]] = executor.submit(self._write, views)
        self._owned = True

    def _write(self, views: list[memoryview]) -> list[str]:
        _make_blob_dir(self.folder)
        names = []
        for i, view in enumerate(views):
            name = f"in{i}-{secrets.token_hex(4)}.npy"
            with open(self.folder / (name + TEMP_SUFFIX), "wb") as file:
                file.seek(NPY_HEADER_BYTES)
                file.write(view)
                file.flush()
                os.fsync(file.fileno())
                _drop_cached_pages(file.fileno())
            names.append(name)
        return names

    def claim(self, arrays: list[np.ndarray]) -> tuple[Path, list[str]] | None:
        """``(folder, file names)`` holding ``arrays`` durably, or None (write failed, or the
        staged bytes are not these arrays: the caller writes them itself)."""
        try:
            names = self._future.result()
        except (OSError, DiffMusicError) as exc:
            log.warning("staged audio not written (%s); writing it again", exc)
            return None
        sizes = [os.path.getsize(self.folder / (n + TEMP_SUFFIX)) for n in names]
        headers = [_npy_header(a) for a in arrays]
        if [NPY_HEADER_BYTES + a.nbytes for a in arrays] != sizes or any(
            len(h) != NPY_HEADER_BYTES for h in headers
        ):
            return None
        try:
            for name, header in zip(names, headers, strict=True):
                temp = self.folder / (name + TEMP_SUFFIX)
                with open(temp, "r+b") as file:
                    file.write(header)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, self.folder / name)
            _fsync_dir(self.folder)
        except OSError as exc:
            raise StorageError(
                f"cannot store job data in {self.folder}: {exc}{_remedy(exc, self.folder)}"
            ) from exc
        self._owned = False
        return self.folder, names

    def discard(self) -> None:
        """Delete the staged folder (after its write ends) unless :meth:`claim` took it."""
        if self._owned:
            self._owned = False
            self._future.add_done_callback(lambda _: shutil.rmtree(self.folder, ignore_errors=True))


def _npy_header(array: np.ndarray) -> bytes:
    """The bytes ``np.save`` writes before ``array``'s data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue()


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
