"""Pauses between songs are not dropouts: the one rule (diagnose.dropouts), the API, the CLI and
the batch leave a silent run the music fades into alone, and say so."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import soundfile as sf

from bridge.batch import Restorer
from bridge.cli import main
from diffmusic_engine.api import NOTHING_FOUND, restore
from diffmusic_engine.backends import PAUSES
from diffmusic_engine.damage import Inpaint
from diffmusic_engine.diagnose import diagnose, dropouts, pauses
from diffmusic_engine.evaluation.corpus import REAL_DIR
from diffmusic_engine.synth import music_excerpt

RATE = 16000
PAUSE = (32000, 38400)  # 2.0-2.4 s: digital silence between the songs
CUT = (48000, 49600)  # 3.0-3.1 s: a dropout cut into song B at its level
# why a run is a pause, as the note says it
BESIDE = (
    "on one side the music fades or decays into them down to nothing (its last 10 ms 20 dB or "
    "more under its level around, or its last 3-5 ms 11 dB under the music just before, and its "
    "last millisecond at -66 dBFS or under, 18 dB under that music or 38 dB under the other "
    "side's edge)"
)


def album(cut: bool = True, tail: str = "fade") -> np.ndarray:
    """Song A (2 s) ending in a 0.5 s linear fade, or a decay gated to zero (60 dB over 0.5 s,
    zero under -60 dB: 0.1 s of it), 0.4 s of digital silence, song B (2 s) starting at once."""
    a, b = music_excerpt(2.0, RATE, 2, seed=1), music_excerpt(2.0, RATE, 2, seed=2)
    envelope = np.linspace(1, 0, RATE // 2)
    if tail == "decay":
        envelope = 10 ** (-3 * np.arange(RATE // 2) / (RATE // 2))
        envelope[envelope < 1e-3] = 0.0
    a[:, -RATE // 2 :] *= envelope.astype(np.float32)
    audio = np.concatenate([a, np.zeros((2, PAUSE[1] - PAUSE[0]), np.float32), b], axis=1)
    if cut:
        audio[:, CUT[0] : CUT[1]] = 0.0
    return audio


def test_a_fade_into_digital_silence_is_a_pause_and_a_cut_a_dropout() -> None:
    """Widening takes up to 30 ms of the fade in; the 10 ms beyond are then at most 0.08 of
    the music's amplitude (22 dB under it, past the pause test's 20 dB); the cut's edges are
    the music at its level. Song B starts at once, so the pause ends where the silence does."""
    for tail in ("fade", "decay"):
        found, pauses = dropouts.find_runs(album(tail=tail), RATE)
        assert found == [(3.0, 3.1)]
        ((start, end),) = pauses
        assert end == 2.4 and 2.0 - dropouts.EDGE_SECONDS <= start <= 2.0
    # time reversed: song B fades in out of the silence, song A stops at once
    found, pauses = dropouts.find_runs(album()[:, ::-1], RATE)
    assert found == [(1.3, 1.4)] and len(pauses) == 1 and pauses[0][0] == 2.0
    # no fade: song A stopped at its level reads as a dropout (the edges cannot tell)
    stopped = music_excerpt(4.4, RATE, 2, seed=1)
    stopped[:, PAUSE[0] : PAUSE[1]] = 0.0
    assert dropouts.find_runs(stopped, RATE) == ([(2.0, 2.4)], [])


def test_restore_and_diagnose_name_the_pause_left_alone(tmp_path, capsys) -> None:
    audio = album(cut=False)
    ((start, end),) = dropouts.find_runs(audio, RATE)[1]
    result = restore(audio, RATE, Inpaint(gaps="auto"))
    np.testing.assert_array_equal(result.audio, audio)
    assert result.unchanged == NOTHING_FOUND["inpaint"]
    assert result.details[PAUSES] == [[start, end]]
    source = tmp_path / "side.wav"
    sf.write(source, audio.T, RATE, subtype="FLOAT")
    assert main(["restore", str(source), "-o", str(tmp_path / "out.wav"), "--task", "inpaint",
                 "--gap", "auto", "--quiet"]) == 0  # fmt: skip
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"note: 1 silent run(s) at {start:.4f}-{end:.4f} s left alone as pauses: {BESIDE}; give "
        "them as --gap if they are dropouts"
    )
    assert main(["diagnose", str(source), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["dropouts"] == [] and found["pauses"] == [
        {"start": round(start, 4), "end": round(end, 4)}
    ]


def test_diagnose_finds_dropouts_and_pauses_in_one_scan(monkeypatch) -> None:
    """Both are the one rule's answers: diagnose had scanned the audio twice, once for each.
    (The reverb and clicks detectors scan too, each to leave the dropouts out of its own
    reading: they are left out of the count.)"""
    import diffmusic_engine.diagnose as diagnose_package

    audio = album()
    alone = {"dropouts": dropouts.detect(audio, RATE), "pauses": pauses.detect(audio, RATE)}
    assert diagnose(audio, RATE)["dropouts"] == alone["dropouts"]
    scans = []
    scan = dropouts.find_all
    monkeypatch.setattr(dropouts, "find_all", lambda *a: scans.append(1) or scan(*a))
    monkeypatch.setattr(diagnose_package, "DETECTORS", ("dropouts", "pauses"))
    found = diagnose(audio, RATE)
    assert len(scans) == 1 and list(found) == ["dropouts", "pauses"]
    assert {name: found[name] for name in alone} == alone
    assert found["dropouts"] == [{"start": 3.0, "end": 3.1, "channels": [1, 2]}]
    assert len(found["pauses"]) == 1 and found["pauses"][0]["end"] == 2.4


def test_the_batch_fills_the_dropout_leaves_the_pause_and_says_so(marking) -> None:
    """Streamed in blocks, the 0.4 s pause (under dropout_max_seconds, 0.5 s) is left as it
    came and named in the file's note, where ``find_runs`` puts it; the cut is filled."""
    audio = album()
    ((start, end),) = dropouts.find_runs(audio, RATE)[1]
    restorer = Restorer(task="inpaint", gaps="auto", backend="marking", context_seconds=3.0)
    stream = restorer.stream(RATE, 2, audio.shape[1])
    blocks = [stream.push(audio[:, i : i + 999]) for i in range(0, audio.shape[1], 999)]
    out = np.concatenate([*blocks, stream.finish()], axis=1)
    assert (out[:, CUT[0] : CUT[1]] == 1.0).all()
    np.testing.assert_array_equal(out[:, : CUT[0]], audio[:, : CUT[0]])
    assert Restorer.note_of(stream) == (
        f"inpaint: 1 silent run(s) at {start:.4f}-{end:.4f} s left alone as pauses: {BESIDE}; "
        "give them as gaps if they are dropouts"
    )


def test_a_dropout_inside_a_fade_out_is_a_dropout() -> None:
    """A 100 ms dropout 1.5 s into a 20 dB/s fade-out (a 3 s fade to -60 dB): looking back
    from it the music is 30 dB louder, as before a pause, but past it the fade goes on at the
    same level: a dropout (it read as a pause, and was left alone, before)."""
    music = music_excerpt(8.0, RATE, 2, seed=3)
    seconds = np.arange(music.shape[1]) / RATE
    fade_db = -20 * np.clip(seconds - 4.0, 0, 3.0)  # from 4 s to 7 s, then held at -60 dB
    faded = (music * 10 ** (fade_db / 20)).astype(np.float32)
    faded[:, int(5.5 * RATE) : int(5.6 * RATE)] = 0.0
    found, pauses = dropouts.find_runs(faded, RATE)
    assert found == [(5.5, 5.6)] and pauses == []


def backing_side(at: int, fade_seconds: float, faded_side: int, pause_seconds: float) -> tuple:
    """The shipped backing (4.5 s) stopped at sample ``at`` and resuming there after
    ``pause_seconds`` of digital silence, over a linear fade of ``fade_seconds`` on
    ``faded_side`` (0: the fade-out, 1: the fade-in, none for 0 s); and its rate."""
    audio, rate = sf.read(REAL_DIR / "chaos_god_backing.flac", dtype="float32", frames=200000)
    a, b = np.ascontiguousarray(audio[:at].T), np.ascontiguousarray(audio[at:].T)
    length = int(fade_seconds * rate)
    if length and faded_side == 0:
        a[:, -length:] *= np.linspace(1, 0, length, dtype=np.float32)
    elif length:
        b[:, :length] *= np.linspace(0, 1, length, dtype=np.float32)
    silence = np.zeros((2, int(pause_seconds * rate)), np.float32)
    return np.concatenate([a, silence, b], axis=1), rate


def test_a_pause_after_a_short_fade_in_real_music_is_left_alone() -> None:
    """The shipped backing stopped at 1.5 or 2.5 s over a 30 or 50 ms linear fade, or resuming
    over one, 0.5 s of digital silence between. The widening takes in the fade's last tenth
    (frames 20 dB under the music); the 3 ms beyond then lie at 0.1-0.2 of the music's
    amplitude, 14-18 dB under it, past SHORT_FADE_DB (11): a pause on either side (it was a
    dropout, filled with music). Stopped at its level the same place reads as a dropout."""
    for at in (66150, 110250):  # 1.5 and 2.5 s at 44.1 kHz
        stopped, rate = backing_side(at, 0.0, 0, 0.5)
        assert dropouts.find_runs(stopped, rate) == ([(at / rate, at / rate + 0.5)], [])
        for seconds, faded_side in itertools.product((0.03, 0.05), (0, 1)):
            side, rate = backing_side(at, seconds, faded_side, 0.5)
            found, ((start, end),) = dropouts.find_runs(side, rate)
            assert found == [] and start <= at / rate and end >= at / rate + 0.5
            assert pauses.detect(side, rate) == [{"start": round(start, 4), "end": round(end, 4)}]
            assert np.array_equal(restore(side, rate, Inpaint(gaps="auto")).audio, side)


def test_the_batch_leaves_a_pause_after_a_short_fade_and_says_so(marking) -> None:
    """Streamed in blocks, a 0.4 s pause (under dropout_max_seconds) after a 50 ms fade-out in
    the shipped backing comes out as it went in, named in the note where ``find_runs`` puts it
    (it was filled, without a word, before)."""
    audio, rate = backing_side(66150, 0.05, 0, 0.4)
    ((start, end),) = dropouts.find_runs(audio, rate)[1]
    restorer = Restorer(task="inpaint", gaps="auto", backend="marking", context_seconds=3.0)
    stream = restorer.stream(rate, 2, audio.shape[1])
    blocks = [stream.push(audio[:, i : i + 4410]) for i in range(0, audio.shape[1], 4410)]
    np.testing.assert_array_equal(np.concatenate([*blocks, stream.finish()], axis=1), audio)
    assert Restorer.note_of(stream) == (
        f"inpaint: 1 silent run(s) at {start:.4f}-{end:.4f} s left alone as pauses: {BESIDE}; "
        "give them as gaps if they are dropouts"
    )


def test_a_silence_too_short_to_be_a_pause_is_a_dropout_whatever_its_edges() -> None:
    """Quiet music, then a silence, then a loud onset reads as a fade into a pause and the next
    song; 20 ms of it had been left alone so (a user trial: dropouts just before an onset)."""
    rng = np.random.default_rng(0)
    for seconds, is_pause in ((0.02, False), (0.1, True)):
        audio = (0.3 * rng.standard_normal((1, 4 * RATE))).astype(np.float32)
        first, stop = 2 * RATE, 2 * RATE + round(seconds * RATE)
        audio[:, first - RATE // 2 : first] *= 0.001  # 0.5 s 60 dB down before it
        audio[:, first:stop] = 0.0
        found, left = dropouts.find_dropouts(audio, RATE)
        runs = left if is_pause else [(a, b) for a, b, _ in found]  # the other list empty
        assert len(runs) == 1 and not (found if is_pause else left)
        (a, b), widest = runs[0], round(dropouts.EDGE_SECONDS * RATE)
        assert first - widest <= a <= first and stop <= b <= stop + widest  # widened at most


def test_a_dropout_beside_a_rest_is_a_dropout() -> None:
    """Cut into the shipped backing where it plays quietly (a rest, a note's end): the music
    beside the cut reads 20 dB under its level, or quiet for 3-5 ms, as a fade does, but it is
    cut off at that level, not faded to nothing. Both read as pauses, and were left alone."""
    audio, rate = sf.read(REAL_DIR / "war_of_freedom_backing.flac", dtype="float32",
                          frames=200000)  # fmt: skip
    for first, stop in ((121274, 132299), (112454, 114659)):  # 250 ms at 2.75 s, 50 ms at 2.55 s
        cut = np.ascontiguousarray(audio.T)
        cut[:, first:stop] = 0.0
        found, pauses = dropouts.find_runs(cut, rate)
        assert pauses == [] and found == [(first / rate, stop / rate)]


@pytest.mark.parametrize("decay", [0.0, 4.0])
def test_a_dropout_before_an_entry_after_a_rest_is_a_dropout(decay: float) -> None:
    """A quiet chord playing on (-42 dBFS) up to a 100 ms dropout, a loud entry 5 ms after it
    (a 3 ms rise to -23 dBFS): the side after rises from the chord's level, as a song's start
    rises from nothing, but the side before plays on at that level (its edge within
    FADE_END_DB, 18 dB, of the first millisecond after): a rest cut off, found as a dropout (it
    read as a pause: 9 of 297 dropouts cut into 20 real mixes were lost so). The chord may decay
    ``decay`` dB a second: its last 0.5 s then lie that much under the 1.5 s before (the rest of
    real music read -4.2 to 2.1 dB), under FALL_DB (6 dB): it plays on, it does not fade out."""
    music = music_excerpt(4.0, RATE, 2, seed=4)
    seconds = np.arange(music.shape[1]) / RATE
    chord = 0.02 * sum(np.sin(2 * np.pi * f * seconds) for f in (220.0, 277.2, 329.6)) / 3
    chord *= 10 ** (-decay * (seconds - 2.0) / 20)  # -42 dBFS at the entry (2 s)
    entry, rise = 2 * RATE, RATE * 3 // 1000
    gain = np.ones(music.shape[1])
    gain[:entry] = 0.0
    gain[entry : entry + rise] = np.linspace(0.0, 1.0, rise)
    audio = (music * gain + chord).astype(np.float32)
    first, stop = entry - RATE // 10 - RATE // 200, entry - RATE // 200
    audio[:, first:stop] = 0.0
    found, left = dropouts.find_runs(audio, RATE)
    ((start, end),) = found
    assert left == [] and start == first / RATE and stop / RATE <= end <= entry / RATE


@pytest.mark.parametrize(("fall", "fade_seconds"), [(30.0, 3.0), (25.0, 3.0)])
def test_a_pause_after_a_slow_fade_out_cut_short_is_left_alone(
    fall: float, fade_seconds: float
) -> None:
    """Song A fading out ``fall`` dB over ``fade_seconds`` (linear in dB, too slow for the 10 ms
    reading, ending above the quiet level) cut to 0.4 s of digital silence, song B fading in
    over 50 ms: B's first millisecond lies within 18 dB of A's faded edge, as an entry after a
    cut-off rest's does, but A falls over its last 0.5 s (its median 10 ms frame 11.7 and 9.9 dB
    under the 1.5 s before it, FALL_DB 6 or more): a pause, left alone by the rule and
    ``restore --gap auto`` (the rest rule alone filled them)."""
    a, b = music_excerpt(4.0, RATE, 2, seed=1), music_excerpt(2.0, RATE, 2, seed=2)
    fade = round(fade_seconds * RATE)
    a[:, -fade:] *= (10 ** (np.linspace(0, -fall, fade) / 20)).astype(np.float32)
    b[:, : RATE // 20] *= np.linspace(0, 1, RATE // 20, dtype=np.float32)
    audio = np.concatenate([a, np.zeros((2, RATE * 2 // 5), np.float32), b], axis=1)
    found, left = dropouts.find_runs(audio, RATE)
    ((start, end),) = left
    assert found == [] and 3.95 <= start <= 4.0 and 4.4 <= end <= 4.45  # (B's fade widened in)
    assert np.array_equal(restore(audio, RATE, Inpaint(gaps="auto")).audio, audio)
