"""Declick on built audio: detection of injected bursts, repair, bit-identity, the removed track."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import toeplitz
from scipy.signal import lfilter

from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Declick, Gap, damage_from_dict, damage_to_dict, spans_to_gaps
from diffmusic_engine.dsp.declick import detect_clicks
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.operators.declick import burst_spans

SR = 44100
TOLERANCE = round(0.003 * SR)  # a detection within 3 ms of a burst finds it


def _found(truth: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[bool]:
    return [any(a - TOLERANCE <= s and e <= b + TOLERANCE for a, b in spans) for s, e in truth]


@pytest.fixture(scope="module")
def tones() -> np.ndarray:
    """2 s of stereo chords (partials with a slow tremolo) over a -60 dB noise floor: audio whose
    AR prediction error is the noise floor, so every detection above it is a burst.
    (The synth excerpts hold naive sawtooth edges, which are clicks in their own right.)"""
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    partials = [(f, 0.2 / k) for k, f in enumerate((220.0, 277.2, 329.6, 440.0, 554.4), 1)]
    chord = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f, a in partials)
    chord = chord * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    return (chord + 1e-3 * rng.standard_normal((2, t.size))).astype(np.float32)


@pytest.fixture(scope="module")
def clicked(tones: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    damage = Declick(rate=5.0, burst_db=0.0, seed=1)
    return degrade(tones, SR, damage), burst_spans(damage, tones.shape[1], SR)


def test_bursts_are_injected_only_in_their_spans(tones, clicked):
    damaged, truth = clicked
    assert len(truth) == 10  # round(rate * 2 s)
    inside = np.zeros(tones.shape[1], bool)
    for first, stop in truth:
        assert 0.0003 * SR - 1 <= stop - first <= 0.002 * SR + 1
        inside[first:stop] = True
    assert np.array_equal(damaged[:, ~inside], tones[:, ~inside])
    assert np.all(damaged[:, inside] != tones[:, inside])


def test_detection_finds_the_bursts_and_little_else(tones, clicked):
    damaged, truth = clicked
    spans = detect_clicks(damaged, SR)
    assert all(_found(truth, spans))
    false = [s for s in spans if not any(s[0] - TOLERANCE <= e and b <= s[1] + TOLERANCE
                                         for b, e in truth)]  # fmt: skip
    assert not false
    assert not detect_clicks(tones, SR)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clicks_are_found_among_noiseless_digital_tones(dtype):
    """Two pure tones have a singular AR model past order 4: without a noise floor under the
    fit, the float64 tones' prediction error reached 1e37 everywhere and no click was found."""
    t = np.arange(2 * SR) / SR
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    clicked = tones.astype(dtype)
    truth = [(SR // 2, SR // 2 + 1), (3 * SR // 2, 3 * SR // 2 + 3)]
    for (first, stop), height in zip(truth, (0.3, -0.2), strict=True):
        clicked[first:stop] += height
    spans = detect_clicks(clicked[None], SR)
    assert all(_found(truth, spans)) and len(spans) == 2
    assert not detect_clicks(tones.astype(dtype)[None], SR)


def test_sensitivity_orders_the_detections(clicked):
    damaged, _ = clicked
    counts = [len(detect_clicks(damaged, SR, options={"sensitivity": s})) for s in (0.0, 1.0)]
    assert counts[0] <= counts[1]


def test_repair_lowers_the_error_and_leaves_the_rest_bit_identical(tones, clicked):
    damaged, truth = clicked
    restoration = restore(damaged, SR, Declick())
    out, removed = restoration.tracks
    spans = [(round(a * SR), round(b * SR)) for a, b in restoration.details["clicks"]]
    touched = np.zeros(tones.shape[1], bool)
    for first, stop in spans:
        touched[first:stop] = True
    assert np.array_equal(out[:, ~touched], damaged[:, ~touched])
    assert touched.mean() < 0.02
    assert np.array_equal(removed, damaged - out)
    burst = np.zeros_like(touched)
    for first, stop in truth:
        burst[first:stop] = True
    error_in = np.sum((damaged - tones)[:, burst] ** 2)
    error_out = np.sum((out - tones)[:, burst] ** 2)
    assert 10 * np.log10(error_in / error_out) >= 10


def test_clean_audio_comes_back_unchanged_and_says_why(tones, clicked):
    """The clean chords hold no click at the default sensitivity: the input, and the reason
    (it had been returned without a word); repaired audio carries no such note."""
    restoration = restore(tones, SR, Declick())
    assert restoration.details["count"] == 0
    assert np.array_equal(restoration.tracks[0], tones)
    assert restoration.unchanged.startswith("no click found at sensitivity 0.5: nothing changed")
    assert restore(clicked[0], SR, Declick()).unchanged is None


def test_known_clicks_are_repaired_without_detection(tones, clicked):
    damaged, truth = clicked
    first, stop = truth[0]
    damage = Declick(clicks=(Gap(first / SR, stop / SR),))
    out = restore(damaged, SR, damage).tracks[0]
    assert np.array_equal(out[:, stop:], damaged[:, stop:])
    assert np.array_equal(out[:, :first], damaged[:, :first])
    assert np.sum((out - tones)[:, first:stop] ** 2) < np.sum((damaged - tones)[:, first:stop] ** 2)


def test_crackle_mode_finds_tiny_clicks(tones):
    damage = Declick(mode="crackle", rate=50.0, burst_db=12.0, seed=2)
    damaged = degrade(tones, SR, damage)
    truth = burst_spans(damage, tones.shape[1], SR)
    assert max(stop - first for first, stop in truth) <= 0.25e-3 * SR + 1
    found = _found(truth, detect_clicks(damaged, SR, "crackle"))
    assert np.mean(found) >= 0.8


def test_progress_runs_once_from_0_to_1_through_detection_and_repair(clicked, recorder):
    """Detection took the job to 0.75, then the repair's own reports went back to 0 (a user
    trial's --json lines): each is a part of the job's now (DETECT_SHARE)."""
    from diffmusic_engine.dsp.declick import DETECT_SHARE

    damaged, _ = clicked
    callback = recorder()
    restore(damaged, SR, Declick(), callback=callback)
    assert callback.fractions == sorted(callback.fractions) and callback.fractions[-1] == 1.0
    detecting = [p.fraction for p in callback.reports if p.stage == "detect clicks"]
    repairing = [p.fraction for p in callback.reports if p.stage == "inpaint"]
    assert detecting and repairing  # both stages reported
    assert max(detecting) <= DETECT_SHARE <= min(repairing)


def test_cancel_stops_the_repair(clicked, recorder):
    damaged, _ = clicked
    with pytest.raises(Cancelled):
        restore(damaged, SR, Declick(), callback=recorder(cancel_at=3))


def test_description_round_trip_and_errors():
    damage = Declick(mode="crackle", clicks=(Gap(0.1, 0.101),), rate=10.0)
    assert damage_from_dict(damage_to_dict(damage)) == damage
    with pytest.raises(DamageError, match="mode"):
        Declick(mode="pop")
    with pytest.raises(DamageError, match="sensitivity"):
        restore(np.zeros((1, SR), np.float32), SR, Declick(), options={"sensitivity": 2})


def test_distorted_music_keeps_its_edges_around_a_click():
    """A driven (tanh) chord has sharp but predictable edges: no detection on the clean audio.
    A loud burst biases its block's AR model towards white noise, and a model fitted with the
    burst in it misses those edges (25 false alarms here before the confirmation pass), so
    every detection away from a burst is one the bursts caused: there must be none."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    partials = [(f, 0.2 / k) for k, f in enumerate((82.4, 123.5, 164.8), 1)]
    chord = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f, a in partials)
    driven = 0.5 * np.tanh(10 * chord)
    x = (np.stack([driven, driven]) + 1e-3 * rng.standard_normal((2, t.size))).astype(np.float32)
    assert not detect_clicks(x, SR)
    damage = Declick(rate=5.0, burst_db=6.0, seed=1)
    truth = burst_spans(damage, x.shape[1], SR)
    spans = detect_clicks(degrade(x, SR, damage), SR)
    assert all(_found(truth, spans))
    assert all(any(a - TOLERANCE <= e and s <= b + TOLERANCE for s, e in truth) for a, b in spans)


def test_repair_keeps_what_the_burst_leaves_of_the_music():
    """On a Gaussian AR(2) process (a resonance at 1 kHz, pole radius 0.95) with bursts as loud
    as the signal, no estimate that discards the click samples can beat, on average, the
    conditional variance of the gap given the rest, ``sigma_e^2 tr((A_u^T A_u)^-1)`` (the true
    model's interpolation error). The bursts leave part of the music in those samples: the
    noisy-data interpolator must beat that bound by at least 3 dB (it gains about 8 here)."""
    rng = np.random.default_rng(0)
    a = np.array([1.0, -2 * 0.95 * np.cos(2 * np.pi * 1000 / SR), 0.95**2])
    excitation = 0.01 * rng.standard_normal((2, 2 * SR))
    x = lfilter([1.0], a, excitation, axis=1).astype(np.float32)
    damage = Declick(rate=10.0, burst_db=0.0, seed=1)
    truth = burst_spans(damage, x.shape[1], SR)
    damaged = degrade(x, SR, damage)
    out = restore(damaged, SR, Declick(clicks=spans_to_gaps(truth, SR))).tracks[0]
    burst = np.zeros(x.shape[1], bool)
    for first, stop in truth:
        burst[first:stop] = True
    sigma_e2 = np.var(lfilter(a, [1.0], x.astype(np.float64), axis=1))
    r = np.correlate(a, a, "full")[a.size - 1 :]  # first column of A_u^T A_u: r_0 .. r_p, 0 ..
    bound = sum(  # expected squared error of the best estimate without the click samples
        x.shape[0] * sigma_e2 * np.trace(np.linalg.inv(toeplitz(np.r_[r, np.zeros(m - r.size)])))
        for m in (stop - first for first, stop in truth)
    )
    signal = np.sum(x[:, burst].astype(np.float64) ** 2)
    error = np.sum((out - x)[:, burst].astype(np.float64) ** 2)
    assert 10 * np.log10(signal / error) >= 10 * np.log10(signal / bound) + 3


def test_transients_of_clean_real_music_are_found_but_not_repaired():
    """A real backing track (shipped clip, no clicks): click mode's detector marks 4 attacks, and
    none departs from the AR estimate by more than the music's own prediction error allows, so
    the output is the input, said; loud bursts added to it are repaired, and a span given with
    --click is repaired whatever it holds."""
    from diffmusic_engine.audio import read_audio
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    audio, info = read_audio(REAL_DIR / "chaos_god_backing.flac")
    rate = info.sample_rate
    clean = restore(audio, rate, Declick())
    assert clean.details["found"] == 4 and clean.details["count"] == 0, clean.details
    np.testing.assert_array_equal(clean.tracks[0], audio)
    assert "none standing out from the music's own prediction error" in clean.unchanged

    clicked, rng = audio.copy(), np.random.default_rng(3)
    at = [round(s * rate) for s in (1.1, 2.7, 4.3)]
    for start in at:  # 0.45 ms bursts of noise, 0.2 RMS
        clicked[:, start : start + 20] += 0.2 * rng.standard_normal((audio.shape[0], 20))
    out = restore(clicked, rate, Declick())
    repaired = [round(a * rate) for a, _ in out.details["clicks"]]
    assert all(any(abs(r - start) < 40 for r in repaired) for start in at), out.details["clicks"]
    error = lambda x: float(np.sum((x.astype(np.float64) - audio) ** 2))  # noqa: E731
    # 0.36 measured (0.18 before the fill's error was measured beside each span: on these drums
    # the plain fill errs about as much as a 0.2 RMS burst, and the repair keeps more of it)
    assert error(out.tracks[0]) < 0.5 * error(clicked)

    first, stop = detect_clicks(audio, rate)[0]
    span = Gap(first / rate, stop / rate)
    given = restore(audio, rate, Declick(clicks=(span,)))
    assert given.details["count"] == 1 and not np.array_equal(given.tracks[0], audio)


@pytest.mark.parametrize("peak_db", [-70.0, -80.0])
def test_clicks_in_a_passage_quiet_enough_to_read_as_dropouts_are_still_clicks(peak_db):
    """Music played 70-80 dB down with 13 clicks of 1 ms at -40 dB: the dropout rule's edges
    read the quiet stretches between clicks as dropouts, and a guard that took every span by a
    dropout for its edge left 3-4 of the 13. A dropout's edge has music beyond it; these are
    quiet on both sides: all 13 are found, and the rule keeps none as a dropout (a rest between
    clicks, diagnose.flanks)."""
    from diffmusic_engine.diagnose.dropouts import DropoutScanner, find_dropouts
    from diffmusic_engine.synth import music_excerpt

    rate = 44100
    music = music_excerpt(4.0, rate, channels=2, seed=3)
    audio = (music / np.abs(music).max() * 10 ** (peak_db / 20)).astype(np.float32)
    starts = [round(t * rate) for t in np.linspace(0.2, 3.8, 13)]
    noise = np.random.default_rng(1).standard_normal((13, 2, 44)).astype(np.float32)
    for first, burst in zip(starts, noise, strict=True):
        audio[:, first : first + 44] += 0.01 * burst
    scanner = DropoutScanner.at_rate(rate)
    assert scanner.scan(audio, 0) + scanner.finish()  # the edges' reading of this passage
    assert find_dropouts(audio, rate)[0] == []  # rests between clicks
    spans = detect_clicks(audio, rate)
    tol = round(0.0015 * rate)
    assert all(any(a <= s + tol and b >= s + 44 - tol for a, b in spans) for s in starts)


def test_crackle_mode_leaves_music_with_no_crackle_as_it_is():
    """A clean shipped mix: crackle mode had repaired 3 of its attacks a second (log-mel 0.0 ->
    0.01 from the clean take). Crackle is many ticks a second: under MIN_CRACKLE_PER_S found, it
    says so and changes nothing; dense crackle (1000 a second, -6 dB) is still repaired."""
    import soundfile as sf

    from diffmusic_engine.dsp.declick import MIN_CRACKLE_PER_S
    from diffmusic_engine.evaluation.corpus import REAL_DIR
    from diffmusic_engine.metrics import log_mel_distance

    mix = sum(sf.read(REAL_DIR / f"chaos_god_{s}.flac", dtype="float32")[0].T
              for s in ("backing", "guitar"))  # fmt: skip
    seconds = mix.shape[1] / SR
    crackle = Declick(mode="crackle")
    assert 0 < len(detect_clicks(mix, SR, "crackle")) < MIN_CRACKLE_PER_S * seconds
    clean = restore(mix, SR, crackle)
    np.testing.assert_array_equal(clean.tracks[0], mix)
    assert clean.unchanged.startswith("no stretch of crackle found")
    damaged = degrade(mix, SR, Declick(mode="crackle", rate=1000.0, burst_db=-6.0, seed=1))
    out = restore(damaged, SR, crackle)
    assert out.details["count"] >= MIN_CRACKLE_PER_S * seconds
    assert log_mel_distance(mix, out.tracks[0], SR) < 0.8 * log_mel_distance(mix, damaged, SR)
    # counted where it is: 2 s of it before 18 s of clean music (over the file: 15 a second)
    long = np.concatenate([damaged[:, : 2 * SR], np.tile(mix, 3)], axis=1)
    burst = restore(long, SR, crackle).details["clicks"]
    assert len(burst) >= MIN_CRACKLE_PER_S * 1.5 and max(end for _, end in burst) < 2.01


def test_faint_clicks_on_an_exposed_guitar_are_not_repaired_worse_than_they_were():
    """A shipped guitar stem with bursts 30 dB under it (4 a second, three draws): the spans sit
    at its pick attacks, where the AR fill errs 2-3x what the model's variance says, and the fill
    that trusted the model left the stem 9-13 dB further from the clean one than the bursts had
    (a user trial: 18 of 96 files worse). The fill's error measured beside each span is
    subtracted from what the repair removes (seed 3: 2.3 dB better than the input), and where
    an attack errs more than every stretch beside it (seeds 2 and 4: 7.4 and 0.7 dB worse with
    the subtraction alone) the burst is no more than its second difference shows (+1.4, +2.3
    dB); bursts as loud as the stem still repaired (SNR up 6.3 dB; 8.4 before the measuring)."""
    from diffmusic_engine.audio import read_audio
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    audio, info = read_audio(REAL_DIR / "chaos_god_guitar.flac")
    rate = info.sample_rate

    def gain_db(burst_db: float, seed: int) -> float:
        damaged = degrade(audio, rate, Declick(rate=4.0, burst_db=burst_db, seed=seed))
        out = restore(damaged, rate, Declick())
        assert out.details["count"] > 0, out.details
        error = lambda x: float(np.sum((x.astype(np.float64) - audio) ** 2))  # noqa: E731
        return 10 * np.log10(error(damaged) / error(out.tracks[0]))

    for seed in (2, 3, 4):
        assert gain_db(-30.0, seed) > 0.5, seed
    assert gain_db(0.0, 3) > 5


def test_a_span_with_no_stretch_beside_it_to_measure_is_filled_by_the_model_alone():
    """Too near the audio's ends for any known stretch as long (``_fill_error`` 0): the fill is
    the one without a measured error (RETAIN_FLOOR), not the measured one's lower floor."""
    from diffmusic_engine.dsp.ar import interpolate
    from diffmusic_engine.dsp.declick import _fill_error

    x = 0.3 * np.sin(2 * np.pi * np.arange(700) / 37)
    x += 0.01 * np.random.default_rng(0).standard_normal(700)
    first, stop = 330, 374
    detected = np.zeros(x.size + 1, np.int64)  # no other detected span
    measure = {"detected": detected, "gain": 3.0, "order": 32, "iterations": 3, "context": 4.0}
    assert _fill_error(x, first, stop, **measure) == (0.0, False)

    def fill(error):
        m, observed = stop - first, x[first:stop]
        return interpolate(x[:first], m, x[stop:], order=32, observed=observed, fill_error=error)

    np.testing.assert_array_equal(fill(lambda: (0.0, False)), fill(None))


def test_a_stretch_that_touches_another_detected_span_is_not_measured():
    """A detected click beside the span is no measure of the music's fill error: the stretches
    whose fills (contexts included) touch it are skipped, the rest measured as before."""
    from diffmusic_engine.dsp.declick import _detected, _fill_error

    n, first, stop = 8000, 4000, 4040
    x = 0.3 * np.sin(2 * np.pi * np.arange(n) / 37)
    x += 0.01 * np.random.default_rng(0).standard_normal(n)
    clicked, clicks = x.copy(), [(4205, 4235), (4365, 4395)]  # in the 2 nearest on the right
    for start, end in clicks:
        clicked[start:end] += np.random.default_rng(start).standard_normal(end - start)
    measure = {"gain": 3.0, "order": 32, "iterations": 3, "context": 4.0}
    clean = _fill_error(x, first, stop, detected=_detected([], n), **measure)[0]
    blind = _fill_error(clicked, first, stop, detected=_detected([], n), **measure)[0]
    masked = _fill_error(
        clicked, first, stop, detected=_detected([(first, stop), *clicks], n), **measure
    )[0]
    assert blind > 10 * clean
    assert 0 < masked < 2 * clean


def test_a_sharp_click_s_span_starts_where_the_click_does():
    """A one-sample spike on a tone with noise under it. The statistic, smoothed over 11 samples
    (SMOOTH_SECONDS), marks from 5 samples before the spike; the music before that predicts itself
    (here its forward error stays under 2 x its scale there), so the span starts there, not 0.3
    ms (13 samples) sooner: in dense music that much filled music errs as much as a click."""
    rng = np.random.default_rng(1)
    time = np.arange(SR // 2) / SR
    music = 0.1 * np.sin(2 * np.pi * 440 * time) + 1e-3 * rng.standard_normal(time.size)
    at = SR // 4
    clicked = np.stack([music, music]).astype(np.float32)
    clicked[:, at] += 0.2
    ((first, stop),) = detect_clicks(clicked, SR)
    assert at - 6 <= first <= at < at + 5 < stop
