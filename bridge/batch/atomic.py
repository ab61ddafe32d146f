"""Temporary files for atomic writes that end up with the user's umask, like ``restore`` outputs.

``tempfile.mkstemp`` creates files with mode 0600 (right for secrets, wrong for renders and
reports that other tools and users read); the mode is widened to ``0666 & ~umask`` at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mkstemp_for_user(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp`` in ``folder``, with mode ``0666 & ~umask``: ``(fd, path)``."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.fchmod(fd, 0o666 & ~current_umask())
    return fd, name
