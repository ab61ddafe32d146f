"""A dropout on one channel through a lossy codec: cut into the left channel of a built chord
before it is written to MP3, it keeps no digital silence, so that only a dip read on that channel
alone finds it (:func:`.coded.dipped_channels`); it is filled there, the right channel kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

from bridge.batch import chain_from_dict, render_file
from diffmusic_engine.api import restore
from diffmusic_engine.audio import read_audio
from diffmusic_engine.backends import FOUND_GAPS, KEPT_CHANNELS, LOSSY_GAPS
from diffmusic_engine.damage import Gap, Inpaint
from diffmusic_engine.diagnose import coded, dropouts, selections

RATE = 44100
CUT = 44100  # the dropout starts 1 s in
EDGE = 0.003  # seconds a found edge may lie from the cut's (the codec's ringing, the pad)
FRAME = RATE // 1000  # the dip rule's 1 ms frame


def chord(seconds: float = 2.0) -> np.ndarray:
    """A steady A major chord, a little louder on the right, ``(2, samples)`` float32."""
    time = np.arange(round(seconds * RATE)) / RATE
    tones = sum(np.sin(2 * np.pi * f * time + f) for f in (220.0, 277.18, 329.63, 440.0))
    return (0.1 * tones * np.array([[1.0], [1.2]])).astype(np.float32)


def mp3(path: Path, audio: np.ndarray) -> Path:
    with AudioFile(str(path), "w", RATE, 2, quality=128) as file:
        file.write(audio)
    return path


def left_cut(path: Path, milliseconds: float) -> tuple[np.ndarray, int]:
    """The chord with ``milliseconds`` cut to digital silence in the left channel at CUT,
    through MP3 at 128 kbps, decoded; and where the cut stops."""
    audio, stop = chord(), CUT + round(milliseconds * RATE / 1000)
    audio[0, CUT:stop] = 0.0
    decoded, info = read_audio(mp3(path / "cut.mp3", audio))
    assert info.lossy
    return decoded, stop


@pytest.mark.parametrize("milliseconds", [10, 20, 30])
def test_a_dropout_on_one_channel_of_an_mp3_is_found_on_that_channel(
    tmp_path: Path, milliseconds: float
) -> None:
    """No digital silence is left in the cut (the first rule, read on the left alone, missed it:
    nothing was found); as a dip on the left alone it is one dropout, on channel 0, its edges
    within EDGE of the cut's. Not where the input is not lossy coded (a level rule)."""
    decoded, stop = left_cut(tmp_path, milliseconds)
    assert np.mean(np.abs(decoded[0, CUT:stop]) <= dropouts.SILENCE) < dropouts.SILENT_SHARE
    ((first, last, channels),) = dropouts.find_all(decoded, RATE, lossy=True)[0]
    assert channels == (0,)
    assert abs(first - CUT) < EDGE * RATE and abs(last - stop) < EDGE * RATE
    assert dropouts.find_all(decoded, RATE, lossy=False)[0] == []


def test_the_fill_replaces_the_dipped_channel_alone(tmp_path: Path) -> None:
    """``restore --gap auto`` of the MP3 fills the left channel's dip (it had been left as it
    was) and keeps the right channel bit-identical (its channel choice, read from the audio,
    had named none: both would have been filled), and says so, and that it was found as a dip
    through the codec (no digital silence left in it; the note had told every channel's dips
    alone)."""
    decoded, stop = left_cut(tmp_path, 20)
    result = restore(decoded, RATE, Inpaint(gaps="auto"), lossy=True)
    out = result.tracks[0]
    np.testing.assert_array_equal(out[1], decoded[1])
    ((start, end),) = result.details[FOUND_GAPS]
    assert abs(start - CUT / RATE) < EDGE and abs(end - stop / RATE) < EDGE
    assert result.details[LOSSY_GAPS] == [[start, end]]  # "found as dips through the codec"
    (line,) = result.details[KEPT_CHANNELS]
    assert "channel(s) 1 of 2 dropped out" in line and "channel(s) 2 held music" in line
    # the fill brings the dip up to within 6 dB of the chord's left channel there
    clean = chord()[0, CUT:stop].astype(np.float64)
    power = np.mean(np.square(out[0, CUT:stop], dtype=np.float64))
    assert np.mean(np.square(decoded[0, CUT:stop], dtype=np.float64)) < np.mean(clean**2) / 100
    assert power > np.mean(clean**2) / 4


def test_a_given_gap_over_the_dip_keeps_the_other_channel(tmp_path: Path) -> None:
    """A gap given over the left channel's dip (the codec left no digital silence to name it
    by) fills the left alone in lossy coded input; in audio not lossy coded both."""
    decoded, stop = left_cut(tmp_path, 20)
    gap = Inpaint(gaps=(Gap((CUT - 2 * FRAME) / RATE, (stop + 2 * FRAME) / RATE),))
    kept = restore(decoded, RATE, gap, lossy=True).tracks[0]
    np.testing.assert_array_equal(kept[1], decoded[1])
    both = restore(decoded, RATE, gap).tracks[0]
    assert not np.array_equal(both[1], decoded[1])


def test_the_batch_finds_and_fills_it_as_the_engine_does(tmp_path: Path) -> None:
    """``render_file`` (the dips read as the audio streams by, on each channel too) fills the
    same one dropout on the left alone: its output is the engine's, the right channel kept, and
    its note says it was found as a dip through the codec."""
    audio, stop = chord(), CUT + round(0.015 * RATE)
    audio[0, CUT:stop] = 0.0
    path = mp3(tmp_path / "cut.mp3", audio)
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    report = render_file(path, tmp_path / "out.wav", chain)
    assert report.repairs == {"gaps_filled": 1}
    assert any("1 dropout(s) found as dips through the lossy codec" in n for n in report.notes)
    out = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)[0].T
    decoded, _ = read_audio(path)
    engine = restore(decoded, RATE, Inpaint(gaps="auto"), lossy=True).tracks[0]
    np.testing.assert_array_equal(out[1], decoded[1])
    np.testing.assert_allclose(out, engine, atol=1e-6)


def test_a_gate_on_one_channel_is_left_alone(tmp_path: Path) -> None:
    """A stutter gate on the right channel alone (31 ms offs every 62.5 ms, 1 s) dips there
    like a train of dropouts: it is a gate's offs, left alone on that channel as on every one
    (:data:`.coded.GATE_COUNT`), by the engine and by the batch."""
    audio, step, off = chord(3.0), round(0.0625 * RATE), round(0.031 * RATE)
    for first in range(CUT, 2 * CUT, step):
        audio[1, first : first + off] = 0.0
    path = mp3(tmp_path / "gate.mp3", audio)
    decoded, _ = read_audio(path)
    assert dropouts.find_all(decoded, RATE, lossy=True)[0] == []
    chain = chain_from_dict({"steps": [{"restore": "inpaint", "gaps": "auto"}]})
    assert render_file(path, tmp_path / "out.wav", chain).repairs == {"gaps_filled": 0}


def test_which_channels_dipped() -> None:
    """:func:`.coded.dipped_channels` on built audio: a channel cut to nothing for 20 ms dips
    (its music beside it -17 dB: 4 tones of amplitude 0.1, far over DIP_FLOOR_DB), one playing on
    does not; both cut, both dip; music 60 dB down (-77 dB, under the floor) dips in no channel;
    a span too near the start to read the music before it, none. It names the channel that
    :func:`.selections.live_channels` keeps where the input was lossy coded (``coded_frame``),
    and none where it was not."""
    audio = chord()
    cut = audio.copy()
    cut[0, CUT : CUT + 20 * FRAME] = 0.0
    span = (CUT, CUT + 20 * FRAME)
    assert coded.dipped_channels(cut, *span, FRAME).tolist() == [True, False]
    both = audio.copy()
    both[:, CUT : CUT + 20 * FRAME] = 0.0
    assert coded.dipped_channels(both, *span, FRAME).tolist() == [True, True]
    assert coded.dipped_channels(cut * 10 ** (-60 / 20), *span, FRAME).tolist() == [False] * 2
    assert coded.dipped_channels(cut, 5 * FRAME, 25 * FRAME, FRAME).tolist() == [False] * 2
    # a little noise in the cut (what the codec leaves): no digital silence, still a dip
    noisy = cut.copy()
    noisy[0, CUT : CUT + 20 * FRAME] = 1e-4 * np.random.default_rng(0).standard_normal(20 * FRAME)
    assert selections.live_channels(noisy, *span, coded_frame=FRAME).tolist() == [False, True]
    assert selections.live_channels(noisy, *span) is None


def test_a_dropout_on_every_channel_is_no_one_channels_dip() -> None:
    """Both channels dip in the span, the right only 15 dB under its music (a dropout on every
    channel that came back shallower on one: between PLAYS_DB and DIP_DB): no channel is named,
    and a given gap fills both (it had kept the right's dip); the right 3 dB down (within
    PLAYS_DB) plays on, and the left's dip is its own."""
    assert coded.PLAYS_DB < 15 < coded.DIP_DB and 3 < coded.PLAYS_DB
    span = (CUT, CUT + 20 * FRAME)
    audio = chord()
    audio[0, slice(*span)] = 1e-4 * np.random.default_rng(0).standard_normal(20 * FRAME)
    audio[1, slice(*span)] *= 10 ** (-15 / 20)
    assert coded.dipped_channels(audio, *span, FRAME).tolist() == [False, False]
    assert selections.live_channels(audio, *span, coded_frame=FRAME) is None
    audio[1, slice(*span)] = chord()[1, slice(*span)] * 10 ** (-3 / 20)
    assert coded.dipped_channels(audio, *span, FRAME).tolist() == [True, False]
    assert selections.live_channels(audio, *span, coded_frame=FRAME).tolist() == [False, True]
