"""One reading of a rule per recording within a diagnosis: :func:`diagnose` reads the dropout
rule (:func:`.dropouts.find_all`) on the same audio from four detectors (dropouts; the band
limit's and the room's silent samples, :func:`diffmusic_engine.silence.silent_samples`; the
clicks at a dropout's edge), and on a 3.7-minute mix each reading cost 1 s.

Within :func:`shared` a function marked :func:`once` is run once per arguments: the audio by its
content (SHA-256 of its bytes, with its shape and dtype: the room reads a float64 copy of the
middle, another input), the rest by value. Each caller gets its own copy of the answer (the
lists are not shared). Outside it (the repair, the batch) each call reads the audio as before.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

# answers by (function, audio's key, other arguments) while a diagnosis runs; None: no diagnosis
# (a ContextVar: each thread, and each diagnosis within one, has its own)
_ANSWERS: ContextVar[dict | None] = ContextVar("diagnose_answers", default=None)


@contextmanager
def shared() -> Iterator[None]:
    """Within it, each function marked :func:`once` reads the same arguments once."""
    token = _ANSWERS.set({})
    try:
        yield
    finally:
        _ANSWERS.reset(token)


def once(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(audio, ...)`` run once per audio content and other arguments within
    :func:`shared`."""

    signature = inspect.signature(function)

    @functools.wraps(function)
    def read_once(audio: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        answers = _ANSWERS.get()
        if answers is None:
            return function(audio, *args, **kwargs)
        # the arguments as the function sees them: a default left out, or one given by name,
        # is the same reading (find_all(a, rate) and find_all(a, rate, False))
        given = signature.bind(audio, *args, **kwargs)
        given.apply_defaults()
        key = (function, _audio_key(audio), given.args[1:], tuple(sorted(given.kwargs.items())))
        if key not in answers:
            answers[key] = function(audio, *args, **kwargs)
        return copy.deepcopy(answers[key])

    return read_once


def _audio_key(audio: np.ndarray) -> tuple:
    """What tells one audio array from another: its content, shape and dtype."""
    digest = hashlib.sha256(np.ascontiguousarray(audio).data).hexdigest()
    return digest, audio.shape, audio.dtype.str
