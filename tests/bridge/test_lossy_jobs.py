"""A daemon job of lossy coded audio (the client's ``lossy``, from the file it read): its
``gaps="auto"`` reads the codec's dips (:mod:`diffmusic_engine.diagnose.coded`)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.client.core import submit_message
from bridge.daemon.jobs import check_submit, execute
from bridge.defaults import Limits
from bridge.protocol import Message, ProtocolError, decode, encode
from diffmusic_engine.backends import FOUND_GAPS, LOSSY_GAPS
from diffmusic_engine.damage import Inpaint

KEY = b"0123456789abcdef" * 4
RATE = 44100


def dipped() -> np.ndarray:
    """A chord with 10 ms 40 dB down at 1 s: a dropout as a lossy codec leaves it."""
    time = np.arange(2 * RATE) / RATE
    tones = 0.1 * sum(np.sin(2 * np.pi * f * time) for f in (220.0, 277.18, 329.63))
    audio = np.tile(tones, (2, 1)).astype(np.float32)
    audio[:, RATE : RATE + RATE // 100] *= 0.01
    return audio


def received(lossy: object) -> Message:
    content, buffers = submit_message(dipped(), RATE, Inpaint(gaps="auto"), lossy=bool(lossy))
    if not isinstance(lossy, bool):
        content["lossy"] = lossy
    return decode(encode(Message("submit", content, buffers), KEY), KEY)


@pytest.mark.parametrize("lossy", [True, False])
def test_a_job_reads_dips_only_for_lossy_input(lossy: bool) -> None:
    submitted = check_submit(received(lossy), Limits())
    assert submitted.request.get("lossy", False) is lossy  # journalled (absent: not lossy)
    details = execute(submitted.request, submitted.inputs, lambda progress: None).details
    if not lossy:  # a gate over a quiet bed dips so: nothing found in audio not lossy coded
        assert FOUND_GAPS not in details and LOSSY_GAPS not in details
        return
    ((start, end),) = details[FOUND_GAPS]
    assert abs(start - 1.0) < 0.002 and abs(end - 1.01) < 0.002
    assert details[LOSSY_GAPS] == [[start, end]]


def test_lossy_must_be_true_or_false() -> None:
    with pytest.raises(ProtocolError, match="lossy 'yes': expected true or false"):
        check_submit(received("yes"), Limits())
