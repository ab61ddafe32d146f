"""A daemon job of lossy coded audio (the client's ``lossy``, from the file it read): its
``gaps="auto"`` reads the codec's dips (:mod:`diffmusic_engine.diagnose.coded`)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from pedalboard.io import AudioFile

from bridge.cli.common import told_in_json
from bridge.client.messages import submit_message
from bridge.daemon.jobs import check_submit, execute
from bridge.defaults import Limits
from bridge.protocol import Message, ProtocolError, decode, encode
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.backends import FOUND_GAPS, GATES, LOSSY_GAPS
from diffmusic_engine.damage import Inpaint
from diffmusic_engine.diagnose.coded import GATE_COUNT

KEY = b"0123456789abcdef" * 4
RATE = 44100


def dipped(count: int = 1) -> np.ndarray:
    """A chord with ``count`` dips of 10 ms 40 dB down from 1 s on, 150 ms apart: dropouts as
    a lossy codec leaves them."""
    time = np.arange(2 * RATE) / RATE
    tones = 0.1 * sum(np.sin(2 * np.pi * f * time) for f in (220.0, 277.18, 329.63))
    audio = np.tile(tones, (2, 1)).astype(np.float32)
    for first in range(RATE, RATE + count * RATE * 150 // 1000, RATE * 150 // 1000):
        audio[:, first : first + RATE // 100] *= 0.01
    return audio


def received(lossy: object, count: int = 1) -> Message:
    audio, damage = dipped(count), Inpaint(gaps="auto")
    content, buffers = submit_message(audio, RATE, damage, lossy=bool(lossy))
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


def test_a_job_says_a_gates_offs_left_alone() -> None:
    """GATE_COUNT dips 150 ms apart in a lossy job: a gate's offs, nothing filled, the dips in
    the job's details (what ``submit`` and ``restore --connect`` read) and said in a warning
    (``submit``'s notes)."""
    submitted = check_submit(received(True, GATE_COUNT), Limits())
    details = execute(submitted.request, submitted.inputs, lambda progress: None).details
    ((dips,),) = [details[GATES]]
    assert FOUND_GAPS not in details and len(dips) == GATE_COUNT
    for index, (start, end) in enumerate(dips):
        assert abs(start - 1.0 - 0.15 * index) < 0.002 and abs(end - start - 0.01) < 0.002
    said = [note for note in told_in_json(details)["notes"] if note["level"] == "warning"]
    assert len(said) == 1 and f"({GATE_COUNT} dip(s): " in said[0]["text"]


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
    (not lossy coded) finds nothing, unless given ``--lossy`` (an MP3 a DAW exported as WAV),
    through ``restore --connect`` and ``submit`` alike."""
    audio = dipped()
    audio[:, RATE : RATE + RATE * 15 // 1000] = 0.0  # a dropout cut in before the codec
    mp3 = tmp_path / "in.mp3"
    with AudioFile(str(mp3), "w", RATE, 2, quality=128) as file:
        file.write(audio)
    wav = write_audio(tmp_path / "in.wav", read_audio(mp3)[0], RATE)
    cases = [("restore", mp3, [], 1), ("restore", wav, [], 0), ("restore", wav, ["--lossy"], 1),
             ("submit", wav, [], 0), ("submit", wav, ["--lossy"], 1)]  # fmt: skip
    for i, (command, source, flags, found) in enumerate(cases):
        args = [*cli_command, command, str(source), "-o", str(tmp_path / f"out{i}.wav"),
                "--task", "inpaint", "--gap", "auto", "--json", *flags,
                "--connection-file", str(daemon.connection)]  # fmt: skip
        args += ["--connect"] if command == "restore" else []
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        done = json.loads(result.stdout.splitlines()[-1])  # submit's: the notes, no details
        said = [n["text"] for n in done.get("notes", []) if "dips through the lossy" in n["text"]]
        assert len(said) == found, (command, source.name, flags)
        if command == "restore":
            assert len(done["details"].get(LOSSY_GAPS, [])) == found
