"""Declick at a file's ends (dsp/declick_edges.py): a click within the repair order of the first
or last sample is found and repaired from the one side there is; music there is left alone."""

import numpy as np
import pytest

from diffmusic_engine.damage import Declick, Gap
from diffmusic_engine.diagnose.dropouts import SILENCE
from diffmusic_engine.dsp.declick import restore_declick

RATE = 44100


def _chord(seconds: float = 0.5) -> np.ndarray:
    """A stereo chord with a slow swell and faint noise under it: music the AR model predicts,
    playing through both ends (an excerpt cut from a song)."""
    rng = np.random.default_rng(3)
    time = np.arange(round(seconds * RATE)) / RATE
    swell = 1 + 0.3 * np.sin(2 * np.pi * 3 * time)
    tones = sum(np.sin(2 * np.pi * f * time + f) for f in (196.0, 246.9, 293.7, 392.0, 587.3))
    audio = 0.06 * swell * tones + 1e-4 * rng.standard_normal((2, time.size))
    return audio.astype(np.float32)


def _error_db(out: np.ndarray, clean: np.ndarray, where: slice) -> float:
    return float(10 * np.log10(np.sum(np.square(out[:, where] - clean[:, where], dtype=float))))


@pytest.mark.parametrize("offset", [0, 5, 14, 27])
def test_a_click_at_either_end_is_repaired_from_the_inside(offset: int) -> None:
    """A 4-sample click 12 dB over the music, ``offset`` samples from the first sample and from
    the last: each found and its error to the clean chord at least 15 dB under the click's (the
    parent read 0 there, found neither: 0 dB); every sample outside the spans as it was."""
    clean = _chord()
    n, level = clean.shape[1], float(np.sqrt(np.mean(clean[:, :441] ** 2)))
    click = (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype(np.float32)
    clicked = clean.copy()
    clicked[:, offset : offset + 4] += click
    clicked[:, n - offset - 4 : n - offset] -= click
    (out, removed), details = restore_declick(clicked, RATE, Declick(), {}, None)
    spans = [(round(a * RATE), round(b * RATE)) for a, b in details["clicks"]]
    assert len(spans) == 2 and spans[0][0] <= offset and spans[1][1] >= n - offset
    for where in (slice(0, offset + 60), slice(n - offset - 60, n)):
        assert _error_db(out, clean, where) < _error_db(clicked, clean, where) - 15
    outside = np.ones(n, bool)
    for first, stop in spans:
        outside[first:stop] = False
    np.testing.assert_array_equal(out[:, outside], clicked[:, outside])
    np.testing.assert_array_equal(removed, clicked - out)


def test_a_click_at_an_end_with_another_just_inside_is_repaired_as_alone() -> None:
    """The 4-sample click 10 samples from each end and another 140 samples farther in: all
    four repaired, each end's error 15 dB under the click's as alone (an end repaired before
    the clicks inside, in whose context one was left, the start had been kept whole: 0 dB)."""
    clean = _chord()
    n, level = clean.shape[1], float(np.sqrt(np.mean(clean[:, :441] ** 2)))
    click = (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype(np.float32)
    clicked = clean.copy()
    for first in (10, 154):
        clicked[:, first : first + 4] += click
        clicked[:, n - first - 4 : n - first] -= click
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    assert details["count"] == 4
    for where in (slice(0, 70), slice(n - 70, n)):
        assert _error_db(out, clean, where) < _error_db(clicked, clean, where) - 15


def test_a_click_at_the_start_is_repaired_on_the_channel_where_it_stands_out_less() -> None:
    """One 4-sample click 10 samples in, 12 dB over the chord on the left channel, half that on
    the right, whose music has hiss under it (white, 0.01): the right's departure reads under the
    attack's evidence there, the left's far over it. Both repaired: each channel's error 10 dB or
    more under the click's (the parent asked each channel alone and kept the right whole: 0 dB);
    the other samples as they were."""
    clean = _chord()
    clean[1] += (0.01 * np.random.default_rng(5).standard_normal(clean.shape[1])).astype("f4")
    level = float(np.sqrt(np.mean(clean[0, :441] ** 2)))
    click = level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])
    clicked = clean.copy()
    clicked[:, 10:14] += (np.array([[1.0], [0.5]]) * click).astype(np.float32)
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    (first, stop), *_ = [(round(a * RATE), round(b * RATE)) for a, b in details["clicks"]]
    assert first <= 10 and stop >= 14
    for channel in (slice(0, 1), slice(1, 2)):
        where = (channel, slice(0, 70))
        error, clicks = (
            np.sum(np.square(x[where] - clean[where], dtype=float)) for x in (out, clicked)
        )
        assert 10 * np.log10(error / clicks) < -10
    np.testing.assert_array_equal(out[:, stop:441], clicked[:, stop:441])


def test_a_click_on_one_channel_leaves_the_other_channels_music_as_it_was() -> None:
    """The 4-sample click 10 samples in on the left channel only; the right holds a quiet
    plucked note that starts 40 samples in, inside the click's span. The left repaired (15 dB
    under the click's error); the right bit-identical: its note departs from the chord's
    continuation, but not along the click (where the click stood out on the left, the right had
    been asked no evidence at all and its note was repaired: 29 dB SNR over 100 samples)."""
    clean = _chord()
    n, level = clean.shape[1], float(np.sqrt(np.mean(clean[0, :441] ** 2)))
    time = np.arange(n - 40) / RATE
    clean[1, 40:] += (0.06 * np.exp(-time / 0.08) * np.sin(2 * np.pi * 330 * time)).astype("f4")
    clicked = clean.copy()
    clicked[0, 10:14] += (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype("f4")
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    [(first, stop)] = [(round(a * RATE), round(b * RATE)) for a, b in details["clicks"]]
    assert first == 0 and stop > 40  # the note's onset inside the span
    where = slice(0, 70)
    assert _error_db(out[:1], clean[:1], where) < _error_db(clicked[:1], clean[:1], where) - 15
    np.testing.assert_array_equal(out[1], clicked[1])


def test_music_at_the_ends_is_left_as_it_was() -> None:
    """The clean chord, and a plucked note that starts at the first sample (an attack the
    file's start cuts into, no music before it to tell it from a click), come back bit-identical:
    the one-sided statistic near the ends reads no click in them."""
    clean = _chord()
    (out, _), details = restore_declick(clean, RATE, Declick(), {}, None)
    np.testing.assert_array_equal(out, clean)
    time = np.arange(RATE // 2) / RATE
    pluck = 0.5 * np.exp(-time / 0.08) * np.sin(2 * np.pi * 330 * time + 1.0) + clean[0]
    note = np.tile(pluck.astype(np.float32), (2, 1))
    (out, _), details = restore_declick(note, RATE, Declick(), {}, None)
    np.testing.assert_array_equal(out, note)
    assert details["clicks"] == []


def test_the_plain_estimate_is_the_music_given_both_its_sides() -> None:
    """A span near an end with samples held after it: the plain estimate is the conditional
    mean of the AR process the context's model describes (Burg's, as the repair fits it) given
    the context before the span and the samples held after it, derived independently from that
    model's autocovariance (its impulse response's); it had passed with the held samples
    ignored (the extrapolation alone)."""
    from scipy.signal import lfilter

    from diffmusic_engine.dsp.ar import burg
    from diffmusic_engine.dsp.declick_edges import _plain

    resonance = np.array([1.0, -2 * 0.97 * np.cos(0.3), 0.97**2])  # music: a decaying tone
    m, p, held = 6, 2, 4
    lags = np.abs(np.subtract.outer(np.arange(p + m + held), np.arange(p + m + held)))
    for seed in range(3):
        x = lfilter([1.0], resonance, np.random.default_rng(seed).standard_normal(800))[400:]
        near, observed = x[:300], x[300 : 300 + m + held]  # m unknowns, then held to the end
        a = burg(near, p)
        plain = _plain(near, observed, m, a)[0]
        response = lfilter([1.0], a, np.r_[1.0, np.zeros(4000)])
        autocovariance = [
            response[: response.size - k] @ response[k:] for k in range(lags.max() + 1)
        ]
        covariance = np.array(autocovariance)[lags]
        window = np.r_[near[-p:], observed]  # an AR(2) is Markov of order 2: these suffice
        unknown = np.arange(p, p + m)
        known = np.setdiff1d(np.arange(window.size), unknown)
        weights = covariance[np.ix_(unknown, known)] @ np.linalg.inv(
            covariance[np.ix_(known, known)]
        )
        np.testing.assert_allclose(plain, weights @ window[known], atol=1e-6 * np.abs(x).max())


def test_the_repair_leaves_music_alone_and_removes_a_click() -> None:
    """:func:`continued` on a decaying tone's AR process (unit innovations) with 6 unknowns and
    4 samples held: clean, its whitened departure holds about the innovations' 6 (x 10: the
    evidence asked) and the repair would remove no more than its own expected error (the
    fill-error bar, gain 3): the samples come back as they were on each ground alone (the
    plain posterior mean, neither asked, moves them); a click 20 x the tone's deviation on one
    sample is taken out to within a tenth of that deviation."""
    from scipy.signal import lfilter

    from diffmusic_engine.dsp.declick import CONTROL_OFFSETS, CONTROL_PERCENTILE
    from diffmusic_engine.dsp.declick_edges import continued

    resonance = np.array([1.0, -2 * 0.97 * np.cos(0.3), 0.97**2])
    m, order = 6, 2
    for seed in range(3):
        x = lfilter([1.0], resonance, np.random.default_rng(seed).standard_normal(1400))[400:]
        context, observed = x[:900], x[900 : 900 + m + 4]

        def repaired(held: np.ndarray, evidence: float, gain: float, before=context) -> np.ndarray:
            return continued(
                before, held, m, order, evidence, gain, CONTROL_OFFSETS, CONTROL_PERCENTILE
            )

        assert not np.array_equal(repaired(observed, 0.0, 0.0), observed[:m])
        np.testing.assert_array_equal(repaired(observed, 10.0, 0.0), observed[:m])
        np.testing.assert_array_equal(repaired(observed, 0.0, 3.0), observed[:m])
        clicked = observed.copy()
        clicked[2] += 20 * np.std(x)
        fixed = repaired(clicked, 10.0, 3.0)
        assert np.abs(fixed - observed[:m]).max() < 0.1 * np.std(x)


def test_a_departure_stands_out_along_a_click_by_its_share_not_its_loudness() -> None:
    """The statistic that lets a click found on one channel be repaired on another: the
    departure's whitened energy along the click's shape over its whitened energy per sample in
    the span's other directions. For d = 3 s + r (r orthogonal to the shape s in the whitened
    inner product), 9 s'Ns / (r'Nr / (m - 1)); the same for 10 d (a channel whose music and click
    are both louder: an energy over the AR model's error alone would grow 100 x); unbounded for
    the shape alone, 0 orthogonal to it."""
    from diffmusic_engine.dsp.declick_edges import _along, _Fit

    m, rng = 8, np.random.default_rng(0)
    rows = np.tril(np.ones((m + 4, m)))[:, :m] * rng.uniform(0.5, 1.5, (m + 4, m))
    normal = rows.T @ rows  # a span's normal matrix: positive definite
    shape, music = rng.standard_normal(m), rng.standard_normal(m)
    rest = music - (music @ normal @ shape) / (shape @ normal @ shape) * shape
    for scale in (1.0, 10.0):
        d = scale * (3 * shape + rest)
        fit = _Fit(3 * m, 1e-4, np.zeros(m), 1.0, normal, d, float(d @ normal @ d))
        expected = 9 * (shape @ normal @ shape) / ((rest @ normal @ rest) / (m - 1))
        assert _along(fit, shape) == pytest.approx(expected, rel=1e-9)
    alone, across = (
        _along(_Fit(3 * m, 1e-4, np.zeros(m), 1.0, normal, d, float(d @ normal @ d)), shape)
        for d in (shape, rest)
    )
    assert alone > 1e9 and across == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("silent", [20, 30, 45])
def test_a_channel_silent_before_its_music_keeps_its_silence_and_its_music(silent: int) -> None:
    """The right channel digitally silent for its first and last ``silent`` samples (a gated
    track), the 4-sample click 10 samples from each end on the left only: the left repaired
    (15 dB under the click's error), the right bit-identical (the parent continued the right's
    music into its silence and repaired it there, the click standing out on the left)."""
    clean = _chord()
    n, level = clean.shape[1], float(np.sqrt(np.mean(clean[0, :441] ** 2)))
    clean[1, :silent] = 0
    clean[1, n - silent :] = 0
    click = (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype(np.float32)
    clicked = clean.copy()
    clicked[0, 10:14] += click
    clicked[0, n - 14 : n - 10] -= click
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    assert len(details["clicks"]) == 2
    for where in (slice(0, 70), slice(n - 70, n)):
        assert _error_db(out[:1], clean[:1], where) < _error_db(clicked[:1], clean[:1], where) - 15
    np.testing.assert_array_equal(out[1], clicked[1])


def test_a_click_in_the_silence_before_the_music_is_taken_out_to_silence() -> None:
    """Both channels digitally silent for their first 40 samples, then the chord; the 4-sample
    click 10 samples in: the error 20 dB or more under the click's (22.6) and the silence around
    the click exactly silent (the parent continued the music into the silence: 18.3 dB, all 80
    samples of the silence changed)."""
    clean = _chord()
    level = float(np.sqrt(np.mean(clean[:, :441] ** 2)))
    clean[:, :40] = 0
    clicked = clean.copy()
    clicked[:, 10:14] += (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype("f4")
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    assert _error_db(out, clean, slice(0, 100)) < _error_db(clicked, clean, slice(0, 100)) - 20
    np.testing.assert_array_equal(out[:, :10], 0)
    np.testing.assert_array_equal(out[:, 14:40], 0)


@pytest.mark.parametrize("marked", [False, True])
def test_silent_samples_within_music_are_repaired_not_held(marked: bool) -> None:
    """Near the start, within the music: the 4-sample click 10 samples in with its 2nd sample
    reading exactly 0 (the music under it its opposite), and 4 samples muted (exactly 0) 20
    samples in: each 20 dB (found) or 30 dB (marked) under the damage's error (47 and 25 found,
    64 and 49 marked; holding every exact zero had left them 11, -16, 28 and 0 dB: the mute
    found made worse than left as it was)."""
    clean = _chord()
    level = float(np.sqrt(np.mean(clean[:, :441] ** 2)))
    clicked = clean.copy()
    clicked[:, 10:14] += (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype("f4")
    clicked[:, 11] = 0
    muted = clean.copy()
    muted[:, 20:24] = 0
    bar = 30 if marked else 20
    for damaged, first in ((clicked, 10), (muted, 20)):
        clicks = (Gap(first / RATE, (first + 4) / RATE),) if marked else ()
        (out, _), _ = restore_declick(damaged, RATE, Declick(clicks=clicks), {}, None)
        where = slice(0, 100)
        assert _error_db(out, clean, where) < _error_db(damaged, clean, where) - bar


def test_a_silence_of_float_residue_is_kept_as_digital_silence() -> None:
    """The right channel's first 30 samples float residue at or under ``dropouts.SILENCE`` (the
    project's digital silence), the click on the left: the right bit-identical (the exact-zero
    rule had continued the right's music into it: 30 of 30 changed, up to 0.034)."""
    clean = _chord()
    level = float(np.sqrt(np.mean(clean[0, :441] ** 2)))
    residue = np.random.default_rng(1).uniform(-SILENCE, SILENCE, 30)
    clean[1, :30] = residue.astype(np.float32)
    clicked = clean.copy()
    clicked[0, 10:14] += (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype("f4")
    (out, _), details = restore_declick(clicked, RATE, Declick(), {}, None)
    assert len(details["clicks"]) == 1
    assert (
        _error_db(out[:1], clean[:1], slice(0, 70))
        < _error_db(clicked[:1], clean[:1], slice(0, 70)) - 15
    )
    np.testing.assert_array_equal(out[1], clicked[1])


@pytest.mark.parametrize("marked", [False, True])
def test_a_lone_zero_in_a_click_is_repaired_where_the_file_starts_at_zero(marked: bool) -> None:
    """The click above (its 2nd sample exactly 0) in a chord whose first sample reads exactly 0,
    as many files' do: 20 dB (found) or 30 dB (marked) under the click's error (51.0 and 65.1;
    holding every silent sample where a channel has silence at its end had left 14.0 and 28.3)."""
    clean = _chord()
    level = float(np.sqrt(np.mean(clean[:, :441] ** 2)))
    clean[:, 0] = 0
    clicked = clean.copy()
    clicked[:, 10:14] += (level * 10 ** (12 / 20) * np.array([1.0, -0.8, 0.9, -0.6])).astype("f4")
    clicked[:, 11] = 0
    clicks = (Gap(10 / RATE, 14 / RATE),) if marked else ()
    (out, _), _ = restore_declick(clicked, RATE, Declick(clicks=clicks), {}, None)
    bar = 30 if marked else 20
    assert _error_db(out, clean, slice(0, 100)) < _error_db(clicked, clean, slice(0, 100)) - bar
