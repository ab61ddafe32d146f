"""The one rule for a dropout (diagnose, ``restore --gap auto``, the batch), built and real."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest
import soundfile as sf

from bridge.cli import main
from diffmusic_engine.api import NOTHING_FOUND, degrade, restore
from diffmusic_engine.backends import FOUND_GAPS
from diffmusic_engine.damage import Gap, Inpaint
from diffmusic_engine.diagnose import coded, dropouts, held
from diffmusic_engine.diagnose.dropouts import JUMP_DB, QUIET, SILENCE, DropoutScanner
from diffmusic_engine.errors import DamageError
from diffmusic_engine.evaluation.corpus import REAL_DIR
from diffmusic_engine.evaluation.storage import fixed_point

# Dropouts cut into the shipped real backing: (first, stop) samples at 44.1 kHz.
CUTS = [(30000, 30221), (90000, 103230)]  # 5.0 ms and 300 ms


@pytest.fixture(scope="module")
def backing() -> tuple[np.ndarray, int]:
    audio, rate = sf.read(REAL_DIR / "chaos_god_backing.flac", dtype="float32", frames=150000)
    return np.ascontiguousarray(audio.T), rate


@pytest.fixture(scope="module")
def damaged(backing) -> np.ndarray:
    audio = backing[0].copy()
    for first, stop in CUTS:
        audio[:, first:stop] = 0.0
    return audio


def test_scanner_across_blocks_keeps_longer_runs_apart() -> None:
    signal = np.ones((2, 1000), np.float32)
    signal[:, :50] = 0  # leading silence: not a dropout
    signal[:, 200:230] = 0  # a dropout
    signal[0, 400:420] = 0  # one channel only: not a dropout
    signal[:, 600:602] = 0  # too short
    signal[:, 700:900] = 0  # too long: left alone, kept in .longer
    signal[:, 980:] = 0  # trailing silence
    scanner = DropoutScanner(5, 100)
    found = []
    for start in range(0, 1000, 17):  # blocks that cut the runs anywhere
        found += scanner.scan(signal[:, start : start + 17], start)
    assert found == [(200, 230)]
    assert scanner.longer == [(700, 900)]
    assert scanner.run_start == 980  # the tail is still open when the audio ends


def test_the_rule_at_its_edges() -> None:
    rate = 10000  # 2 ms = 20 samples; the frame beside a quiet run: 1 ms = 10 samples
    audio = np.full((2, 2000), 0.5, np.float32)
    audio[:, 100:120] = SILENCE  # 20 samples at the threshold: a dropout
    audio[:, 300:319] = 0.0  # 19 samples: too short
    audio[:, 500:520] = QUIET  # dither-like, abrupt edges: a dropout
    audio[:, 600:620] = 2 * QUIET  # too loud for the quiet rule
    audio[1, 700:720] = 0.5  # one channel still sounds: a dropout of the other alone
    audio[0, 700:720] = 0.0
    # quiet runs whose frame before is just over / just under JUMP_DB (20 dB) above them
    jump = 10 ** (JUMP_DB / 20) * QUIET
    audio[:, 890:900], audio[:, 900:920] = 1.01 * jump, QUIET
    audio[:, 1090:1100], audio[:, 1100:1120] = 0.99 * jump, QUIET
    audio[:, 1300:1320] = QUIET  # the music after it fades in over 5 frames of 2 ms
    audio[:, 1320:1420] = np.geomspace(2 * QUIET, 0.5, 100)
    scanner = DropoutScanner.at_rate(rate)
    assert scanner.scan(audio, 0) + scanner.finish() == [(100, 120), (500, 520), (900, 920)]
    # find widens: the quiet frame before the third is 46 dB under the music and joins it;
    # it reads each channel alone too (find_dropouts)
    found = [(0.01, 0.012), (0.05, 0.052), (0.07, 0.072), (0.089, 0.092)]
    assert dropouts.find(audio, rate) == found
    assert dropouts.detect(audio, rate)[1] == {"start": 0.05, "end": 0.052, "channels": [1, 2]}
    assert dropouts.detect(audio, rate)[2] == {"start": 0.07, "end": 0.072, "channels": [1]}


def test_quiet_runs_across_blocks_are_decided_as_in_one_block() -> None:
    """Quiet runs (QUIET, not digital silence) streamed in blocks of 17 samples: the frame
    after a run may come blocks later, or be cut short by the end of the audio."""
    signal = np.full((2, 1200), 0.5, np.float32)
    signal[:, :40] = QUIET  # a quiet lead-in: not a dropout ...
    signal[:, 20:30] = 0  # ... but the digital silence inside it is, by the first rule
    signal[:, 200:230] = QUIET  # a dropout
    signal[:, 400:700] = QUIET  # too long: left alone, kept in .longer
    signal[:, 500:530] = 0  # its digital silence is a dropout by the first rule
    signal[:, 900:940] = QUIET  # a dropout with a digital silence inside: one dropout
    signal[:, 910:920] = 0
    signal[:, 1150:1197] = QUIET  # a dropout 3 samples before the end: decided by finish()

    def scanned(step: int) -> tuple[list, list]:
        scanner = DropoutScanner(5, 100, edge_frame=8)
        found = [span for start in range(0, 1200, step)
                 for span in scanner.scan(signal[:, start : start + step], start)]  # fmt: skip
        return found + scanner.finish(), scanner.longer

    found = [(20, 30), (200, 230), (500, 530), (900, 940), (1150, 1197)]
    assert scanned(17) == scanned(1200) == (found, [(400, 700)])
    digital = [(20, 30), (500, 530), (910, 920)]
    assert DropoutScanner(5, 100).scan(signal, 0) == digital  # digital silence only


def test_dithered_dropouts_in_real_music_are_found_whole(backing, damaged) -> None:
    """The cuts in the real backing, stored after the damage in 16-bit and 24-bit with TPDF
    dither and in 16-bit with noise-shaped dither (4 steps or more in the dropout): no digital
    silence is left, and each dropout is found to the sample."""
    rate = backing[1]
    for bits, dither in ((16, "tpdf"), (24, "tpdf"), (16, "shaped")):
        stored = fixed_point(damaged, bits, dither, seed=bits)
        assert DropoutScanner(88).scan(stored, 0) == []  # no 2 ms of digital silence
        assert dropouts.find(stored, rate) == [(a / rate, b / rate) for a, b in CUTS]
    assert np.abs(stored[:, CUTS[1][0] : CUTS[1][1]]).max() >= 4 * 2**-15


def test_quiet_real_music_has_no_dropouts() -> None:
    """The shipped real guitar played 50 dB down, as a quiet passage is, in 16-bit: its rests
    stay below -90 dBFS for milliseconds (the batch's former rule found 63 "dropouts" there)
    but never reach digital silence, nor start and end abruptly; nor with TPDF dither, 40 and
    60 dB down."""
    audio, rate = sf.read(REAL_DIR / "feelings_guitar.flac", dtype="float32")
    quiet = fixed_point(audio.T * 10 ** (-50 / 20), 16)
    assert dropouts.find(quiet, rate) == []
    near_silence = DropoutScanner(88, silence=10 ** (-90 / 20)).scan(quiet, 0)
    assert len(near_silence) > 10  # the material is quiet enough for the rule to matter
    for gain_db in (-40, -60):
        dithered = fixed_point(audio.T * 10 ** (gain_db / 20), 16, "tpdf")
        assert dropouts.find(dithered, rate) == []
        assert len(DropoutScanner(88, silence=QUIET).scan(dithered, 0)) > 10  # quiet runs


def test_a_rest_between_two_clicks_is_no_dropout(backing, damaged) -> None:
    """A real take faded to a -88 dBFS rest (16-bit, dithered) for 2 s, with a click at 0.5 s
    and at 1.4 s into the rest: the clicks were the run's abrupt edges, and the rest between
    them a "dropout" (a user trial's trumpet: an inpaint preset over its rest). Past each click
    the rest goes on: none is found. The dithered cuts in the same take are found as before."""
    audio, rate = backing
    fade = np.linspace(1, 0, rate // 2, dtype=np.float32) ** 2  # into the rest and out of it
    take = np.concatenate(
        [audio[:, :rate], np.zeros((2, 2 * rate), np.float32), audio[:, rate : 2 * rate]], axis=1
    )
    take[:, rate // 2 : rate] *= fade
    take[:, 3 * rate : 3 * rate + rate // 2] *= fade[::-1]
    rest = slice(rate, 3 * rate)
    take[:, rest] = np.random.default_rng(4).normal(0, 4e-5, (2, 2 * rate))  # -88 dBFS
    for at in (1.5, 2.4):
        take[:, round(at * rate) : round(at * rate) + 44] += 0.3  # a 1 ms click
    take = fixed_point(take, 16, "tpdf")
    assert dropouts.find(take, rate) == []
    old = DropoutScanner.at_rate(rate)  # the rule without the check: the run between the clicks
    between = [(a, b) for a, b in old.scan(take, 0) + old.finish() if a > 1.5 * rate]
    assert len(between) == 1 and between[0][1] <= round(2.4 * rate)
    stored = fixed_point(damaged, 16, "tpdf", seed=16)
    assert dropouts.find(stored, rate) == [(a / rate, b / rate) for a, b in CUTS]


def test_the_rest_rule_keeps_dropouts_close_together_and_in_very_quiet_music(backing) -> None:
    """What the rest rule must not take for a rest (a review of its first form missed both):
    two dithered dropouts 10 ms apart (past one's edge lies the other, not a rest: read up to
    it), and digital silence cut into music peaking at -76 dBFS, under the quiet level (a
    dropout of the first way, whatever the music beside it)."""
    audio, rate = backing
    pair = audio.copy()
    cuts = [(44100, 46305), (46746, 48951)]  # 50 ms each, 10 ms apart
    for first, stop in cuts:
        pair[:, first:stop] = 0.0
    stored = fixed_point(pair, 16, "tpdf", seed=3)
    assert dropouts.find(stored, rate) == [(a / rate, b / rate) for a, b in cuts]
    quiet = (audio / np.abs(audio).max() * 10 ** (-76 / 20)).astype(np.float32)
    quiet[:, 44100:46305] = 0.0
    assert dropouts.find(quiet, rate) == [(44100 / rate, 46305 / rate)]


def test_restore_gap_auto_fills_what_diagnose_finds(backing, damaged) -> None:
    audio, rate = backing
    found = dropouts.find(damaged, rate)
    assert found == [(first / rate, stop / rate) for first, stop in CUTS]
    auto = restore(damaged, rate, Inpaint(gaps="auto"))
    given = restore(damaged, rate, Inpaint(gaps=tuple(Gap(a, b) for a, b in found)))
    np.testing.assert_array_equal(auto.audio, given.audio)  # the same repair as given gaps
    assert auto.details[FOUND_GAPS] == [list(span) for span in found]
    assert FOUND_GAPS not in given.details
    for first, stop in CUTS:  # filled, not silent
        assert np.abs(auto.audio[:, first:stop]).mean() > 0.3 * np.abs(audio[:, first:stop]).mean()
    clean = restore(audio, rate, Inpaint(gaps="auto"))
    np.testing.assert_array_equal(clean.audio, audio)
    assert clean.unchanged == NOTHING_FOUND["inpaint"]
    with pytest.raises(DamageError, match="not auto"):
        degrade(audio, rate, Inpaint(gaps="auto"))


def test_cli_gap_auto(tmp_path, damaged, backing, capsys) -> None:
    rate = backing[1]
    source = tmp_path / "take.wav"
    sf.write(source, damaged.T, rate, subtype="PCM_24")
    # --quiet: on a slow machine a progress bar would join the notes compared
    assert main(["restore", str(source), "-o", str(tmp_path / "out.wav"), "--task", "inpaint",
                 "--gap", "auto", "--quiet"]) == 0  # fmt: skip
    spans = ", ".join(f"{a / rate:.4f}-{b / rate:.4f} s" for a, b in CUTS)
    assert capsys.readouterr().err.strip() == f"note: filled 2 dropout(s) found: {spans}"
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert np.count_nonzero(np.abs(out[CUTS[1][0] : CUTS[1][1]]) > 2**-23) > 20000
    code = main(["restore", str(source), "-o", str(tmp_path / "x.wav"), "--task", "inpaint",
                 "--gap", "auto", "--gap", "1:2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "give it alone" in err
    assert not (tmp_path / "x.wav").exists()


def smeared(rate: int = 10000) -> np.ndarray:
    """Music at a steady level with a dropout at 100-200 ms whose edges a codec smeared: 20 ms
    at -30 dB before it (joins), 5 ms at -10 dB after it (music: stays), 1 ms frames of 10."""
    audio = np.full((2, rate // 2), 0.5, np.float32)
    audio[:, 1000:2000] = 0.0
    audio[:, 800:1000] = 0.5 * 10 ** (-30 / 20)
    audio[:, 2000:2050] = 0.5 * 10 ** (-10 / 20)
    return audio


def test_widen_takes_in_smeared_edges_and_no_more() -> None:
    rate, audio = 10000, smeared()
    scanner = DropoutScanner.at_rate(rate)
    assert scanner.scan(audio, 0) == [(1000, 2000)]
    assert scanner.widen(audio, [(1000, 2000)]) == [(800, 2000)]
    assert dropouts.find(audio, rate) == [(0.08, 0.2)]
    audio[:, 650:800] = 0.5 * 10 ** (-40 / 20)  # quiet for 35 ms: joins up to EDGE_SECONDS
    assert scanner.widen(audio, [(1000, 2000)]) == [(700, 2000)]
    # the music is read between the neighbours only: here nothing but quiet, so no widening
    assert scanner.widen(audio, [(100, 690), (1000, 2000)])[1] == (1000, 2000)
    assert scanner.widen(audio[:, 750:], [(250, 1250)]) == [(250, 1250)]  # no music beyond
    assert scanner.widen(audio, [(1000, 1400), (1419, 2000)]) == [(700, 2000)]  # one dropout
    assert DropoutScanner(20).widen(audio, [(1000, 2000)]) == [(1000, 2000)]  # edge_frame 0


def test_a_dropout_through_mp3_is_found_whole(backing) -> None:
    """The 300 ms cut through MP3 (V2): the digital silence left starts 14 ms late, ends 11 ms
    early and is broken by one sample, the quiet run around it starts 7 ms late and ends 9 ms
    early; widened, the dropout found is the cut within 1 ms."""
    audio, rate = backing
    first, stop = CUTS[1]
    damaged = audio.copy()
    damaged[:, first:stop] = 0.0
    coded = pedalboard.MP3Compressor(vbr_quality=2)(damaged, rate)
    scanner = DropoutScanner.at_rate(rate)
    runs = scanner.scan(coded, 0) + scanner.finish()
    a, b = runs[0][0], runs[-1][1]
    assert a - first > 0.005 * rate and stop - b > 0.005 * rate  # the smear the rule misses
    ((start, end),) = dropouts.find(coded, rate)
    assert abs(start - first / rate) < 0.001 and abs(end - stop / rate) < 0.001


@pytest.mark.parametrize("level, noise", [(0.001, 0.0), (0.003, 1e-4)])
def test_a_dropout_held_at_a_dc_offset_is_found(backing, level, noise) -> None:
    """A run held at a constant (or a constant under -80 dBFS noise) far under the music, with
    abrupt edges, is a dropout: the third way (held runs). It read as no dropout at all."""
    audio, rate = backing
    held = audio.copy()
    first, stop = 90000, 90000 + rate // 2  # 0.5 s
    noise_rng = np.random.default_rng(5)
    held[:, first:stop] = level + noise * noise_rng.standard_normal((2, stop - first))
    ((start, end),) = dropouts.find_runs(held, rate)[0]
    assert abs(start - first / rate) < 0.001 and abs(end - stop / rate) < 0.001
    # the clean backing, as it is and on an 8-bit grid, holds no held run with abrupt edges
    scanner = DropoutScanner(88, edge_frame=44, held=True)
    for clean in (audio, fixed_point(audio, 8)):
        assert scanner.scan(clean, 0) + scanner.finish() == []


def test_a_slow_tone_under_a_hard_gate_is_no_held_dropout(monkeypatch) -> None:
    """A saw gated hard (52 ms on, 8 ms off) over a 40 Hz bass at 0.02: in each gap the bass
    moves at most 1.1e-4 a sample, under HELD_STEP, so the step alone read 9 gaps as dropouts
    held at a DC offset; over a gap it strays 2.9e-3 to 1.0e-2 (RMS) from its mean, 5.9 times
    HELD_DEVIATION or more. The gaps held at 0.002 under -80 dBFS noise are read, all 49 but
    the last (the tail): evenly, a gate's offs left alone as one (:func:`.coded.ungated`), and
    found as dropouts with the train rule set aside (no GATE_FRAMES)."""
    rate = 44100
    t = np.arange(3 * rate) / rate
    gate = (t * 1000) % 60 < 52
    saw = 0.3 * (2 * (220 * t % 1) - 1) * gate
    bass = 0.02 * np.sin(2 * np.pi * 40 * t)
    audio = np.stack([saw + bass, 0.9 * saw + bass]).astype(np.float32)
    assert dropouts.find_runs(audio, rate) == ([], [])
    noise = np.random.default_rng(3).standard_normal((2, np.count_nonzero(~gate)))
    audio[:, ~gate] = 0.002 + 1e-4 * noise
    found, _, _, gates = dropouts.find_all(audio, rate)
    assert found == [] and [len(gate) for gate in gates] == [49]
    monkeypatch.setattr(coded, "GATE_FRAMES", 0)
    assert len(dropouts.find_runs(audio, rate)[0]) == 49


def test_a_held_run_deviates_as_numpy_reads_it_in_blocks_of_any_size() -> None:
    """A held run's RMS deviation from its mean (:class:`.held.Deviation`), read block by
    block as the scanner does, is numpy's over the whole run, for the largest channel."""
    samples = 0.5 + 1e-4 * np.random.default_rng(4).standard_normal((2, 1000))
    samples[1] *= 2  # the larger deviation
    for size in (1, 7, 1000):
        deviation = held.Deviation()
        for at in range(0, 1000, size):
            deviation.take(samples[:, at : at + size])
        assert deviation.largest() == pytest.approx(np.std(samples[1]), rel=1e-6)
    assert held.Deviation().largest() == 0.0


def test_a_held_run_is_found_the_same_in_blocks_of_any_size(backing) -> None:
    """Fed block by block (odd sizes, empty blocks between), the scanner hands
    out the held dropout it finds in one block, from its first held sample."""
    audio, rate = backing
    held = audio[:, :100000].copy()
    first, stop = 90000, 90000 + rate // 10
    held[:, first:stop] = 0.001
    whole = DropoutScanner.at_rate(rate)
    assert whole.scan(held, 0) + whole.finish() == [(first, stop)]
    for size in (7, 89, 4096):
        scanner, found = DropoutScanner.at_rate(rate), []
        for at in range(0, held.shape[1], size):
            found += scanner.scan(held[:, at : at + size], at)
            found += scanner.scan(held[:, :0], min(at + size, held.shape[1]))
        assert found + scanner.finish() == [(first, stop)]
