"""What a file says besides its samples: the text tags an output carries over from its input,
and the WAV chunks it does not (said to the user, not dropped unsaid).

libsndfile reads and writes the text tags (title, artist, comment, date, ...: a WAV's LIST
INFO, a FLAC's Vorbis comments) and nothing else; a BWF's ``bext`` chunk (its time reference),
``cue`` markers, their ``LIST adtl`` labels and ``iXML`` it neither reads nor writes.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def uncarried(path: str | os.PathLike[str]) -> list[str]:
    """What of a RIFF/RF64 WAV ``path`` an output leaves out (:data:`UNCARRIED_CHUNKS`), in
    file order; empty for other files. Read by hand: no library lists a WAV's chunks."""
    found: list[str] = []
    try:
        with open(path, "rb") as file:
            if file.read(4) not in (b"RIFF", b"RF64") or (file.read(4), file.read(4))[1] != b"WAVE":
                return []
            while len(header := file.read(8)) == 8:
                name, size = header[:4], int.from_bytes(header[4:], "little")
                if name in UNCARRIED_CHUNKS and UNCARRIED_CHUNKS[name] not in found:
                    found.append(UNCARRIED_CHUNKS[name])
                if name == b"data" and size == 0xFFFFFFFF:  # RF64: the size is in ds64
                    break
                file.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return []
    return found


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
