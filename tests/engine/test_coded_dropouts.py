"""Dropouts through a lossy codec (:mod:`diffmusic_engine.diagnose.coded`), read for lossy coded
input alone (``AudioInfo.lossy``, from the file's format), on a built chord written to MP3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

from bridge.cli import main
from bridge.notes import LOSSY_DIP
from diffmusic_engine.audio import read_audio
from diffmusic_engine.backends import FOUND_GAPS, GATES, LOSSY_GAPS
from diffmusic_engine.containers import lossy_coded
from diffmusic_engine.diagnose import coded, dropouts
from diffmusic_engine.diagnose.dropouts import QUIET, DropoutScanner

RATE = 44100
CUT = 44100  # the dropouts start 1 s in
EDGE = 0.0015  # seconds a found edge may lie from the cut's (the codec's ringing, the pad)


def chord(seconds: float = 2.0, amplitude: float = 0.1) -> np.ndarray:
    """A steady A major chord, the same on both channels, ``(2, samples)`` float32."""
    time = np.arange(round(seconds * RATE)) / RATE
    tones = sum(np.sin(2 * np.pi * f * time + f) for f in (220.0, 277.18, 329.63, 440.0))
    return np.tile(amplitude * tones, (2, 1)).astype(np.float32)


def mp3_with_dropout(path: Path, milliseconds: float) -> tuple[Path, int]:
    """The chord with ``milliseconds`` of digital silence cut in at CUT, written to ``path`` as
    an MP3 at 128 kbps (pedalboard's encoder); and where the cut stops."""
    audio = chord()
    stop = CUT + round(milliseconds * RATE / 1000)
    audio[:, CUT:stop] = 0.0
    with AudioFile(str(path), "w", RATE, 2, quality=128) as file:
        file.write(audio)
    return path, stop


def test_a_15_ms_dropout_in_an_mp3_is_found_by_diagnose(tmp_path: Path, capsys) -> None:
    """The codec fills the dropout with its ringing (not silent for 90 % of it: the scanner's
    three ways miss it, and did: as an array, without the file, it is still not found). Read
    from the .mp3, ``diagnose`` finds it, its edges within EDGE of the cut's, and says which
    rule found it."""
    path, stop = mp3_with_dropout(tmp_path / "cut.mp3", 15)
    decoded, info = read_audio(path)
    assert info.lossy
    assert np.mean(np.max(np.abs(decoded[:, CUT:stop]), axis=0) <= QUIET) < 0.9
    assert dropouts.find(decoded, RATE) == []
    assert main(["diagnose", str(path), "--json"]) == 0
    ((found,),) = [json.loads(capsys.readouterr().out)["dropouts"]]
    assert found["lossy"] is True and found["channels"] == [1, 2]
    assert abs(found["start"] - CUT / RATE) < EDGE and abs(found["end"] - stop / RATE) < EDGE
    assert main(["diagnose", str(path)]) == 0
    assert f"1 dropout(s): {found['start']:.4f}-{found['end']:.4f} s ({LOSSY_DIP})" in (
        capsys.readouterr().out
    )


def test_the_same_dip_in_a_wav_is_left_alone(tmp_path: Path, capsys) -> None:
    """The decoded MP3 stored as a float WAV: the same samples, the same dip, but a WAV is not
    lossy coded, and a dip as deep is a hard gate over a quiet bed there: not found."""
    path, _ = mp3_with_dropout(tmp_path / "cut.mp3", 15)
    decoded, _ = read_audio(path)
    wav = tmp_path / "cut.wav"
    sf.write(wav, decoded.T, RATE, subtype="FLOAT")
    assert not read_audio(wav)[1].lossy
    assert main(["diagnose", str(wav), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dropouts"] == []


def test_lossy_flag_finds_the_dip_in_an_exported_wav(tmp_path: Path, capsys) -> None:
    """An MP3 a DAW exported as a float WAV (the REAPER actions' jobs): ``--lossy`` says what the
    format no longer does, and ``diagnose`` and ``restore --gap auto`` find the dip as in the
    .mp3 (the same edges within EDGE); without it, nothing (the test above)."""
    path, stop = mp3_with_dropout(tmp_path / "cut.mp3", 15)
    wav = tmp_path / "cut.wav"
    sf.write(wav, read_audio(path)[0].T, RATE, subtype="FLOAT")
    assert main(["diagnose", str(wav), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dropouts"] == []
    assert main(["diagnose", str(wav), "--json", "--lossy"]) == 0
    ((found,),) = [json.loads(capsys.readouterr().out)["dropouts"]]
    assert found["lossy"] is True
    assert abs(found["start"] - CUT / RATE) < EDGE and abs(found["end"] - stop / RATE) < EDGE
    out = tmp_path / "out.wav"
    args = ["restore", str(wav), "--gap", "auto", "--lossy", "-o", str(out), "--json"]
    assert main(args) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    ((start, end),) = done["details"][LOSSY_GAPS]
    assert abs(start - CUT / RATE) < EDGE and abs(end - stop / RATE) < EDGE


def test_restore_gap_auto_fills_the_dip_and_says_so(tmp_path: Path, capsys) -> None:
    """``restore --gap auto`` on the MP3: the dip is the one gap found, named in the details
    (``gaps_found_lossy``) and in a note."""
    path, stop = mp3_with_dropout(tmp_path / "cut.mp3", 15)
    out = tmp_path / "out.wav"
    args = ["restore", str(path), "--task", "inpaint", "--gap", "auto", "-o", str(out), "--json"]
    assert main(args) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    ((start, end),) = done["details"][FOUND_GAPS]
    assert done["details"][LOSSY_GAPS] == [[start, end]]
    assert abs(start - CUT / RATE) < EDGE and abs(end - stop / RATE) < EDGE
    assert any("found as dips through the lossy codec" in note["text"] for note in done["notes"])


def test_a_batch_render_of_the_mp3_fills_the_dip(tmp_path: Path) -> None:
    """The batch reads it as it streams (:class:`.coded.DipScanner`): the same dip filled, in
    the file's note; the same audio as a WAV: nothing found."""
    from bridge.batch import chain_from_dict, render_file

    path, stop = mp3_with_dropout(tmp_path / "cut.mp3", 15)
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    rendered = render_file(path, tmp_path / "out.wav", chain)
    assert rendered.repairs == {"gaps_filled": 1}
    ((note,),) = [[n for n in rendered.notes if "found as dips through the lossy codec" in n]]
    start, end = (float(t) for t in note.rpartition(": ")[2].removesuffix(" s").split("-"))
    assert abs(start - CUT / RATE) < EDGE and abs(end - stop / RATE) < EDGE
    wav = tmp_path / "cut.wav"
    sf.write(wav, read_audio(path)[0].T, RATE, subtype="FLOAT")
    assert render_file(wav, tmp_path / "out2.wav", chain).repairs == {"gaps_filled": 0}


def test_a_long_dropout_through_mp3_is_not_named_a_dip(tmp_path: Path, capsys) -> None:
    """400 ms cut in, through MP3: the codec keeps most of it digital silence, found by the
    scanner's own way; the dip at its smeared edge had named it "a dip through the codec" (the
    rule for short dropouts the codec fills: a user trial). Found the same, named a dip by
    none: diagnose, ``restore --gap auto`` (no ``gaps_found_lossy``), the batch's note."""
    from bridge.batch import chain_from_dict, render_file

    path, stop = mp3_with_dropout(tmp_path / "cut.mp3", 400)
    decoded, _ = read_audio(path)
    assert np.mean(np.max(np.abs(decoded[:, CUT:stop]), axis=0) == 0.0) > 0.8
    assert main(["diagnose", str(path), "--json"]) == 0
    ((found,),) = [json.loads(capsys.readouterr().out)["dropouts"]]
    assert "lossy" not in found
    assert abs(found["start"] - CUT / RATE) < EDGE and abs(found["end"] - stop / RATE) < EDGE
    out = tmp_path / "out.wav"
    args = ["restore", str(path), "--task", "inpaint", "--gap", "auto", "-o", str(out), "--json"]
    assert main(args) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    ((start, end),) = done["details"][FOUND_GAPS]
    assert (round(start, 4), round(end, 4)) == (found["start"], found["end"])
    assert LOSSY_GAPS not in done["details"]
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    rendered = render_file(path, tmp_path / "out2.wav", chain)
    assert rendered.repairs == {"gaps_filled": 1}
    assert not [note for note in rendered.notes if "found as dips" in note]


def test_the_streaming_dips_are_the_whole_files() -> None:
    """:class:`.coded.DipScanner` fed in blocks of 1001 samples (not whole frames) finds what
    :func:`.coded.dips` finds in the whole: three dips 40 dB down, one 5 ms from the end (left:
    no music after it)."""
    audio = np.tile(chord(seconds=3.0), (1, 1))
    for first, milliseconds in ((30000, 10), (70000, 25), (audio.shape[1] - 441 - 220, 10)):
        audio[:, first : first + RATE * milliseconds // 1000] *= 0.01
    whole, _ = coded.dips(audio, 44)
    assert len(whole) == 2
    scanner = coded.DipScanner(44, 500)
    found = [run for at in range(0, audio.shape[1], 1001)
             for run in scanner.scan(audio[:, at : at + 1001], at)]  # fmt: skip
    assert found + scanner.finish() == whole


@pytest.mark.parametrize("depth_db, found", [(coded.DIP_DB - 10, 0), (coded.DIP_DB + 15, 1)])
def test_a_dip_is_a_dropout_only_far_under_the_music_and_in_lossy_input(depth_db, found) -> None:
    """10 ms of the chord played ``depth_db`` down (above QUIET: the scanner reads nothing): a
    dropout of lossy input at DIP_DB + 15 dB, music dipping at DIP_DB - 10 dB (real music dips
    19.6 dB at most); never in input that was not lossy coded (a gate)."""
    audio = chord()
    audio[:, CUT : CUT + RATE // 100] *= 10 ** (-depth_db / 20)
    scanner = DropoutScanner.at_rate(RATE)
    assert scanner.scan(audio, 0) + scanner.finish() == []  # the scanner's three ways
    assert len(dropouts.find_runs(audio, RATE, lossy=True)[0]) == found
    assert dropouts.find_runs(audio, RATE) == ([], [])


def test_the_music_beside_must_be_above_the_floor() -> None:
    """The same 40 dB dip with the chord DIP_FLOOR_DB under its own level 5 dB further down is
    left alone (quiet music stored in few bits rounds its rests to steps); at the chord's level
    it is found, within the dip."""
    power_db = 10 * np.log10(np.mean(np.square(chord(), dtype=np.float64)))
    gain = 10 ** ((coded.DIP_FLOOR_DB - 5 - power_db) / 20)
    audio = chord(amplitude=0.1 * gain)
    stop = CUT + RATE // 100
    audio[:, CUT:stop] *= 10 ** (-40 / 20)
    assert coded.dips(audio, RATE // 1000) == ([], [])
    louder = chord()
    louder[:, CUT:stop] *= 10 ** (-40 / 20)
    ((first, last),), _ = coded.dips(louder, 44)
    assert CUT <= first and last <= stop


@pytest.mark.parametrize(
    "suffix, subtype, dtype, lossy",
    [(".mp3", "MPEG_LAYER_III", "float32", True), (".ogg", "VORBIS", "float32", True),
     (".ogg", "OPUS", "float32", True), (".flac", "PCM_16", "int16", False),
     (".wav", "FLOAT", "float32", False), (".m4a", None, "float32", True),
     (".m4a", None, "int16", False)],
)  # fmt: skip
def test_which_inputs_are_lossy_coded(suffix, subtype, dtype, lossy) -> None:
    """libsndfile's codec where it read the file; else the extension, where it decoded to
    float (AAC in .m4a; ALAC, lossless, in .m4a decodes to integers)."""
    assert lossy_coded(suffix, subtype, dtype) is lossy


def _gated_saw_mp3(tmp_path: Path, offs_per_second: int) -> np.ndarray:
    """2 s of a 220 Hz saw gated off half of each 1/``offs_per_second`` s, over a 40 Hz bass 46 dB
    down, through a 128 kbps MP3 and decoded (stereo; read as lossy coded)."""
    time = np.arange(2 * RATE) / RATE
    saw = 0.3 * (2 * ((time * 220) % 1) - 1) * (((time * offs_per_second) % 1) < 0.5)
    bass = 0.3 * 10 ** (-46 / 20) * np.sin(2 * np.pi * 40 * time)
    path = tmp_path / f"gated_{offs_per_second}.mp3"
    with AudioFile(str(path), "w", RATE, 2, quality=128) as file:
        file.write(np.tile(saw + bass, (2, 1)).astype(np.float32))
    decoded, info = read_audio(path)
    assert info.lossy
    return decoded


def test_a_hard_gate_in_an_mp3_is_not_a_dropout(tmp_path: Path, monkeypatch) -> None:
    """A saw gated 1/16 at 120 bpm (62.5 ms off every 125 ms) over a 40 Hz bass 46 dB down, as
    an MP3: each off dips under the codec as deep as a dropout, but for longer than
    MAX_DIP_FRAMES (a dropout that long keeps digital silence for the scanner): none is found,
    also with no GATE_FRAMES (the train rule, which leaves these offs alone too, set aside);
    read up to 2 s, the rule finds the offs."""
    decoded = _gated_saw_mp3(tmp_path, offs_per_second=8)
    assert dropouts.find_runs(decoded, RATE, lossy=True) == ([], [])
    monkeypatch.setattr(coded, "GATE_FRAMES", 0)
    assert dropouts.find_runs(decoded, RATE, lossy=True) == ([], [])
    monkeypatch.setattr(coded, "MAX_DIP_FRAMES", 2000)
    assert len(dropouts.find_runs(decoded, RATE, lossy=True)[0]) >= 10


def test_a_stutter_gate_in_an_mp3_is_not_a_dropout(tmp_path: Path, monkeypatch) -> None:
    """A saw gated 31.25 ms off every 62.5 ms over a 40 Hz bass 46 dB down, as an MP3: each off
    dips as deep and as long as a 30 ms dropout through the codec, but the next lies within
    GATE_FRAMES: none is found; with no such reach the rule finds the offs."""
    decoded = _gated_saw_mp3(tmp_path, offs_per_second=16)
    assert dropouts.find_runs(decoded, RATE, lossy=True) == ([], [])
    monkeypatch.setattr(coded, "GATE_FRAMES", 0)
    assert len(dropouts.find_runs(decoded, RATE, lossy=True)[0]) >= 20


@pytest.mark.parametrize(
    "count, apart_ms, found",
    [(coded.GATE_COUNT - 1, coded.GATE_FRAMES - 10, coded.GATE_COUNT - 1),
     (coded.GATE_COUNT, coded.GATE_FRAMES - 10, 0),
     (coded.GATE_COUNT, coded.GATE_FRAMES + 10, coded.GATE_COUNT)],
)  # fmt: skip
def test_a_train_of_dips_is_a_gates_offs(count, apart_ms, found) -> None:
    """``count`` 10 ms dips 40 dB down, each ``apart_ms`` from the one before (edge to edge),
    and one more 1 s on: a train of GATE_COUNT within GATE_FRAMES is a gate's offs, left
    alone and told as a gate (its first dip's start to its last's stop, its offs); fewer (a
    burst), or dips farther apart, are dropouts; the last stands alone. The streaming
    :class:`.coded.DipScanner` (blocks of 1001 samples) tells the same."""
    audio = chord(seconds=3.0)
    starts = [30000 + index * (441 + apart_ms * 441 // 10) for index in range(count)]
    for first in [*starts, starts[-1] + 441 + RATE]:
        audio[:, first : first + 441] *= 0.01
    whole, gates = coded.dips(audio, 44)
    assert len(whole) == found + 1
    assert whole[-1][0] >= starts[-1] + RATE  # the lone one
    scanner = coded.DipScanner(44, 500)
    streamed = [run for at in range(0, audio.shape[1], 1001)
                for run in scanner.scan(audio[:, at : at + 1001], at)]  # fmt: skip
    assert streamed + scanner.finish() == whole
    # the gate's dips told (the lone dip 1 s on is no gate's), to the frame (44 samples) the
    # dips are read in
    assert len(gates) == (found == 0) and scanner.trains.gates == gates
    for gate in gates:
        assert len(gate) == count
        for (first, stop), start in zip(gate, starts, strict=True):
            assert abs(first - start) < 44 and abs(stop - start - 441) < 44


def test_a_burst_left_alone_as_a_gates_offs_is_said(tmp_path: Path, capsys, monkeypatch) -> None:
    """GATE_COUNT dropouts of 15 ms, 150 ms apart, in the chord as an MP3: dips in a gate's
    rhythm, left alone (no dropout found, nothing filled), and said: ``diagnose`` names the
    train and each dip (``gates``), ``restore --gap auto`` in its details (``gates_left_alone``)
    and a warning, a batch render in the file's note, both pictures hatch each dip; each dip
    within EDGE of its cut."""
    from bridge.batch import chain_from_dict, render_file
    from bridge.cli.picture import GATE_LABEL
    from diffmusic_engine.evaluation import plots

    drawn: list = []  # the offs each picture hatched
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        drawn.extend(s.spans for s in view["shadings"] if s.label == GATE_LABEL),
        path.write_bytes(b"\x89PNG"))[1])  # fmt: skip

    audio = chord(seconds=3.0)
    starts = [CUT + index * RATE * 150 // 1000 for index in range(coded.GATE_COUNT)]
    cuts = [(first, first + RATE * 15 // 1000) for first in starts]
    for first, stop in cuts:
        audio[:, first:stop] = 0.0
    path = tmp_path / "burst.mp3"
    with AudioFile(str(path), "w", RATE, 2, quality=128) as file:
        file.write(audio)

    def near(dips: list) -> bool:  # the dips (seconds) are the cuts
        return len(dips) == len(cuts) and all(
            abs(start - first / RATE) < EDGE and abs(end - stop / RATE) < EDGE
            for (start, end), (first, stop) in zip(dips, cuts, strict=True)
        )

    assert main(["diagnose", str(path), "--json", "--spectrogram", str(tmp_path / "a.png")]) == 0
    found = json.loads(capsys.readouterr().out)
    ((gate,),) = [found["gates"]]
    assert found["dropouts"] == [] and near([(d["start"], d["end"]) for d in gate["dips"]])
    assert (gate["start"], gate["end"]) == (gate["dips"][0]["start"], gate["dips"][-1]["end"])
    assert main(["diagnose", str(path)]) == 0
    assert f"({len(cuts)} dip(s): " in capsys.readouterr().out
    out = tmp_path / "out.wav"
    args = ["restore", str(path), "--task", "inpaint", "--gap", "auto", "-o", str(out), "--json"]
    assert main([*args, "--spectrogram", str(tmp_path / "b.png")]) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    ((dips,),) = [done["details"][GATES]]
    assert len(drawn) == 2 and all(near(spans) for spans in drawn)
    assert FOUND_GAPS not in done["details"] and near(dips)
    said = [n for n in done["notes"] if "left alone as a stutter gate's offs" in n["text"]]
    assert [note["level"] for note in said] == ["warning"]
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    rendered = render_file(path, tmp_path / "out2.wav", chain)
    assert rendered.repairs == {"gaps_filled": 0}
    ((note,),) = [[n for n in rendered.notes if "left alone as a stutter gate's offs" in n]]
    assert said[0]["text"].replace("--gap", "gaps") in note


@pytest.mark.parametrize("silent", [(0, 1, 2, 3), (0, 2)])
def test_a_gates_offs_the_scanner_found_are_not_said_left_alone(silent) -> None:
    """GATE_COUNT cuts of 15 ms, 140-170 ms apart, in the chord read as lossy: those in
    ``silent`` digital silence (the scanner's runs: found and filled; unevenly spaced, no gate's
    of :func:`.coded.ungated`), the others 40 dB down (dips alone). The dips make a train, a
    gate's; only the dips no run holds are said left alone, whole file and streamed (the batch's
    note): none when all four are found (all four had been said)."""
    from bridge.batch.restorer import Restorer

    audio = chord(seconds=3.0)
    starts = [CUT + RATE * ms // 1000 for ms in (0, 150, 320, 460)]
    cuts = [(first, first + RATE * 15 // 1000) for first in starts]
    for index, (first, stop) in enumerate(cuts):
        audio[:, first:stop] *= 0.0 if index in silent else 0.01
    found, _, _, gates = dropouts.find_all(audio, RATE, lossy=True)
    assert [run[:2] for run in found] == [cuts[index] for index in silent]
    left = [cut for index, cut in enumerate(cuts) if index not in silent]
    assert [len(gate) for gate in gates] == ([len(left)] if left else [])
    for (first, stop), (start, end) in zip(gates[0] if gates else [], left, strict=True):
        assert abs(first - start) < 44 and abs(stop - end) < 44  # to the frame dips are read in
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, audio.shape[1], lossy=True)
    for at in range(0, audio.shape[1], 4001):
        stream.push(audio[:, at : at + 4001])
    stream.finish()
    assert stream.finder.gated == gates
    note = Restorer.note_of(stream) or ""
    assert ("left alone as a stutter gate's offs" in note) is bool(left)


def test_a_dip_widened_over_one_channels_silence_keeps_its_label() -> None:
    """A 10 ms dip 40 dB down on both channels, channel 1 digital silence from 5 ms before it
    into it (a dropout that hits the channels a few ms apart): one dropout on both channels,
    taken over that silence, still told as the lossy rule's."""
    audio = chord()
    audio[:, CUT : CUT + 441] *= 0.01
    audio[0, CUT - 220 : CUT + 88] = 0.0
    found, _, dipped, _ = dropouts.find_all(audio, RATE, lossy=True)
    ((first, stop, channels),) = found
    assert first <= CUT - 220 and stop >= CUT + 441 and channels == (0, 1)
    assert dipped == [(first, stop)]
    ((finding,),) = [dropouts.detect_all(audio, RATE, lossy=True)["dropouts"]]
    assert finding["lossy"] is True


def test_a_dip_waiting_for_its_train_is_filled_before_a_later_dropout() -> None:
    """A 10 ms dip 40 dB down at CUT and 20 ms of digital silence 200 ms on (decided at once,
    while the dip waits GATE_FRAMES for its train), streamed by the batch with 50 ms of context:
    the runs are handed out in order, and the dip is filled from the edge the whole file's rule
    widens it to (added after the later dropout's region, it was cut at that region's start)."""
    from bridge.batch.restorer import Restorer

    audio = chord(seconds=3.0)
    audio[:, CUT : CUT + 441] *= 0.01
    silence = CUT + RATE // 5
    audio[:, silence : silence + 882] = 0.0
    (dip, dropout), _, dipped, _ = dropouts.find_all(audio, RATE, lossy=True)
    assert dipped == [dip[:2]] and dip[0] < CUT and dropout[0] == silence
    stream = Restorer(task="inpaint", gaps="auto", context_seconds=0.05).stream(
        RATE, 2, audio.shape[1], lossy=True
    )
    told, scan = [], stream.finder.scan

    def telling(block: np.ndarray, position: int) -> list:
        told.extend(found := scan(block, position))
        return found

    stream.finder.scan = telling
    out = [stream.push(audio[:, at : at + 4096]) for at in range(0, audio.shape[1], 4096)]
    out = np.concatenate([*out, stream.finish()], axis=1)
    assert told == sorted(told) and len(told) >= 2
    changed = np.flatnonzero(np.any(out != audio, axis=0))
    assert dip[0] <= changed[0] < CUT and changed[-1] < dropout[1]
