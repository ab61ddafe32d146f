"""Atomic writes: every file the engine and the bridge write goes to a temporary file beside its
target, then ``os.replace`` puts it in place (the ReaScripts do the same in Lua:
``system.write_file``).

A reader sees the old file or the new one, never half of one, and a failed write leaves the old
file as it was and no temporary behind. The temporary is named ``.{stem}.{random}{marker}{suffix}``
in the target's folder: hidden, on the same file system (so the rename is atomic), with the
target's extension (audio writers choose the format from it), and ``marker`` says what it is
(batch renders use ``.partial``, which ``--resume`` looks for). The writer creates it, so it gets
the user's umask like any output (``tempfile.mkstemp`` would make it 0600), unless ``private``
asks for 0600 (a file holding a secret). The journal's blobs have their own, stricter protocol
(the folder fsynced too, before the row naming them commits): see ``bridge.journal.blobs``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(target: str | os.PathLike[str], *, marker: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary path beside ``target`` (not yet created; its folder is) that replaces
    ``target`` when the ``with`` block ends cleanly, and is deleted when it raises."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.stem}.{uuid.uuid4().hex[:12]}{marker}{target.suffix}"
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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
