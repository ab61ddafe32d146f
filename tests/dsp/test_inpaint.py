"""dsp inpainting: beats zero-fill and linear interpolation, and leaves the rest untouched."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Gap, Inpaint, gap_samples
from diffmusic_engine.dsp.ar import interpolate
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.evaluation.baselines import linear_interpolation

SR = 44100


def dropouts(seed: int = 0, count: int = 10) -> tuple[Gap, ...]:
    """``count`` gaps of 5-20 ms, one in each of ``count`` equal slots of the 2 s excerpt."""
    rng = np.random.default_rng(seed)
    gaps = []
    for slot in np.linspace(0.1, 1.9, count + 1)[:-1]:
        start = slot + rng.uniform(0, 0.1)
        gaps.append(Gap(round(start, 4), round(start + rng.uniform(0.005, 0.02), 4)))
    return tuple(gaps)


GAPS = dropouts()


def in_gap_snr(clean: np.ndarray, estimate: np.ndarray, gaps: tuple[Gap, ...]) -> float:
    inside = np.concatenate([np.arange(*gap_samples(gap, SR)) for gap in gaps])
    return metrics.snr(clean[:, inside], estimate[:, inside])


def region_lsd(clean: np.ndarray, estimate: np.ndarray, gaps: tuple[Gap, ...]) -> float:
    return float(np.mean([metrics.lsd(clean, estimate, SR, region=(g.start, g.end)) for g in gaps]))


@pytest.fixture(scope="module")
def inpainted(excerpt):
    damage = Inpaint(GAPS)
    damaged = degrade(excerpt, SR, damage)
    return damaged, restore(damaged, SR, damage)


def test_beats_zero_fill_and_linear_interpolation(excerpt, inpainted):
    damaged, result = inpainted
    linear = linear_interpolation(damaged, GAPS, SR)
    snr = {name: in_gap_snr(excerpt, x, GAPS) for name, x in
           (("zero", damaged), ("linear", linear), ("dsp", result.audio))}  # fmt: skip
    lsd = {name: region_lsd(excerpt, x, GAPS) for name, x in
           (("zero", damaged), ("linear", linear), ("dsp", result.audio))}  # fmt: skip
    assert snr["zero"] == pytest.approx(0.0)  # zero-fill: the error is the signal itself
    assert snr["dsp"] > max(snr["zero"], snr["linear"]) + 1.0, snr
    assert lsd["dsp"] < min(lsd["zero"], lsd["linear"]) - 0.1, lsd


def test_an_ar_fill_changes_only_its_gaps(excerpt, inpainted):
    """The AR estimate meets the samples beside a gap by construction: the default crossfade
    (2 ms) is the pattern fill's; it had re-estimated 2 ms beside each AR gap too, a wider gap
    to solve (3.7 dB less SNR in 1 ms gaps of real recordings)."""
    damaged, result = inpainted
    assert {fill["method"] for fill in result.details["fills"]} == {"ar"}
    touched = np.zeros(damaged.shape[1], bool)
    for gap in GAPS:
        first, stop = gap_samples(gap, SR)
        touched[first:stop] = True
    assert np.array_equal(result.audio[:, ~touched], damaged[:, ~touched])
    assert result.audio.dtype == np.float32 and result.audio.shape == damaged.shape
    # Both channels are filled, each with its own estimate.
    first, stop = gap_samples(GAPS[3], SR)
    assert np.all(np.abs(result.audio[:, first:stop]).max(axis=1) > 1e-3)
    assert not np.allclose(result.audio[0, first:stop], result.audio[1, first:stop])


def test_ar_gaps_a_few_ms_apart_keep_the_music_between(excerpt):
    """Two 1 ms gaps 3 ms apart: merged by their crossfades, the 132 samples of music between
    them had been re-estimated too."""
    damage = Inpaint((Gap(0.5, 0.501), Gap(0.504, 0.505)))
    damaged = degrade(excerpt, SR, damage)
    out = restore(damaged, SR, damage).audio
    (first, _), (_, stop) = (gap_samples(gap, SR) for gap in damage.gaps)
    between = slice(gap_samples(damage.gaps[0], SR)[1], gap_samples(damage.gaps[1], SR)[0])
    assert np.array_equal(out[:, between], damaged[:, between])
    assert np.abs(out[:, first:stop]).max() > 1e-3
    outside = np.ones(damaged.shape[1], bool)
    outside[first:stop] = False
    assert np.array_equal(out[:, outside], damaged[:, outside])


def test_without_crossfade_only_the_gap_changes(excerpt):
    damage = Inpaint(GAPS[:2], crossfade=0.0)
    damaged = degrade(excerpt, SR, damage)
    out = restore(damaged, SR, damage).audio
    mask = np.ones(damaged.shape[1], bool)
    for gap in damage.gaps:
        first, stop = gap_samples(gap, SR)
        mask[first:stop] = False
        assert np.abs(out[:, first:stop]).max() > 1e-3
    assert np.array_equal(out[:, mask], damaged[:, mask])


def test_gaps_at_the_edges_extrapolate(excerpt):
    n = excerpt.shape[1]
    damage = Inpaint((Gap(0.0, 0.01), Gap((n - 441) / SR, n / SR)))
    damaged = degrade(excerpt, SR, damage)
    out = restore(damaged, SR, damage).audio
    assert np.all(np.isfinite(out))
    # Bounded by the level of the music around them, and not silence.
    for part in (out[:, :441], out[:, -441:]):
        assert 1e-4 < np.abs(part).max() < 2 * np.abs(excerpt).max()


def test_interpolate_recovers_an_ar_process_exactly_predictable():
    # A sum of two undamped sinusoids is an AR(4) process: at its order the gap is recovered
    # almost exactly (65.7 dB, the same with 1e-9 noise added). A higher order over-fits a signal
    # whose prediction error is zero: at order 16 the result swung between 1 and 56 dB with
    # 1e-9 noise added and from library version to version.
    t = np.arange(4000) / SR
    x = np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1234 * t + 1)
    estimate = interpolate(x[:2000], 300, x[2300:], order=4, iterations=3)
    assert metrics.snr(x[2000:2300], estimate) > 50


def test_progress_reaches_one_and_cancel_stops(excerpt, recorder):
    damage = Inpaint(GAPS[:2])
    callback = recorder()
    restore(excerpt, SR, damage, callback=callback)
    assert callback.fractions[-1] == 1.0
    assert callback.fractions == sorted(callback.fractions)
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(excerpt, SR, damage, callback=stopper)
    assert len(stopper.reports) == 2


def test_options_are_checked(excerpt):
    damage = Inpaint(GAPS[:1])
    with pytest.raises(DamageError, match="unknown option.*ordre"):
        restore(excerpt, SR, damage, options={"ordre": 10})
    with pytest.raises(DamageError, match="iterations=0 out of range"):
        restore(excerpt, SR, damage, options={"iterations": 0})
    with pytest.raises(DamageError, match="order='big' is not a number"):
        restore(excerpt, SR, damage, options={"order": "big"})


def test_band_limited_music_is_filled_as_the_full_band_is():
    """A real backing stem low-passed at 8 kHz (an MP3 transfer's band), float: the AR model's
    whitening filter spanned over 100 dB and 10-20 ms fills reached 1e5-1e10 (exit 0). Now no
    fill is louder than the music and the gaps' errors are those of the full-band stem's."""
    from scipy.signal import butter, sosfiltfilt

    from diffmusic_engine.audio import read_audio
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    audio, info = read_audio(REAL_DIR / "chaos_god_backing.flac")
    rate, full = info.sample_rate, audio[:, : 4 * info.sample_rate]
    low = sosfiltfilt(butter(8, 8000, fs=rate, output="sos"), full).astype(np.float32)
    gaps = tuple(Gap(start, start + length) for at in (0.5, 1.5, 2.5)
                 for start, length in ((at, 0.01), (at + 0.2, 0.02)))  # fmt: skip

    def errors(audio: np.ndarray) -> np.ndarray:
        out = restore(audio, rate, Inpaint(gaps=gaps)).audio
        assert np.abs(out).max() <= np.abs(audio).max()  # no fill louder than the music
        spans = [slice(*gap_samples(gap, rate)) for gap in gaps]
        return np.array([
            np.sum((out[:, s] - audio[:, s]) ** 2) / np.sum(audio[:, s].astype(np.float64) ** 2)
            for s in spans
        ])  # fmt: skip

    np.testing.assert_allclose(errors(low), errors(full), rtol=0.1)


def test_two_tones_with_two_gaps_are_filled_in_every_iteration():
    """Two steady tones, two dropouts, as REAPER's Repair test sends them (frames 17639 on, the
    gaps 6 decimals): the third iteration's refit gave non-finite coefficients, which had set
    the filter to [1] and the whole fill to zeros."""
    rate = 44100
    t = np.arange(2 * rate) / rate
    clean = np.stack(
        [0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t + c) for c in (0, 1)]
    )[:, 17639 : 17639 + 49172].astype(np.float32)
    gaps = (Gap(0.3, 0.320023), Gap(0.800023, 0.815011))
    damaged = degrade(clean, rate, Inpaint(gaps=gaps))
    out = restore(damaged, rate, Inpaint(gaps=gaps)).audio
    for gap in gaps:
        first, stop = gap_samples(gap, rate)
        part = clean[:, first:stop].astype(np.float64)
        assert np.sum((out[:, first:stop] - part) ** 2) / np.sum(part**2) < 0.01
