"""Atomic writes: every file the engine and the bridge write goes to a temporary file beside its
target, then ``os.replace`` puts it in place (the ReaScripts do the same in Lua:
``system.write_file``).

A reader sees the old file or the new one, never half of one, and a failed write leaves the old
file as it was and no temporary behind. The temporary is named ``.{stem}.{random}{marker}{suffix}``
(the stem cut to ``STEM_CHARS``) in the target's folder: hidden, on the same file system (so the
rename is atomic), with the target's extension (audio writers choose the format from it), and
``marker`` says what it is (batch renders use ``.partial``, which ``--resume`` looks for). The
writer creates it, so it gets the user's umask like any output (``tempfile.mkstemp`` would make it
0600), unless ``private`` asks for 0600 (a file holding a secret). The journal's blobs have their
own, stricter protocol (the folder fsynced too, before the row naming them commits): see
``bridge.journal.blobs``. A target that cannot be written is an :class:`OutputError` before any
work (:func:`check_target`, which ``audio.check_writable`` calls).
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diffmusic_engine.errors import OutputError

# Characters of the target's stem kept in its temporary's name: the temporary adds about 25 to
# the stem, and a name the file system takes (255 bytes) must still have a temporary it takes.
STEM_CHARS = 64
RANDOM_CHARS = 12  # hex digits that tell one write's temporary from another's


@contextmanager
def replacing(target: str | os.PathLike[str], *, marker: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary path beside ``target`` (not yet created; its folder is) that replaces
    ``target`` when the ``with`` block ends cleanly, and is deleted when it raises.

    A target that cannot be written raises :class:`OutputError` before the block runs
    (:func:`check_target`); an ``OSError`` of the block or the rename comes out as one too."""
    target = Path(target)
    temporary = _temporary(target, marker)
    check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _cannot_write(target, exc) from exc
        raise


def temporaries(target: str | os.PathLike[str], marker: str) -> list[Path]:
    """The temporaries :func:`replacing` named for ``target`` with ``marker`` that are still
    there (an interrupted write's)."""
    target = Path(target)
    # the random part exactly (take.wav's pattern with "*" had matched take.2.wav's temporary,
    # which a resumed batch then deleted under a batch still writing it)
    random = "[0-9a-f]" * RANDOM_CHARS
    pattern = f".{glob.escape(target.stem[:STEM_CHARS])}.{random}{marker}{target.suffix}"
    return sorted(target.parent.glob(pattern))


def check_target(target: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputError` unless ``target`` can be written: not a folder, a name the
    file system takes, and a folder that takes a new file (created with its parents if
    missing, so only checked here: nothing is made before the work it would hold is done).
    The folder is tried by creating a temporary and removing it, as writers differ in what
    they raise for a path they cannot open."""
    target = Path(target)
    if len(os.fsencode(target.name)) > 255:
        raise OutputError(f"{target.name[:40]}...: the name is too long; give a shorter one")
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name to write")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        if folder == target.parent:
            probe = _temporary(target, ".probe")
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        elif not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        raise _cannot_write(target, exc) from exc


def _temporary(target: Path, marker: str) -> Path:
    hidden = f".{target.stem[:STEM_CHARS]}.{uuid.uuid4().hex[:RANDOM_CHARS]}{marker}{target.suffix}"
    return target.parent / hidden


FULL_DISK_BYTES = 1 << 20  # a write failing with less free than this failed for want of space


def disk_full(folder: Path, error: BaseException) -> bool:
    """Whether a write into ``folder`` failed for want of space: its error says so, or it says
    nothing of why (libsndfile's "System error.", numpy's short write "882000 requested and
    463840 written") and the disk has under ``FULL_DISK_BYTES`` left. Asked before anything
    partly written is removed (which frees space again)."""
    code = getattr(error, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return True
    if code is not None:  # another reason, named: not space
        return False
    try:
        return (
            shutil.disk_usage(folder if folder.exists() else folder.parent).free < FULL_DISK_BYTES
        )
    except OSError:
        return False


def _cannot_write(target: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file met on the path
        reason = "a file stands where a folder of its path should be"
    remedy = "free some space there or " if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return OutputError(f"cannot write {target}: {reason}; {remedy}choose another output path")


def write_text_atomic(
    target: str | os.PathLike[str], text: str, *, private: bool = False, durable: bool = False
) -> Path:
    """Write ``text`` to ``target`` atomically (:func:`replacing`): mode 0600 when ``private``,
    else the user's umask. ``durable`` fsyncs the data before the rename, so that after a power
    cut the target holds the old text or the new, never an empty file (the folder is not
    synced: the rename itself may be lost, which a resume manifest or a connection file
    survives)."""
    with replacing(target) as temporary:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    return Path(target)
