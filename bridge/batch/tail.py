"""Rendering past the input's end: a chain's ``tail``, so that reverbs and delays ring out.

A chain's top-level ``tail`` says how far a render goes past the end of its input:

* ``tail = 0`` (the default, and what a chain without ``tail`` does): the output has exactly the
  input's length, as before the option existed; restoration outputs stay aligned sample for
  sample with their sources (a DAW lays them over the originals) and ``--resume`` manifests of
  existing chains stay valid (their digest is unchanged; ``tail = 0`` is digested as no tail,
  so adding it renders nothing anew).
* ``tail = SECONDS`` (0 to ``TAIL_MAX_SECONDS``): exactly ``round(SECONDS * rate)`` samples of
  silence are pushed through the chain after the input; the output is that much longer.
* ``tail = "auto"``: silence is pushed until the chain's output has stayed below
  ``TAIL_THRESHOLD`` (one 16-bit step, -90.3 dBFS) for the quiet window (``TAIL_QUIET_SECONDS``
  plus the chain's longest ``Delay``, whose echoes have gaps that long); the output ends after
  its last sample at or above the threshold, never before the input's end, and at most
  ``TAIL_MAX_SECONDS`` after it (the file's note says when that cap cut a tail still ringing: a
  delay with feedback 1, a frozen reverb). A VST3 delay's echoes further apart than
  ``TAIL_QUIET_SECONDS`` are not known to the chain: give such a chain its tail in seconds.

Restoration steps restore the input's samples only (:class:`InputSpan`): the silence (or an
earlier plugin's decay) after the input's end passes them unchanged. Their damage describes the
recording (given gaps are checked against its duration, chunks are planned over its length),
not a tail the chain adds.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from diffmusic_engine.errors import InputError

AUTO = "auto"
# The longest tail a render adds past the input's end, given in seconds or found by "auto".
TAIL_MAX_SECONDS = 60.0
# "auto" ends the output where it stays below this: one 16-bit step (-90.3 dBFS); quieter
# samples round to at most one step in a 16-bit file.
TAIL_THRESHOLD = 2.0**-15
TAIL_THRESHOLD_DB = 20 * math.log10(TAIL_THRESHOLD)
# ...for this long (plus the chain's longest Delay), before "auto" takes the tail as over.
TAIL_QUIET_SECONDS = 1.0
_REMEDY = (
    f'expected a number of seconds from 0 to {TAIL_MAX_SECONDS:g}, or "auto" (until the output '
    f"stays below {TAIL_THRESHOLD_DB:.1f} dBFS, at most {TAIL_MAX_SECONDS:g} s)"
)


def tail_option(value: Any) -> float | str:
    """A chain's ``tail`` checked: seconds (float) or ``"auto"``; ``None`` (absent) is 0.
    Raises ``ValueError`` naming the value and what to give instead."""
    if value is None:
        return 0.0
    if value == AUTO:
        return AUTO
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"tail {value!r}: {_REMEDY}")
    if value < 0:
        raise ValueError(f"tail {value!r}: negative; {_REMEDY}")
    if value > TAIL_MAX_SECONDS:
        raise ValueError(
            f"tail {value!r}: longer than the {TAIL_MAX_SECONDS:g} s a render goes past "
            f'the input\'s end; give at most {TAIL_MAX_SECONDS:g}, or "auto"'
        )
    return float(value)


class TailEnd:
    """Where an ``"auto"`` tail ends, from the chain's output seen in order (``feed``).

    ``end``: the output's length so far (one past its last sample at or above
    ``TAIL_THRESHOLD`` from ``start`` on, at least ``start``); final once ``done``. ``capped``:
    the output had not stayed quiet for the quiet window by ``TAIL_MAX_SECONDS`` past ``start``;
    ``end`` is then exactly that cap."""

    def __init__(self, start: int, rate: int, quiet_seconds: float, position: int = 0) -> None:
        self.start = start
        self.cap = start + round(TAIL_MAX_SECONDS * rate)
        self.quiet = max(1, round(quiet_seconds * rate))
        self.position = position  # output samples seen
        self.end = start
        self.done = self.capped = False

    def feed(self, block: np.ndarray) -> None:
        first = self.position
        self.position += block.shape[1]
        if self.done:
            return
        loud = np.flatnonzero((np.abs(block) >= TAIL_THRESHOLD).any(axis=0)) + first
        loud = loud[loud >= self.start]
        gaps = loud - np.r_[self.end, loud[:-1] + 1] if loud.size else loud
        quiet_runs = np.flatnonzero(gaps >= self.quiet)
        if quiet_runs.size:  # over before this sample: what is loud after it is not the tail
            loud = loud[: quiet_runs[0]]
            self.done = True
        if loud.size:
            self.end = max(self.end, int(loud[-1]) + 1)
        self.done = self.done or self.position - self.end >= self.quiet
        if self.end > self.cap or (not self.done and self.position >= self.cap):
            self.end, self.done, self.capped = self.cap, True, True

    def note(self) -> str | None:
        """The file's note when the cap cut the tail."""
        if not self.capped:
            return None
        return (
            f"tail: still above {TAIL_THRESHOLD_DB:.1f} dBFS {TAIL_MAX_SECONDS:g} s past the "
            "input's end (a delay's feedback of 1 or a frozen reverb never dies away), cut there; "
            "lower the feedback or give tail in seconds"
        )


class _Stream(Protocol):
    def push(self, block: np.ndarray) -> np.ndarray: ...
    def finish(self) -> np.ndarray: ...


class InputSpan:
    """A restoration stream given the input's ``total`` samples only: it is finished as soon as
    they are in, and what follows (the tail) passes unchanged after its last output."""

    def __init__(self, stream: _Stream, total: int, channels: int) -> None:
        self.stream = stream
        self.channels = channels
        self.total = total
        self.received = 0
        self.finished = False

    def push(self, block: np.ndarray) -> np.ndarray:
        head = block[:, : max(0, self.total - self.received)]
        self.received += block.shape[1]
        outputs = [self.stream.push(head)] if head.shape[1] else []
        if not self.finished and self.received >= self.total:
            outputs.append(self.finish())
        outputs.append(block[:, head.shape[1] :])
        return np.concatenate(outputs, axis=1)

    def finish(self) -> np.ndarray:
        if self.finished:
            return np.zeros((self.channels, 0), dtype=np.float32)
        if self.received < self.total:
            raise InputError(f"stream: got {self.received} samples, {self.total} announced")
        self.finished = True
        return self.stream.finish()
