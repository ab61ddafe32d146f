"""Declick at a note's or a drum hit's attack: the onset bar (a struck note is no click) and the
attack's mismatch (no burst takes it all)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from diffmusic_engine.api import restore
from diffmusic_engine.damage import Declick
from diffmusic_engine.dsp.declick import ONSET_GUARD_S, _onset, detect_clicks

SR = 44100


def test_struck_notes_are_found_but_not_repaired_and_clicks_beside_them_are():
    """Five struck notes (three partials, a 0.3 ms attack) over a quiet background: the detector
    marks every attack, and the evidence rule had repaired 2 of them (the vibes' and the waltz's
    attacks in clean real mixes the same way). Louder after than before, each needs the mode's
    ``onset_evidence``: none is repaired and the output is the input. A burst in a note's steady
    decay is repaired as before, and so is a loud one on an attack; a faint one in the quiet
    background, over the plain evidence and under ``onset_evidence``, is repaired too (a bar
    raised to ``onset_evidence`` everywhere keeps it)."""
    n, rng = 3 * SR, np.random.default_rng(0)
    t = np.arange(n) / SR
    x = 0.01 * (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 330 * t))
    x += 0.0005 * rng.standard_normal(n)
    onsets = [round(s * SR) for s in (0.4, 0.9, 1.4, 1.9, 2.4)]
    for first, pitch in zip(onsets, (440.0, 523.0, 659.0, 587.0, 494.0), strict=True):
        after = t[: n - first]
        note = sum(
            gain * np.exp(-after / decay) * np.sin(2 * np.pi * pitch * ratio * after + phase)
            for ratio, gain, decay, phase in zip(
                (1.0, 3.9, 9.2), (1.0, 0.5, 0.3), (0.3, 0.1, 0.03), rng.uniform(0, 2 * np.pi, 3),
                strict=True,
            )
        )  # fmt: skip
        x[first:] += 0.3 * np.minimum(1.0, after / 0.3e-3) * note
    audio = np.stack([x, 0.9 * x]).astype(np.float32)
    spans = detect_clicks(audio, SR)
    assert all(any(a - 40 <= onset <= b for a, b in spans) for onset in onsets), spans
    clean = restore(audio, SR, Declick())
    assert clean.details["count"] == 0, clean.details["clicks"]
    np.testing.assert_array_equal(clean.tracks[0], audio)

    def gain_db(at: float, level: float) -> float:
        clicked, start = audio.copy(), round(at * SR)
        clicked[:, start : start + 20] += level * rng.standard_normal((2, 20))
        out = restore(clicked, SR, Declick())
        assert out.details["count"] == 1, out.details["clicks"]
        error = lambda y: float(np.sum((y.astype(np.float64) - audio) ** 2))  # noqa: E731
        return 10 * np.log10(error(clicked) / error(out.tracks[0]))

    assert gain_db(0.65, 0.05) > 10  # 26.7 dB measured: in a decay
    assert gain_db(0.9, 0.2) > 3  # 6.7: on the second attack
    assert gain_db(0.2, 0.01) > 2  # 3.7: no onset after it (none repaired at 400)


def _attack(n: int, at: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of a quiet background and, from sample ``at``, an attack of two partials
    that decays in ``decay`` seconds."""
    x = 0.0005 * rng.standard_normal(n)
    after = np.arange(n - at) / SR
    note = np.sin(2 * np.pi * 440 * after) + 0.5 * np.sin(2 * np.pi * 1320 * after + 1)
    x[at:] += 0.3 * np.minimum(1.0, after / 0.3e-3) * np.exp(-after / decay) * note
    return x


def test_the_onset_bar_needs_music_before_and_a_note_that_sustains():
    """The evidence a span needs: ``onset_evidence`` where a note starts after it (its power 2-20
    ms after is 4 x that before, and 50-100 ms after it is still 0.1 x that), the plain one
    where the music has no window before the span (the file's start: an empty window had read
    as silence, so as an onset) and where the hit is gone 50 ms later (a drum's: its power 50-100
    ms after is exp(-2 x 0.05 / 0.01) of that just after)."""
    n, rng = SR, np.random.default_rng(0)
    at = round(0.5 * SR)
    note, hit = _attack(n, at, 0.3, rng), _attack(n, at, 0.01, rng)
    for audio, first, expected in (
        (note, at - 30, (True, True)),  # a note's attack: onset_evidence
        (hit, at - 30, (True, False)),  # a drum's: an attack, the plain evidence
        (_attack(n, 10, 0.3, rng), 0, (False, False)),  # the same note at the file's start
    ):
        audio = np.stack([audio, audio]).astype(np.float32)
        music = np.ones(n, bool)
        assert _onset(first, first + 20, audio=audio, music=music, rate=SR) == expected


def _stereo_attack() -> tuple[np.ndarray, int, np.ndarray]:
    """1 s of stereo float32: a note starting on the left at 0.5 s (sample ``at``), a steady
    220 Hz tone on the right; and a white burst's 20 samples (unit variance) to add there."""
    n, rng = SR, np.random.default_rng(0)
    at = round(0.5 * SR)
    left = _attack(n, at, 0.3, rng)
    right = 0.1 * np.sin(2 * np.pi * 220 * np.arange(n) / SR) + 0.0005 * rng.standard_normal(n)
    return np.stack([left, right]).astype(np.float32), at, rng.standard_normal(20)


def test_a_click_on_a_stereo_attack_is_repaired_on_both_channels_or_neither():
    """A note starts on the left channel while the right holds a steady tone; a burst at the
    attack on both channels. The channels share one detection and, now, one verdict on the
    onset (the left's note is the verdict for both): a faint burst (0.007) on the attack is
    repaired on neither channel (with the right judged by the plain evidence, as before that
    verdict, its departure passes from 0.006 and it was repaired on the right only), a louder one
    (0.03) on both (the left then worse than its input: the strict xfail below). Each channel
    still keeps or repairs by its own departure: since a span starts where its click does
    (``lead_edge``), a 0.01 burst passes the onset's evidence on the right (its error 0.0030 ->
    0.000014) and not on the left's attack, which keeps it as it was. The faint level must be
    one the verdict decides: the same burst on the right's tone on both channels (no note: the
    plain evidence) is repaired; else [False, False] tests nothing."""
    audio, at, burst = _stereo_attack()
    right = audio[1]
    repaired, faint = [], 0.007
    for level in (faint, 0.03):
        clicked = audio.copy()
        clicked[:, at - 5 : at + 15] += level * burst
        removed = restore(clicked, SR, Declick()).tracks[1]
        repaired.append([bool(np.any(channel)) for channel in removed])
    assert repaired == [[False, False], [True, True]]
    tone = np.stack([right, right]).astype(np.float32)
    tone[:, at - 5 : at + 15] += faint * burst
    assert all(np.any(channel) for channel in restore(tone, SR, Declick()).tracks[1])


@pytest.mark.xfail(
    raises=AssertionError,
    strict=True,
    reason="known harm on built audio: docs/results.md 'Declick: a burst on a "
    "one-channel attack' (the repair removes 3 x the burst it estimates); none found on real "
    "music ('Declick: the fill's error measured at attacks')",
)
def test_a_burst_on_a_one_channel_attack_leaves_no_channel_worse():
    """The stereo attack above with bursts of 0.015 and 0.03: the left channel (the attack)
    comes out further from the clean audio than its input (0.0067 -> 0.0199, 0.0269 -> 0.0340).
    Do no harm says neither channel may; strict, so a fix shows here. The harm needs a near-pure
    two-partial note rising about 53 dB inside the span: 28 real onsets rising over 1000 x, with
    bursts at -24 to -12 dB re the note, left none of 51 channel-onsets worse."""
    audio, at, burst = _stereo_attack()
    for level in (0.015, 0.03):
        clicked = audio.copy()
        clicked[:, at - 5 : at + 15] += level * burst
        out = restore(clicked, SR, Declick()).tracks[0].astype(np.float64)
        clean = audio.astype(np.float64)
        before, after = (np.sum((y - clean) ** 2, axis=1) for y in (clicked, out))
        assert np.all(after <= before), (level, before, after)


def test_a_note_on_one_channel_is_an_onset_for_both():
    """A struck note on the left channel beside a steady tone as loud on the right: the left's
    power rises (about 1000 x), the channels' summed power about 2 x only. The note on one
    channel is the verdict for both: ``onset_evidence``, as where both channels hold the note."""
    n, rng = SR, np.random.default_rng(0)
    at = round(0.5 * SR)
    t = np.arange(n) / SR
    right = 0.3 * (np.sin(2 * np.pi * 196 * t) + 0.5 * np.sin(2 * np.pi * 294 * t))
    audio = np.stack([_attack(n, at, 0.3, rng), right]).astype(np.float32)
    assert _onset(at - 30, at - 10, audio=audio, music=np.ones(n, bool), rate=SR) == (True, True)


def _drum_hits(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """2 s of stereo: a bass (55 and 110 Hz) and five drum hits (a falling 180 Hz tone and
    coloured noise, 0.7 ms to its peak, 10 ms decay), the hits about 14 dB over the bass."""
    n = 2 * SR
    t = np.arange(n) / SR
    x = 0.1 * np.sin(2 * np.pi * 55 * t) + 0.05 * np.sin(2 * np.pi * 110 * t + 1)
    x += 0.002 * rng.standard_normal(n)
    hits = [round(seconds * SR) for seconds in (0.25, 0.6, 0.95, 1.3, 1.65)]
    for at in hits:
        after = np.arange(n - at) / SR
        body = np.sin(2 * np.pi * 180 * after * (1 + 0.5 * np.exp(-after / 0.01)))
        body += 0.09 * lfilter([1.0], [1.0, -0.9], rng.standard_normal(n - at))
        x[at:] += 0.5 * np.minimum(1.0, after / 0.7e-3) * np.exp(-after / 0.01) * body
    return np.stack([x, x]).astype(np.float32), hits


def test_a_drum_hit_is_left_whole_and_a_burst_on_it_costs_it_little(monkeypatch):
    """Five built drum hits (0.7 ms attacks, 14 dB over a bass) and bursts (30 samples) on their
    attacks. A hit is far from the AR fill and as rough as the music just after it: the
    white-burst bound and ``ar.CLICK_BEYOND`` had taken it for a burst, and the parent changed
    the clean hits by an error energy of 20.0 and gave 24.0, 21.6, 18.8 for bursts of 0.005,
    0.02, 0.05 (0.0064, 0.103, 0.645 in the input). Now a departure no rougher than the music
    beside it is kept: the clean file and the faintest bursts' are bit-identical; 0.02 bursts
    are kept as they were (0.103; 0.170 before a span started where its click does) and 0.05
    ones (far rougher) come back at 3.57, 5.5 x their input: a known harm, the repair pulled to
    a fill that cannot foresee the attack (docs/results.md "Declick: a burst on a one-channel
    attack"). At an attack (``_onset``) the burst's power is still the bound only: with that rule
    off (``ATTACK_RISE`` inf) the 0.02 bursts came back at 6.43."""
    from diffmusic_engine.dsp import declick

    audio, hits = _drum_hits(np.random.default_rng(0))
    clean = restore(audio, SR, Declick())
    assert clean.details["count"] == 0, clean.details["clicks"]
    np.testing.assert_array_equal(clean.tracks[0], audio)

    def errors(level: float) -> tuple[float, float]:
        clicked, rng = audio.copy(), np.random.default_rng(1)
        for at in hits:
            clicked[:, at : at + 30] += level * rng.standard_normal((2, 30))
        out = restore(clicked, SR, Declick()).tracks[0]
        error = lambda y: float(np.sum((y.astype(np.float64) - audio) ** 2))  # noqa: E731
        return error(clicked), error(out)

    before, after = errors(0.005)
    assert after == before
    for level, most in ((0.02, 2.0), (0.05, 6.0)):
        before, after = errors(level)
        assert after < most * before, level
    monkeypatch.setattr(declick, "ATTACK_RISE", np.inf)
    assert errors(0.02)[1] > 20 * errors(0.02)[0]


def test_the_musics_own_roughness_is_no_burst():
    """``ar._burst_power`` with the music beside the span. A departure as rough and as loud as
    the music on both sides (the same samples) holds no burst: 0, where the bound alone read its
    second difference / 6 and CLICK_BEYOND its whole power. A white burst (0.2, power 0.04) on a
    slow sine (0.1: its second difference a share (2 pi 55 / 44100)^4 = 4e-9 of its power) is
    read as before: the bound is the burst's power within its sampling error, and away from an
    attack the larger of it and the departure's power less 2 x measured (``CLICK_BEYOND``). A
    white burst (power 9e-4) on white music 9 x quieter (1e-4) is no music's: the music in the
    span is at most ``SPAN_RISE`` (4) x its side's power, so the bound reads 9e-4 + 1e-4 - 4e-4.
    """
    from diffmusic_engine.dsp.ar import _burst_power

    rng = np.random.default_rng(0)
    rough = 0.1 * rng.standard_normal(200)
    alone = _burst_power(rough, beyond_error=1.0, measured=1e-4)
    assert alone >= float(np.mean(rough**2)) - 2e-4 > 0.008
    assert _burst_power(rough, 1.0, 1e-4, observed=rough, sides=(rough, rough)) == 0.0
    assert _burst_power(rough, 1.0, 1e-4, True, observed=rough, sides=(rough, rough)) == 0.0

    sine = 0.1 * np.sin(2 * np.pi * 55 * np.arange(600) / SR)
    burst = 0.2 * rng.standard_normal(200)
    sides, observed = (sine[:200], sine[400:]), sine[200:400] + burst
    at_attack = _burst_power(burst, 1.0, 1e-4, True, observed=observed, sides=sides)
    assert at_attack == pytest.approx(0.04, rel=0.2)
    shaped = _burst_power(burst, 1.0, 1e-4, observed=observed, sides=sides)
    assert shaped == max(at_attack, float(np.mean(burst**2)) - 2e-4)

    music, burst = 0.01 * rng.standard_normal((3, 4000)), 0.03 * rng.standard_normal(4000)
    loud = _burst_power(burst + music[1], 1.0, 1e-4, True, burst + music[1], (music[0], music[2]))
    assert loud == pytest.approx(6e-4, rel=0.1)


def test_a_smooth_pop_louder_than_the_music_can_be_is_still_a_click():
    """A smooth pop (a half-sine) on rough music leaves little second difference, and the
    music's roughness (at most ``SPAN_RISE`` x its side's power) takes all of it; but a span
    louder than ``SPAN_RISE`` x its louder side is no music's alone, and away from an attack
    ``CLICK_BEYOND`` still reads it. White music of power 1e-4 beside a 44-sample pop of 0.1
    (power 0.005): the bound is 0 but the burst is the departure's power less 2 x measured
    (1e-4), where the span had been kept as the music's; at an attack, the bound alone (0).
    Built: five 0.5 ms half-sine pops of 1.0 on white music at 0.05, a click found and repaired
    (error energy 110.0 -> 88.2; kept whole, 110.0, where any rough span was the music's)."""
    from diffmusic_engine.dsp.ar import _burst_power

    rng = np.random.default_rng(0)
    music = 0.01 * rng.standard_normal((3, 44))
    pop = 0.1 * np.sin(np.pi * np.arange(44) / 44)
    departure, sides = pop + music[1], (music[0], music[2])
    burst = _burst_power(departure, 1.0, 1e-4, observed=departure, sides=sides)
    assert burst == pytest.approx(float(np.mean(departure**2)) - 2e-4)
    assert burst > 0.004
    assert _burst_power(departure, 1.0, 1e-4, True, observed=departure, sides=sides) == 0.0

    x = 0.05 * np.random.default_rng(0).standard_normal(2 * SR)
    x = np.stack([x, x]).astype(np.float32)
    popped = x.copy()
    for i, at in enumerate((0.25, 0.6, 0.95, 1.3, 1.65)):
        first = round(at * SR)
        popped[:, first : first + 22] += (-1) ** i * np.sin(np.pi * np.arange(22) / 22)
    out = restore(popped, SR, Declick())
    error = lambda y: float(np.sum((y.astype(np.float64) - x) ** 2))  # noqa: E731
    assert out.details["count"] >= 1
    assert error(out.tracks[0]) < 0.9 * error(popped)


def test_a_span_with_few_music_samples_before_it_reads_no_onset():
    """Quiet music, then a note 300 x louder in power from ``at``; a span at ``at``. With the
    window before it all music it is a note's attack; with all but 6 of its samples in other
    detected spans (a click at the file's start, another just inside) no rise is read from those
    6 (they had read one: the inner click then needed the onset's evidence and was kept)."""
    n, at = SR // 2, 1000
    time = np.arange(n) / SR
    tone = np.sin(2 * np.pi * 440 * time)
    audio = np.stack([np.where(np.arange(n) < at, 0.01, 0.3) * tone] * 2).astype(np.float32)
    music = np.ones(n - 1, bool)
    assert _onset(at, at + 20, audio=audio, music=music, rate=SR) == (True, True)
    guard = round(ONSET_GUARD_S * SR)
    music[: at - guard - 6] = False
    assert _onset(at, at + 20, audio=audio, music=music, rate=SR) == (False, False)
