"""Digital silence at a file's start or end that cuts the music off (diagnose.cut_ends): named
with the gap that fills it; a song's own fade or decay into digital silence is not."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bridge.batch import Restorer
from bridge.cli import main
from bridge.notes import notes_of
from diffmusic_engine.api import restore
from diffmusic_engine.backends import CUT_ENDS, FOUND_GAPS
from diffmusic_engine.damage import Inpaint
from diffmusic_engine.diagnose import cut_ends, diagnose, pause_edges
from diffmusic_engine.diagnose.dropouts import QUIET
from diffmusic_engine.evaluation.corpus import REAL_DIR


@pytest.fixture(scope="module")
def song() -> tuple[np.ndarray, int]:
    """A real rock mix (war_of_freedom's backing and guitar, 6 s at 44.1 kHz), ``(2, samples)``."""
    backing, rate = sf.read(REAL_DIR / "war_of_freedom_backing.flac", dtype="float64")
    guitar, _ = sf.read(REAL_DIR / "war_of_freedom_guitar.flac", dtype="float64")
    return (0.7 * (backing + guitar)).T.copy(), rate


def _faded(audio: np.ndarray, rate: int, stop: int, seconds: float, linear: bool) -> np.ndarray:
    """``audio`` fading out over ``seconds`` to ``stop`` (to zero, or 60 dB down in dB), then
    digital silence to the end: a song's own end."""
    out, count = audio.copy(), int(seconds * rate)
    ramp = np.linspace(0, 1, count, endpoint=False)
    out[:, stop - count : stop] *= 1 - ramp if linear else 10 ** (-3 * ramp)
    out[:, stop:] = 0.0
    return out


def test_a_cut_at_either_end_is_named_with_its_gap(song) -> None:
    """The music cut off at its level (4.0 s to the end; the start to 1.0 s): every channel,
    the exact span, which end. The dropout rule reads inside the recording only: none there."""
    audio, rate = song
    length = audio.shape[1]
    cut = audio.copy()
    cut[:, 4 * rate :] = 0.0
    cut[:, :rate] = 0.0
    assert cut_ends.find(cut, rate) == [
        (0, rate, (0, 1), "start"),
        (4 * rate, length, (0, 1), "end"),
    ]
    found = diagnose(cut.astype(np.float32), rate)
    assert found["dropouts"] == [] and found["pauses"] == []
    assert found["cut_ends"] == [
        {"start": 0.0, "end": 1.0, "channels": [1, 2], "at": "start"},
        {"start": 4.0, "end": length / rate, "channels": [1, 2], "at": "end"},
    ]


@pytest.mark.parametrize("seconds", [1.0, 3.0])
@pytest.mark.parametrize("linear", [True, False])
def test_a_song_fading_in_or_out_of_digital_silence_is_no_cut(song, seconds, linear) -> None:
    """A fade out (to zero, or 60 dB down in dB, then digital silence) and the same reversed (a
    fade in out of silence): the side reads as a fade ending in nothing (the pause rule's), on
    every channel or on one alone (a part fading out while the other channel plays on)."""
    audio, rate = song
    faded = _faded(audio, rate, 5 * rate, seconds, linear)
    assert pause_edges.fades_to_nothing(
        pause_edges.edge(faded[:, : 5 * rate][:, ::-1], faded[:, : 5 * rate][:, ::-1], rate // 1000)
    )
    assert cut_ends.find(faded, rate) == []
    assert cut_ends.find(faded[:, ::-1], rate) == []
    one = np.stack([audio[0], faded[1]])
    assert cut_ends.find(one, rate) == [] and cut_ends.find(one[:, ::-1], rate) == []


def test_one_channel_cut_at_the_end_is_named_on_that_channel(song) -> None:
    """Channel 2 silent from 4.0 s while channel 1 plays on: that channel's span alone."""
    audio, rate = song
    cut = audio.copy()
    cut[1, 4 * rate :] = 0.0
    assert cut_ends.find(cut, rate) == [(4 * rate, audio.shape[1], (1,), "end")]
    alone = audio.copy()  # the other channel silent there too: every channel's, said once
    alone[:, 4 * rate :] = 0.0
    alone[1, 3 * rate :] = 0.0
    assert cut_ends.find(alone, rate) == [
        (3 * rate, audio.shape[1], (1,), "end"),
        (4 * rate, audio.shape[1], (0, 1), "end"),
    ]


def test_silence_after_music_under_the_quiet_level_or_short_is_not_said(song) -> None:
    """The song played 80 dB down (its 10 ms at the cut under QUIET: nothing to hear cut off),
    and 40 ms of silence at the end (under CUT_MIN_SECONDS: a codec's or editor's padding)."""
    audio, rate = song
    quiet = audio * 1e-4
    assert np.sqrt(np.mean(quiet[:, 4 * rate - rate // 100 : 4 * rate] ** 2)) < QUIET
    quiet[:, 4 * rate :] = 0.0
    assert cut_ends.find(quiet, rate) == []
    short = audio.copy()
    short[:, -int(0.04 * rate) :] = 0.0
    assert cut_ends.find(short, rate) == []
    short[:, -int(0.06 * rate) :] = 0.0
    assert len(cut_ends.find(short, rate)) == 1


def test_diagnose_says_where_and_the_gap_to_give(song, tmp_path, capsys) -> None:
    """The table line names the span, the end and the --gap that fills it; --json holds it."""
    audio, rate = song
    cut = audio.copy()
    cut[1, : rate // 2] = 0.0  # channel 2 came in late
    cut[:, 4 * rate :] = 0.0
    path = tmp_path / "cut.wav"
    sf.write(path, cut.T, rate, subtype="PCM_24")
    assert main(["diagnose", str(path), "-q"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cut_ends"))
    assert line == (
        "cut_ends      digital silence on channel 2 of 2 from the start to 0.5000 s, the music "
        "after it not fading in (--gap 0.0000:0.5000); digital silence from 4.0000 s to the end "
        "(6.0000 s), the music before it not fading out (--gap 4.0000:6.0000): if the music was "
        "cut off there (a transfer that cut out or came in late), give the --gap (--gap auto "
        "leaves a file's ends alone); a file that starts or stops on a hit (a loop, a stem, a "
        "render) reads the same: leave it"
    )
    assert main(["diagnose", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cut_ends"] == [
        {"start": 0.0, "end": 0.5, "channels": [2], "at": "start"},
        {"start": 4.0, "end": 6.0, "channels": [1, 2], "at": "end"},
    ]


def test_preset_out_with_only_a_cut_end_says_why_no_preset(song, tmp_path, capsys) -> None:
    """diagnose --preset-out on a file whose one finding is a cut end writes no preset (nothing
    acts on a file's ends: a start on a hit reads the same) and says why, not "no damage
    found" under a table that names one."""
    audio, rate = song
    cut = audio.copy()
    cut[:, 4 * rate :] = 0.0
    path, preset = tmp_path / "cut.wav", tmp_path / "cut.toml"
    sf.write(path, cut.T, rate, subtype="PCM_24")
    assert main(["diagnose", str(path), "-q", "--preset-out", str(preset)]) != 0
    error = capsys.readouterr().err
    assert "1 run(s) of digital silence at the file's start or end" in error
    assert "the cut_ends line lists them" in error and not preset.exists()


def test_restore_gap_auto_names_a_cut_end_it_leaves_alone(song) -> None:
    """``--gap auto`` fills no file's end: with a dropout inside (0.2 s at 2.0 s) and the music
    cut off at 4.0 s to the end, it fills the dropout and its note names the end with its gap,
    diagnose's line; the end's samples stay digital silence."""
    audio, rate = song
    length = audio.shape[1]
    cut = audio.astype(np.float32)
    cut[:, 2 * rate : round(2.2 * rate)] = 0.0
    cut[:, 4 * rate :] = 0.0
    restoration = restore(cut, rate, Inpaint(gaps="auto"))
    assert restoration.details[FOUND_GAPS] == [[2.0, 2.2]]
    line = cut_ends.line([{"start": 4.0, "end": length / rate, "channels": [1, 2], "at": "end"}], 2)
    assert restoration.details[CUT_ENDS] == [line]
    assert f"(--gap 4.0000:{length / rate:.4f})" in line
    assert {"level": "note", "text": line} in notes_of(restoration.details)
    assert not restoration.audio[:, 4 * rate :].any()


def test_the_batch_s_nothing_found_note_names_where_a_cut_end_is_told(song) -> None:
    """A batch step with ``gaps="auto"`` streams the file and reads no cut end
    (docs/protocol.md): its note, the engine's nothing-found reason, points to diagnose's
    ``cut_ends`` for the music cut off at 4.0 s (it had said the end was named in a note, and
    the batch's note named none)."""
    audio, rate = song
    cut = audio.astype(np.float32)
    cut[:, 4 * rate :] = 0.0
    stream = Restorer(task="inpaint", gaps="auto").stream(rate, *cut.shape)
    out = np.concatenate([stream.push(cut), stream.finish()], axis=1)
    note = Restorer.note_of(stream)
    np.testing.assert_array_equal(out, cut)
    assert note is not None and note.startswith("inpaint: no dropout found")
    assert "named by diagnose's cut_ends" in note and "named in a note where" not in note
