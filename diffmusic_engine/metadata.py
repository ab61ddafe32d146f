"""What a file says besides its samples: the text tags an output carries over from its input,
the WAV chunks it does not (said to the user, not dropped unsaid), and the frames a WAV's header
promises (``audio``'s reader refuses a file cut shorter than that).

libsndfile reads and writes the text tags (title, artist, comment, date, ...: a WAV's LIST
INFO, a FLAC's Vorbis comments) and nothing else; a BWF's ``bext`` chunk (its time reference),
``cue`` markers, their ``LIST adtl`` labels and ``iXML`` it neither reads nor writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import soundfile as sf

# RIFF chunks an output does not carry over -> what they hold, in the user's words
UNCARRIED_CHUNKS = {
    b"bext": "its BWF bext chunk (time reference, description, originator)",
    b"cue ": "its cue markers",
    b"iXML": "its iXML chunk",
    b"axml": "its axml chunk",
}


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text tags of ``path`` that libsndfile can write again (empty where it holds none,
    or is no file libsndfile reads)."""
    try:
        with sf.SoundFile(str(path)) as file:
            return dict(file.copy_metadata())
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
        return {}


def wav_chunks(file: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """``(name, size)`` of each chunk of the RIFF/RF64 WAV open as ``file`` (binary, at its
    start), the file at the chunk's body while the caller holds it; nothing for another file.
    Stops at a size it cannot read on (RF64's ``data``, whose size is in ``ds64``). Read by
    hand: soundfile gives no chunks, and the stdlib ``wave`` reads PCM only. The one walk of
    a WAV's chunks (:func:`wav_frames_promised`, :func:`uncarried`)."""
    if file.read(4) not in (b"RIFF", b"RF64") or (file.read(4), file.read(4))[1] != b"WAVE":
        return
    while len(header := file.read(8)) == 8:
        name, size = header[:4], int.from_bytes(header[4:], "little")
        body = file.tell()
        yield name, size
        if size == 0xFFFFFFFF:
            return
        file.seek(body + size + size % 2)


def wav_frames_promised(path: str | os.PathLike[str]) -> int | None:
    """The frames a WAV's ``data`` chunk header declares, or None (not a RIFF WAV, or a size
    left unknown by a streaming writer: 0 or 0xFFFFFFFF). libsndfile reads a cut file up to
    where it ends and says nothing; a header that promises more tells the cut."""
    block_align = None
    with open(path, "rb") as file:
        if file.read(4) != b"RIFF":  # an RF64's sizes are in its ds64 chunk
            return None
        file.seek(0)
        for name, size in wav_chunks(file):
            if name == b"fmt ":
                block_align = int.from_bytes(file.read(16)[12:14], "little")
            elif name == b"data":
                return size // block_align if block_align and size not in (0, 0xFFFFFFFF) else None
    return None


def uncarried(path: str | os.PathLike[str]) -> list[str]:
    """What of a RIFF/RF64 WAV ``path`` an output leaves out (:data:`UNCARRIED_CHUNKS`), in
    file order; empty for other files."""
    try:
        with open(path, "rb") as file:
            names = [name for name, _ in wav_chunks(file) if name in UNCARRIED_CHUNKS]
    except OSError:
        return []
    return list(dict.fromkeys(UNCARRIED_CHUNKS[name] for name in names))


def carried_note(source: Path | None, output: Path) -> str:
    """The note for ``output`` when ``source`` holds chunks it cannot carry, else ``""``."""
    if source is None or not source.is_file():
        return ""
    left = uncarried(source)
    if not left:
        return ""
    verb = "is" if len(left) == 1 else "are"
    return (
        f"{output}: {' and '.join(left)} of {source.name} {verb} not written (its text tags "
        "are); copy them with a BWF or metadata editor if the output needs them"
    )
