"""A stutter gate cut to digital silence in a WAV (:func:`diffmusic_engine.diagnose.coded.ungated`):
GATE_COUNT silent runs or more in a row, evenly spaced and alike in length within
GATE_JITTER_FRAMES, are a gate's offs, left alone and said as a lossy codec's gates are, while a
burst of dropouts spaced unevenly is filled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main
from diffmusic_engine.backends import FOUND_GAPS, GATES
from diffmusic_engine.diagnose import coded, dropouts

RATE = 44100
MS = RATE // 1000  # samples in a millisecond (the scanner's frame at 44.1 kHz)


def chord(seconds: float = 3.0) -> np.ndarray:
    """A steady A major chord, 0.1 each tone, the same on both channels, ``(2, samples)``."""
    time = np.arange(round(seconds * RATE)) / RATE
    tones = sum(np.sin(2 * np.pi * f * time + f) for f in (220.0, 277.18, 329.63, 440.0))
    return np.tile(0.1 * tones, (2, 1)).astype(np.float32)


def gated(audio: np.ndarray, step: float, off: float, first: float, last: float, ramp: int = 0):
    """``audio`` cut to exact zeros for the last ``off`` s of each ``step`` s from ``first`` to
    ``last`` s (``ramp``: samples of a linear fade out and in beside each off); and the offs."""
    gain, offs = np.ones(audio.shape[1]), []
    for start in np.arange(first, last - step / 2, step):
        cut, back = round((start + step - off) * RATE), round((start + step) * RATE)
        gain[cut:back] = 0.0
        gain[cut - ramp : cut] = np.linspace(1.0, 0.0, ramp + 1)[:-1]
        gain[back : back + ramp] = np.linspace(0.0, 1.0, ramp + 1)[1:]
        offs.append((cut, back))
    return (audio * gain).astype(np.float32), offs


@pytest.mark.parametrize(("step", "off", "ramp"), [(0.125, 0.0625, 0), (0.0625, 0.03125, 44),
                                                   (0.25, 0.0625, 88)])  # fmt: skip
def test_a_gate_to_digital_silence_is_left_alone_and_said(step, off, ramp) -> None:
    """A 1/16 gate at 120 bpm (62.5 ms off every 125 ms), a 1/32 one with 1 ms ramps and a 1/8
    one with 2 ms, over 1-2.5 s of the chord: no dropout found, one gate of every off (each dip
    within its ramp of the off, and a sample), whole file and streamed as the batch streams
    (blocks of 4001: the same gate, nothing filled)."""
    from bridge.batch.restorer import Restorer

    audio, offs = gated(chord(), step, off, 1.0, 2.5, ramp)
    found, pauses, _, gates = dropouts.find_all(audio, RATE, lossy=False)
    assert found == [] and pauses == [] and len(offs) == round(1.5 / step)
    ((*dips,),) = gates
    assert len(dips) == len(offs)
    near = ramp + 1  # a sample more where the chord crosses zero beside the off
    pairs = zip(dips, offs, strict=True)
    assert all(abs(a - c) <= near and abs(b - d) <= near for (a, b), (c, d) in pairs)
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, audio.shape[1])
    out = [stream.push(audio[:, at : at + 4001]) for at in range(0, audio.shape[1], 4001)]
    assert np.array_equal(np.concatenate([*out, stream.finish()], axis=1), audio)  # none filled
    assert stream.finder.gated == gates


@pytest.mark.parametrize(
    ("apart_ms", "gate"),
    [((30, 30, 30, 30, 30), True), ((30, 30 + coded.GATE_JITTER_FRAMES, 30, 30, 30), True),
     ((30, 31 + coded.GATE_JITTER_FRAMES, 30, 31 + coded.GATE_JITTER_FRAMES, 30), False),
     ((20, 75, 40, 100, 55), False)],
)  # fmt: skip
def test_a_burst_of_dropouts_spaced_unevenly_is_found(apart_ms, gate: bool) -> None:
    """Six dropouts of 10 ms (a buffer underrun's: alike) with ``apart_ms`` between them: evenly
    spaced (steps spread GATE_JITTER_FRAMES or less in every GATE_COUNT in a row) they read as a
    gate's offs, left alone; spread one frame more in every GATE_COUNT in a row, or 20-100 ms
    apart as a failing drive gives, each is a dropout, found on every channel."""
    audio, cuts, at = chord(), [], CUT
    for apart in (*apart_ms, 0):
        cuts.append((at, at + 10 * MS))
        at += (10 + apart) * MS
    for first, stop in cuts:
        audio[:, first:stop] = 0.0
    found, _, _, gates = dropouts.find_all(audio, RATE, lossy=False)
    assert [run[:2] for run in found] == ([] if gate else cuts)
    assert gates == ([cuts] if gate else [])


CUT = RATE  # the bursts start 1 s in


def test_diagnose_restore_and_the_batch_say_a_gate_in_a_wav(tmp_path: Path, capsys) -> None:
    """A 1/16 gate to digital silence in a float WAV: ``diagnose`` names it in ``gates`` (the
    table's line names each off), ``restore --gap auto`` fills nothing and lists the offs in
    ``gates_left_alone`` with a warning, the batch fills nothing and says so in the note, as for
    a lossy codec's gate."""
    from bridge.batch import chain_from_dict, render_file

    audio, offs = gated(chord(), 0.125, 0.0625, 1.0, 2.0)
    path = tmp_path / "gated.wav"
    sf.write(path, audio.T, RATE, subtype="FLOAT")
    assert main(["diagnose", str(path), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    ((gate,),) = [found["gates"]]
    assert found["dropouts"] == [] and len(gate["dips"]) == len(offs) == 8
    assert main(["diagnose", str(path)]) == 0
    assert "8 dip(s): " in capsys.readouterr().out
    out = tmp_path / "out.wav"
    args = ["restore", str(path), "--task", "inpaint", "--gap", "auto", "-o", str(out), "--json"]
    assert main(args) == 0
    done = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    ((dips,),) = [done["details"][GATES]]
    assert FOUND_GAPS not in done["details"] and len(dips) == 8
    assert (
        abs(dips[0][0] - offs[0][0] / RATE) < 1e-3 and abs(dips[-1][1] - offs[-1][1] / RATE) < 1e-3
    )
    said = [n for n in done["notes"] if "left alone as a stutter gate's offs" in n["text"]]
    assert [note["level"] for note in said] == ["warning"]
    assert said[0]["text"].endswith("(every dip is in the gates of diffmusic diagnose FILE --json)")
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    rendered = render_file(path, tmp_path / "out2.wav", chain)
    assert rendered.repairs == {"gaps_filled": 0}
    ((note,),) = [[n for n in rendered.notes if "left alone as a stutter gate's offs" in n]]
    assert said[0]["text"].replace("--gap", "gaps") in note


@pytest.mark.parametrize("ping_pong", [False, True])
def test_a_gate_on_one_channel_is_said(ping_pong: bool) -> None:
    """A 1/16 gate (62.5 ms off every 125 ms over 1-2.5 s: 12 offs) on the left channel alone,
    the right playing on (or, ``ping_pong``, gated in the other half of each step): each
    channel's offs are left alone and said as a gate of their own (:func:`.coded.said_gates`),
    whole file and streamed (nothing filled); a gate on both channels is said once (the first
    test)."""
    from bridge.batch.restorer import Restorer

    audio, offs = gated(chord(), 0.125, 0.0625, 1.0, 2.5)
    right, other = gated(chord(), 0.125, 0.0625, 1.0 - 0.0625, 2.5 - 0.0625)
    audio[1] = right[1] if ping_pong else chord()[1]
    found, pauses, _, gates = dropouts.find_all(audio, RATE, lossy=False)
    assert found == [] and pauses == [] and len(offs) == len(other) == 12
    cut = sorted([offs, other]) if ping_pong else [offs]  # a gate's dips, in order
    assert [len(gate) for gate in gates] == [len(offs) for offs in cut]
    dips = [dip for gate in gates for dip in gate]
    pairs = zip(dips, [off for offs in cut for off in offs], strict=True)
    assert all(abs(a - c) <= 1 and abs(b - d) <= 1 for (a, b), (c, d) in pairs)  # a zero beside
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, audio.shape[1])
    out = [stream.push(audio[:, at : at + 4001]) for at in range(0, audio.shape[1], 4001)]
    assert np.array_equal(np.concatenate([*out, stream.finish()], axis=1), audio)
    assert stream.finder.gated == gates


def test_a_channels_gate_whose_offs_are_filled_is_not_said() -> None:
    """The 1/16 gate on the left channel, the right cut to zeros at the same offs but ending 0,
    5 or 10 ms early in turn (unevenly: no gate on every channel): where both are silent is a
    dropout on every channel, filled, so the left channel's gate, whose dips those overlap, is
    not said left alone (:func:`.coded.left_alone`), whole file and streamed."""
    from bridge.batch.restorer import Restorer

    audio, offs = gated(chord(), 0.125, 0.0625, 1.0, 2.5)
    short = [(first, stop - (index % 3) * 5 * MS) for index, (first, stop) in enumerate(offs)]
    audio[1] = chord()[1]
    for first, stop in short:
        audio[1, first:stop] = 0.0
    found, _, _, gates = dropouts.find_all(audio, RATE, lossy=False)
    assert gates == [] and len(found) == len(short) == 12
    pairs = zip(found, short, strict=True)  # a sample over where the chord crosses zero
    assert all(abs(a - c) <= 1 and abs(b - d) <= 1 and ch == (0, 1) for (a, b, ch), (c, d) in pairs)
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, audio.shape[1])
    for at in range(0, audio.shape[1], 4001):
        stream.push(audio[:, at : at + 4001])
    stream.finish()
    assert stream.finder.gated == []


def test_a_gates_edges_to_digital_silence_are_no_clicks() -> None:
    """The 1/16 gate (hard edges) over 1-2.5 s of the chord, with a 30-sample burst at +12 dB 30 ms
    into the on at 1.75 s: ``diagnose`` lists the burst alone as a click, not the gate's edges
    (:func:`.clicks.off_gate_edges`, as in lossy input; 8 of its 24 edges had been listed)."""
    from diffmusic_engine.diagnose import diagnose

    audio, offs = gated(chord(), 0.125, 0.0625, 1.0, 2.5)
    burst = round(1.78 * RATE)
    audio[:, burst : burst + 30] *= 4.0
    found = diagnose(audio, RATE)
    assert len(found["gates"]) == 1 and len(offs) == 12
    ((click,),) = [found["clicks"]]
    assert click["start"] - 1e-3 < burst / RATE < (burst + 30) / RATE < click["end"] + 1e-3


def _through_mp3(audio: np.ndarray, path: Path) -> np.ndarray:
    """``audio`` as a 128 kbps MP3 (pedalboard's encoder), decoded as the engine reads it."""
    from pedalboard.io import AudioFile

    from diffmusic_engine.audio import read_audio

    with AudioFile(str(path), "w", RATE, audio.shape[0], quality="128 kbps") as encoder:
        encoder.write(audio)
    return read_audio(path)[0]


SHORT_ON = [(60 / bpm / 4, 0.75 * 60 / bpm / 4, 0) for bpm in (140, 174)]  # 1/16, 25 % on


@pytest.mark.parametrize(("step", "off", "ramp"), [(0.125, 0.0625, 0), (0.0625, 0.03125, 44),
                                                   (0.1, 0.07, 0), *SHORT_ON])  # fmt: skip
def test_a_gate_through_mp3_is_left_alone(tmp_path: Path, step, off, ramp) -> None:
    """Through MP3 the codec keeps a gate's silence unevenly (in frames of its own, 10-25 ms
    late): read as widened, or in the dips that hold it, the gate is even and left alone, every
    off said (before: 14 of 16, 3 of 32 and 20 of 20 offs found as dropouts); streamed as the
    batch streams too (blocks of 4001: the same gates, nothing filled; it had filled them). A
    hard 1/16 gate 25 % on at 140 and 174 bpm (80 and 65 ms offs, 27 and 22 ms of music between)
    is read on edges widened against the loudest music beside them (:func:`coded.evenness_edges`):
    the fill's widening reads the music 30-50 ms out, in the next off (before: 19 of 19 and 20
    of 23 offs found)."""
    audio, offs = gated(chord(3.0), step, off, 0.5, 2.5, ramp)
    _assert_left_alone(_through_mp3(audio, tmp_path / "gate.mp3"), offs)


def _assert_left_alone(coded_audio: np.ndarray, offs: list) -> None:
    """No dropout found in ``coded_audio`` and every one of the gate's ``offs`` said as a
    gate's, by find_all and by the batch's stream (blocks of 4001: nothing filled, the same
    gates)."""
    from bridge.batch.restorer import Restorer

    found, _, _, gates = dropouts.find_all(coded_audio, RATE, True)
    said = [dip for gate in gates for dip in gate]
    assert not found
    assert all(any(a < stop and first < b for a, b in said) for first, stop in offs)
    stream = Restorer(task="inpaint", gaps="auto").stream(RATE, 2, coded_audio.shape[1], True)
    blocks = range(0, coded_audio.shape[1], 4001)
    out = [stream.push(coded_audio[:, at : at + 4001]) for at in blocks]
    assert np.array_equal(np.concatenate([*out, stream.finish()], axis=1), coded_audio)
    assert stream.finder.gated == gates


def test_a_burst_through_mp3_whose_silence_was_kept_is_found(tmp_path: Path) -> None:
    """Five dropouts of 33-39 ms, 30-80 ms apart, through MP3: their dips are a train, uneven,
    and the silence the codec kept in four of them is found, as before."""
    audio, cuts, at = chord(3.0), [], RATE
    for length, gap in [(35, 30), (38, 80), (33, 50), (36, 60), (39, 40)]:
        cuts.append((at, at + length * MS))
        audio[:, at : at + length * MS] = 0.0
        at += (length + gap) * MS
    found, _, _, _ = dropouts.find_all(_through_mp3(audio, tmp_path / "burst.mp3"), RATE, True)
    assert sum(any(a < stop and first < b for a, b, _ in found) for first, stop in cuts) >= 4


def test_declick_leaves_a_gates_edges_alone_and_repairs_a_click() -> None:
    """The same gate and burst through declick run by hand (``restore --task declick``): the
    burst's span alone is repaired, every sample outside it as it was (the gate is the intended
    audio; its edges had been smoothed as clicks, :func:`.clicks.off_edges`)."""
    from diffmusic_engine.backends import REPAIRED_CLICKS
    from diffmusic_engine.damage import Declick
    from diffmusic_engine.dsp.declick import restore_declick

    audio, offs = gated(chord(), 0.125, 0.0625, 1.0, 2.5)
    burst = round(1.78 * RATE)
    audio[:, burst : burst + 30] *= 4.0
    (out, _), details = restore_declick(audio, RATE, Declick(), {}, None)
    ((start, end),) = details[REPAIRED_CLICKS]
    first, stop = round(start * RATE), round(end * RATE)
    assert first <= burst < burst + 30 <= stop
    assert np.array_equal(np.delete(out, np.s_[first:stop], axis=1),
                          np.delete(audio, np.s_[first:stop], axis=1))  # fmt: skip


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_a_gates_edges_are_read_against_the_loudest_music_beside(rate: int, channels: int) -> None:
    """:func:`coded.evenness_edges` on built runs (``f``: the scanner's 1 ms frame): the frames
    from each edge on that are EDGE_DB or more under the loudest within WIDEN_FRAMES are taken
    in, whole, and no more: 8 frames 40 dB down then 10 of music then the next run take in 8
    (the fill's widening, reading the music's median 30-50 frames out, takes none there); 30
    frames 40 dB down then music take in 30; 10 dB down, none; never past a neighbouring run
    (the quiet between two runs 4 frames apart is under nothing louder on its side: none), nor
    the audio's ends; none where the loudest beside is under DIP_FLOOR_DB (nothing to read an
    edge on, though 10 frames 100 dB down lie 27 dB under it); runs a sample apart are one, as
    the fill widens them."""
    scanner = dropouts.DropoutScanner.at_rate(rate)
    f = scanner.edge_frame
    time = np.arange(520 * f) / rate
    audio = np.tile(0.3 * np.sin(2 * np.pi * 1000.0 * time), (channels, 1)).astype(np.float32)
    runs = [(0, 20), (60, 80), (98, 120), (130, 140), (140, 150), (170, 190), (194, 210),
            (300, 320), (420, 440), (500, 520)]  # fmt: skip
    runs = [(first * f + (first == 140), stop * f) for first, stop in runs]  # 1 sample of music
    for first, stop in runs:
        audio[:, first:stop] = 0.0
    for first, stop, gain in [(80, 88, 0.01), (50, 60, 0.3), (190, 194, 0.01), (240, 290, 1e-3),
                              (290, 300, 1e-5), (320, 330, 1e-5), (330, 380, 1e-3),
                              (390, 420, 0.01)]:  # fmt: skip
        audio[:, first * f : stop * f] *= gain
    widened = [(0, 20), (60, 88), (98, 120), (130, 150), (170, 190), (194, 210), (300, 320),
               (390, 440), (500, 520)]  # fmt: skip
    assert coded.evenness_edges(scanner, audio, runs) == [(a * f, b * f) for a, b in widened]
    assert scanner.widen(audio, runs)[1] == (60 * f, 80 * f)  # the fill's own, unchanged


def test_a_gate_over_kicks_through_mp3_is_even_read_either_way(tmp_path: Path) -> None:
    """A 1/16 gate 75 % off at 120 bpm (1-3 s) over kick-like hits every 1/8 on the chord 31 dB
    down (each hit's decay and level drawn, seeded), through MP3: before an off lies a kick's
    tail, 20 dB or more under its head, which the edges widened against the loudest frame
    (:func:`coded.evenness_edges`) take in unevenly, while the fill's widening reads the offs
    even; a train is even read either way, and the gate is left alone, whole file and streamed
    (those edges alone: 15 of the 16 offs filled; the fill's alone: none)."""
    rng = np.random.default_rng(211)  # draws 31.2 dB, 1/8 (of 1/8 or 1/16), 0.052 s
    level_db, per_beat, shift = rng.uniform(20, 45), rng.choice([2, 4]), rng.uniform(0, 0.25)
    audio = (chord(4.0) * 10 ** (-level_db / 20)).astype(np.float32)
    time = np.arange(round(0.2 * RATE)) / RATE
    for at in np.arange(0.2 + shift, 3.8, 0.5 / per_beat):
        kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-time / 0.01)) * time)
        kick *= np.exp(-time / rng.uniform(0.02, 0.08))
        hit = np.stack([kick, kick * rng.uniform(0.3, 1.0)]) * rng.uniform(0.3, 0.9)
        audio[:, int(at * RATE) : int(at * RATE) + hit.shape[1]] += hit.astype(np.float32)
    audio, offs = gated(audio, 0.125, 0.09375, 1.0, 3.0)
    assert len(offs) == 16
    _assert_left_alone(_through_mp3(audio, tmp_path / "kicks.mp3"), offs)
