"""Errors a user can act on. Each carries one line that names the problem."""

import os
from pathlib import Path


class DiffMusicError(Exception):
    """Base class: the message is a single line fit to print after ``error:``."""


class InputError(DiffMusicError):
    """Unreadable, empty or non-finite audio, or a file that is missing."""


class OutputError(DiffMusicError, OSError):
    """An output that cannot be written where asked (a folder in its place, no permission, a
    read-only or full disk). Also an ``OSError``, which callers that catch those still see."""


class DamageError(DiffMusicError):
    """A damage description that is invalid, or does not fit the audio it is applied to."""


class UnsupportedDamage(DamageError):  # noqa: N818 - a kind of DamageError, named for what it is
    """A valid damage that a backend cannot restore (a daemon answers ``invalid-damage``)."""


class ModelError(DiffMusicError):
    """A model that cannot be found, loaded or run."""


class Cancelled(DiffMusicError):  # noqa: N818 - reads better at call sites than CancelledError
    """Raised from a progress callback to stop a running restoration cooperatively."""


def not_a_file(path: os.PathLike[str] | str) -> str:
    """Why ``path``, which is not a readable file, cannot be read: ``no such file``, or that it
    is a folder (a folder given as an input had read "no such file", though it exists)."""
    return "a folder, not a file" if Path(path).is_dir() else "no such file"


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name: a library's multi-line error
    (a model part that would not load) cut to what the one error line can hold."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: our errors' own text, anything else prefixed with its type."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, DiffMusicError) else f"{type(exc).__name__}: {text}"
