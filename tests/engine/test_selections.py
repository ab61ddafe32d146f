"""Given gaps against the dropout they select: taken over its edges, or named wider than it."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from bridge.cli import main
from diffmusic_engine.api import restore
from diffmusic_engine.backends import EXTENDED_GAPS, GAPS_WITH_AUDIO, KEPT_CHANNELS
from diffmusic_engine.damage import Gap, Inpaint

SR = 22050
TONES = ((220.0, 0.2), (330.0, 0.15), (550.0, 0.1))  # (Hz, amplitude)
# The largest step between two samples of the tones: a sine of amplitude A at f changes by at
# most 2 A sin(pi f / SR) from one sample to the next (0.0423 here).
TONE_STEP = sum(2 * a * np.sin(np.pi * f / SR) for f, a in TONES)
FADE = round(0.002 * SR)  # Inpaint's crossfade in samples
SHORT = round(0.003 * SR)  # 3 ms


def tones() -> np.ndarray:
    """1 s of TONES, stereo (the right channel's phases shifted by a radian)."""
    t = np.arange(SR) / SR
    channels = [sum(a * np.sin(2 * np.pi * f * t + shift) for f, a in TONES) for shift in (0, 1)]
    return np.stack(channels).astype(np.float32)


def test_a_selection_short_of_a_dropout_is_extended_to_its_edges() -> None:
    """3 ms short on each side of a 20 ms dropout, the fill had left 44 samples of its silence
    (3 ms less the 2 ms crossfade, twice) and a step of 3-10x the tones' largest one at its
    true edges, without a word."""
    first, stop = SR // 2, SR // 2 + round(0.02 * SR)
    audio = tones()
    audio[:, first:stop] = 0.0
    gap = Gap((first + SHORT) / SR, (stop - SHORT) / SR)  # 0.503:0.517
    restoration = restore(audio, SR, Inpaint(gaps=(gap,)))
    out = restoration.tracks[0]
    assert not (np.abs(out[:, first:stop]).max(axis=0) == 0).any()  # no silent sample left
    # the tones filled by AR (exact to 1e-4): no step steeper than theirs, by more than a tenth
    assert np.abs(np.diff(out[:, first - 100 : stop + 100])).max() <= 1.1 * TONE_STEP
    np.testing.assert_array_equal(out[:, : first - FADE], audio[:, : first - FADE])
    np.testing.assert_array_equal(out[:, stop + FADE :], audio[:, stop + FADE :])
    assert restoration.details[EXTENDED_GAPS] == [
        "gap 0.5030-0.5170 s extended to 0.5000-0.5200 s (3.0 ms earlier, 3.0 ms later) over "
        "the dropout found at its edge, which it "
        "had left partly unfilled"
    ]
    assert GAPS_WITH_AUDIO not in restoration.details


def test_a_selection_wider_than_a_short_dropout_is_named_so() -> None:
    """3 ms too wide on each side of a 15 ms dropout, 6 of its 21 ms held the tones (-5.4 dB
    from the level around it): the warning had said that the gap held music, not a dropout."""
    first, stop = SR // 2, SR // 2 + round(0.015 * SR)  # 0.5000-0.5150 s
    audio = tones()
    audio[:, first:stop] = 0.0
    gap = Gap((first - SHORT) / SR, (stop + SHORT) / SR)
    details = restore(audio, SR, Inpaint(gaps=(gap,))).details
    assert details[GAPS_WITH_AUDIO] == [
        "gap 0.4970-0.5180 s is 6.0 ms wider than the dropout at 0.5000-0.5150 s in it: the "
        "music beside the dropout was replaced too; select the dropout alone to keep it"
    ]
    assert EXTENDED_GAPS not in details


def test_a_selection_wider_than_a_long_dropout_is_named_so_in_real_music() -> None:
    """0.2 s too wide on each side of a 1 s dropout in a shipped mix: 0.4 s of music replaced,
    but the gap as a whole read 6 dB or more under the music around it, so nothing was said.
    The music beside the dropout is measured now; 1 ms a side (what the fill's crossfade
    re-estimates anyway) is not told."""
    from diffmusic_engine.diagnose.selections import BESIDE_SECONDS, audio_lines, find
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    rate = 44100
    mix = sum(sf.read(REAL_DIR / f"feelings_{s}.flac", dtype="float32")[0].T
              for s in ("backing", "guitar"))  # fmt: skip
    first, stop = 3 * rate, 4 * rate
    mix[:, first:stop] = 0.0
    runs = find(mix, rate)
    assert runs == [(first, stop)]
    wide = Gap(2.8, 4.2)
    inside, around = (np.sqrt(np.mean(np.square(mix[:, a:b]))) for a, b in ((round(2.8 * rate),
                      round(4.2 * rate)), (round(1.4 * rate), round(2.8 * rate))))  # fmt: skip
    assert inside < around / 2  # under AUDIO_IN_GAP_DB as a whole: what had been measured
    assert audio_lines(mix, rate, (wide,), runs) == [
        "gap 2.8000-4.2000 s is 400.0 ms wider than the dropout at 3.0000-4.0000 s in it: the "
        "music beside the dropout was replaced too; select the dropout alone to keep it"
    ]
    side = 0.001  # a side: 2 ms in all, under BESIDE_SECONDS
    assert 2 * side < BESIDE_SECONDS
    assert audio_lines(mix, rate, (Gap(3 - side, 4 + side),), runs) == []


def test_a_dithered_dropout_is_filled_on_every_channel() -> None:
    """16-bit TPDF dither of one LSB is digital silence about half the time: a dropout whose
    left channel held 52 % zeros and right 48 % had its right channel kept (a hole) with a note
    that it "held music there"."""
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    rate = 44100
    mix = sum(sf.read(REAL_DIR / f"war_of_freedom_{s}.flac", dtype="float32")[0].T
              for s in ("backing", "guitar"))  # fmt: skip
    first, stop = 3 * rate, 3 * rate + round(0.02 * rate)
    rng = np.random.default_rng(2)
    lsb = rng.choice([-1.0, 1.0], (2, stop - first)) / 2**15
    lsb[0, rng.permutation(stop - first)[: round(0.52 * (stop - first))]] = 0.0
    lsb[1, rng.permutation(stop - first)[: round(0.48 * (stop - first))]] = 0.0
    mix[:, first:stop] = lsb
    result = restore(mix, rate, Inpaint(gaps="auto"))
    assert KEPT_CHANNELS not in result.details
    assert np.all(np.sqrt(np.mean(result.audio[:, first:stop] ** 2, axis=1)) > 100 / 2**15)


def test_cli_notes_the_extension(tmp_path, capsys) -> None:
    first, stop = SR // 2, SR // 2 + round(0.02 * SR)
    audio = tones()
    audio[:, first:stop] = 0.0
    song, out = tmp_path / "song.wav", tmp_path / "out.wav"
    sf.write(song, audio.T, SR, subtype="FLOAT")
    argv = ["restore", str(song), "-o", str(out), "--task", "inpaint", "--gap", "0.503:0.517"]
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        "note: gap 0.5030-0.5170 s extended to 0.5000-0.5200 s (3.0 ms earlier, 3.0 ms later) "
        "over the dropout found at its edge, which "
        "it had left partly unfilled"
    ]
    filled, _ = sf.read(out, dtype="float32", always_2d=True)
    assert not (np.abs(filled[first:stop]).max(axis=1) == 0).any()


def test_a_dropout_on_one_channel_is_filled_there_alone(tmp_path, capsys) -> None:
    """A tape head's dropout: the left channel silent for 20 ms, the right one playing on. The
    right channel comes back bit-identical (it was refilled, and named "held audio", before);
    the left one is filled by AR, the tones' own continuation (within a tenth of their largest
    step of the truth, as the extension test's fill)."""
    clean = tones()
    first, stop = SR // 2, SR // 2 + round(0.02 * SR)
    audio = clean.copy()
    audio[0, first:stop] = 0.0
    gap = Gap(first / SR, stop / SR)
    restoration = restore(audio, SR, Inpaint(gaps=(gap,)))
    out = restoration.tracks[0]
    assert np.array_equal(out[1], audio[1])
    assert np.abs(out[0, first:stop] - clean[0, first:stop]).max() < 0.1 * TONE_STEP
    assert GAPS_WITH_AUDIO not in restoration.details
    line = (
        "gap 0.5000-0.5200 s: channel(s) 1 of 2 dropped out and were filled; "
        "channel(s) 2 held music"
    )
    assert restoration.details[KEPT_CHANNELS] == [f"{line} there and were kept as they were"]
    source = tmp_path / "one.wav"
    sf.write(source, audio.T, SR, subtype="FLOAT")
    args = ["restore", str(source), "-o", str(tmp_path / "out.wav"), "--task", "inpaint"]
    assert main([*args, "--gap", f"{gap.start}:{gap.end}", "--quiet"]) == 0
    assert f"note: {line}" in capsys.readouterr().err


def test_dropouts_given_as_gaps_of_their_own_are_not_joined() -> None:
    """Two 10 ms dropouts 20 ms apart, each given exactly (as ``diagnose`` lists them, rounded
    to 0.1 ms: a sample short), and a 0.8 s stop 30 ms after the second: each gap stays its
    own, the music between them and the stop are kept, and nothing is said (the reach had
    joined them, and the stop, with notes of 0.0 ms and "wider than the dropout" warnings)."""
    audio = tones()
    runs = [(11025, 11246), (11687, 11908)]  # 0.5000-0.5100 s, 0.5300-0.5400 s
    for first, stop in runs + [(12570, 30210)]:  # and the stop, 0.5701-1.3701 s
        audio[:, first:stop] = 0.0
    gaps = tuple(Gap(round(a / SR, 4), round(b / SR, 4)) for a, b in runs)
    restoration = restore(audio, SR, Inpaint(gaps=gaps))
    assert EXTENDED_GAPS not in restoration.details
    assert GAPS_WITH_AUDIO not in restoration.details
    out = restoration.tracks[0]
    between = slice(runs[0][1] + FADE + 1, runs[1][0] - FADE - 1)  # a sample for the rounding
    assert np.array_equal(out[:, between], audio[:, between])
    assert not np.any(out[:, 12570 + FADE : 30210])


def test_a_dropout_the_gap_overlaps_is_taken_whole_one_beside_it_only_when_close() -> None:
    """Samples at 1 kHz: a gap inside a dropout is taken over all of it (100 ms past its end:
    the rest would be a hole); a dropout 3 ms beside a gap is taken in, one 30 ms beside it
    or reaching 80 ms past it is not; one another gap overlaps is not."""
    from diffmusic_engine.diagnose.selections import extend

    rate = 1000
    assert extend([(1000, 1200)], [(980, 1300)], rate) == [(980, 1300)]
    assert extend([(1000, 1200)], [(1203, 1240)], rate) == [(1000, 1240)]
    assert extend([(1000, 1200)], [(1230, 1260)], rate) == [(1000, 1200)]
    assert extend([(1000, 1200)], [(1203, 1280)], rate) == [(1000, 1200)]
    assert extend([(1000, 1200), (1210, 1240)], [(1203, 1240)], rate) == [
        (1000, 1200),
        (1203, 1240),
    ]
