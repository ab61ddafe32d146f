"""A daemon job of lossy coded audio (the client's ``lossy``, from the file it read): its
``gaps="auto"`` reads the codec's dips (:mod:`diffmusic_engine.diagnose.coded`)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from pedalboard.io import AudioFile

from bridge.client.core import submit_message
from bridge.daemon.jobs import check_submit, execute
from bridge.defaults import Limits
from bridge.protocol import Message, ProtocolError, decode, encode
from diffmusic_engine.audio import read_audio, write_audio
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


def test_an_old_client_s_submit_without_the_key_is_not_lossy() -> None:
    """A client from before the key sends no ``"lossy"``: read as false, the dip left alone."""
    message = received(True)
    del message.content["lossy"]
    submitted = check_submit(message, Limits())
    assert "lossy" not in submitted.request
    details = execute(submitted.request, submitted.inputs, lambda progress: None).details
    assert FOUND_GAPS not in details


def test_restore_connect_sends_the_file_s_lossy(daemon, tmp_path, cli_command) -> None:
    """``restore --connect`` of an MP3 (the dip as the codec leaves a 15 ms dropout): the CLI
    sends the file's ``lossy``, and the daemon's job finds the dip; the same audio as a WAV
    (not lossy coded) finds nothing."""
    audio = dipped()
    audio[:, RATE : RATE + RATE * 15 // 1000] = 0.0  # a dropout cut in before the codec
    source = tmp_path / "in.mp3"
    with AudioFile(str(source), "w", RATE, 2, quality=128) as file:
        file.write(audio)
    for suffix, found in ((".mp3", 1), (".wav", 0)):
        if suffix == ".wav":
            decoded = read_audio(source)[0]
            source = write_audio(tmp_path / "in.wav", decoded, RATE)
        args = [*cli_command, "restore", str(source), "-o", str(tmp_path / f"out{suffix}.wav"),
                "--task", "inpaint", "--gap", "auto", "--connect", "--json",
                "--connection-file", str(daemon.connection)]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        details = json.loads(result.stdout.splitlines()[-1])["details"]
        assert len(details.get(LOSSY_GAPS, [])) == found
