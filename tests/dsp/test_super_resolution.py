"""dsp super-resolution: lowers LSD against the low-passed input, keeps the band below exactly."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bridge.notes import notes_of
from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.band_limit import TRANSITION
from diffmusic_engine.damage import SuperResolution
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.synth import falling_noise

SR = 44100
CUTOFF = 8000.0


@pytest.fixture(scope="module")
def bandlimited(excerpt):
    damage = SuperResolution(CUTOFF)
    damaged = degrade(excerpt, SR, damage)
    return damaged, restore(damaged, SR, damage)


def test_lowers_lsd_against_the_lowpassed_input(excerpt, bandlimited):
    damaged, result = bandlimited
    before = metrics.lsd(excerpt, damaged, SR)
    after = metrics.lsd(excerpt, result.audio, SR)
    assert after < 0.5 * before, (before, after)
    assert result.audio.shape == excerpt.shape and result.audio.dtype == np.float32


def test_band_below_the_cutoff_is_unchanged(bandlimited):
    damaged, result = bandlimited
    freqs = np.fft.rfftfreq(damaged.shape[1], 1 / SR)
    before = np.fft.rfft(damaged.astype(np.float64))
    after = np.fft.rfft(result.audio.astype(np.float64))
    below = freqs < CUTOFF * (1 - TRANSITION)
    scale = np.abs(before[:, below]).max()
    # Only float32 rounding of the sum differs below the roll-off...
    assert np.abs(after[:, below] - before[:, below]).max() < 1e-5 * scale
    # ...while above the cutoff, where the input is silent, there is now content.
    above = freqs > CUTOFF * 1.05
    gained = np.sum(np.abs(after[:, above]) ** 2) / np.sum(np.abs(before[:, above]) ** 2 + 1e-30)
    assert gained > 1e6


def test_envelope_is_extrapolated_not_flat(excerpt, bandlimited):
    # The generated band falls with frequency like the music's own spectrum, and its level is
    # that of the music above the cutoff within 10 dB (the envelope follows the band below).
    _, result = bandlimited
    power = np.abs(np.fft.rfft(result.audio.mean(0).astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(result.audio.shape[1], 1 / SR)
    low_band = power[(freqs > 9000) & (freqs < 12000)].mean()
    high_band = power[(freqs > 16000) & (freqs < 20000)].mean()
    assert high_band < low_band
    clean = np.abs(np.fft.rfft(excerpt.mean(0).astype(np.float64))) ** 2
    above = freqs > CUTOFF * 1.05
    ratio_db = 10 * np.log10(power[above].sum() / clean[above].sum())
    assert abs(ratio_db) < 10, ratio_db


def test_auto_cutoff_is_resolved_by_restore(bandlimited):
    damaged, _ = bandlimited
    result = restore(damaged, SR, SuperResolution("auto"))
    assert result.details["cutoff"] == pytest.approx(CUTOFF, rel=0.05)


@pytest.mark.parametrize("backend", ["dsp", "diffusion"])
def test_auto_leaves_a_recording_without_band_limit_as_it_is(backend):
    """The guitar stem that fades out above ~8.4 kHz by nature (test_diagnose.py): "auto"
    extends nothing and says why, in every backend (the diffusion one loads no model for it)."""
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    audio, rate = sf.read(REAL_DIR / "chaos_god_guitar.flac", dtype="float32", frames=3 * SR)
    audio = np.ascontiguousarray(audio.T)
    options = {"model": "ucsd-reach/musicldm"} if backend == "diffusion" else {}
    result = restore(audio, rate, SuperResolution("auto"), backend=backend, options=options)
    np.testing.assert_array_equal(result.audio, audio)
    assert result.unchanged.startswith("no band limit found")
    assert result.details["backend"] == backend


def test_progress_and_cancel(bandlimited, recorder):
    damaged, _ = bandlimited
    callback = recorder()
    restore(damaged, SR, SuperResolution(CUTOFF), callback=callback)
    assert callback.fractions[0] == 0.0 and callback.fractions[-1] == 1.0
    stopper = recorder(cancel_at=1)
    with pytest.raises(Cancelled):
        restore(damaged, SR, SuperResolution(CUTOFF), callback=stopper)
    assert len(stopper.reports) == 1


@pytest.mark.parametrize("song", ["chaos_god", "war_of_freedom"])
def test_does_no_harm_on_dense_real_mixes(song):
    """Shipped real excerpts (distorted guitars over a band), 8 kHz cutoff: the LSD falls to at
    most 0.85 of the low-passed input's, and below 7 kHz the input is kept (SNR >= 30 dB)."""
    from diffmusic_engine.evaluation.corpus import real_stems

    mix = np.sum(list(real_stems(song, 3.0).values()), axis=0)
    low = degrade(mix, SR, SuperResolution(8000.0))
    out = restore(low, SR, SuperResolution(8000.0)).tracks[0]
    assert metrics.lsd(mix, out, SR) <= 0.85 * metrics.lsd(mix, low, SR)
    keep = np.fft.rfftfreq(mix.shape[1], 1 / SR) < 7000
    below = lambda x: np.fft.irfft(np.fft.rfft(x) * keep, n=mix.shape[1])  # noqa: E731
    assert metrics.snr(below(low), below(out)) >= 30.0


@pytest.mark.parametrize("song", ["war_of_freedom", "internal_degeneration"])
def test_a_high_cutoff_is_extended_with_the_steeper_fall_of_real_music(song):
    """An MP3's 16 kHz limit: one tilt clamp for every cutoff (-24..-9 dB/octave) made the top
    band 10-16 dB too loud, and the log-mel distance to the clean take 1.77x / 2.51x the
    input's on these shipped mixes; the clamp for 14 kHz up (TILTS) gives 0.63x / 0.82x."""
    from diffmusic_engine.dsp.super_resolution import tilt_range
    from diffmusic_engine.evaluation.corpus import real_stems

    mix = np.sum(list(real_stems(song, 3.0).values()), axis=0)
    low = degrade(mix, SR, SuperResolution(16000.0))
    result = restore(low, SR, SuperResolution(16000.0))
    assert (result.details["min_tilt"], result.details["max_tilt"]) == tilt_range(16000.0)
    ratio = metrics.log_mel_distance(mix, result.tracks[0], SR) / metrics.log_mel_distance(
        mix, low, SR
    )
    assert ratio < 0.9


def test_a_limit_at_the_top_of_hearing_comes_back_unchanged_and_says_why(excerpt):
    """Above 17 kHz every clamp measured did harm on real music (a 44.1 kHz source at 96 kHz,
    a V2 MP3): the input comes back, with the reason."""
    low = degrade(excerpt, SR, SuperResolution(18000.0))
    result = restore(low, SR, SuperResolution(18000.0))
    assert np.array_equal(result.tracks[0], low)
    assert result.unchanged.startswith("a band limit at 18000 Hz leaves only the top of hearing")


@pytest.mark.filterwarnings("error::UserWarning")  # librosa's "n_fft too large" had reached stderr
def test_a_clip_shorter_than_one_frame_is_extended_without_warnings(excerpt):
    damage = SuperResolution(CUTOFF)
    damaged = degrade(excerpt[:, :441], SR, damage)  # 10 ms: under the 2048-sample frame
    out = restore(damaged, SR, damage).audio
    assert out.shape == damaged.shape and np.all(np.isfinite(out))
    assert np.sum(out.astype(np.float64) ** 2) > np.sum(damaged.astype(np.float64) ** 2)


def test_one_tilt_bound_given_against_the_cutoff_s_other_is_refused(bandlimited):
    """min_tilt -12 at 16 kHz, max_tilt from TILTS (-30): the clamp had been inverted and the
    user's bound silently ignored."""
    low, _ = bandlimited
    with pytest.raises(DamageError, match="min_tilt -12 is above max_tilt -30 dB/octave"):
        restore(low, SR, SuperResolution(16000.0), options={"min_tilt": -12.0})


def _falling_noise(db_per_octave: float, seconds: float = 3.0) -> np.ndarray:
    """A dark recording's long-term spectrum, built (:func:`synth.falling_noise`)."""
    return falling_noise(seconds, SR, db_per_octave)


def test_a_recording_with_nothing_near_the_cutoff_comes_back_unchanged_and_says_why():
    """Falling 24 dB/octave from 2 kHz, cut at 12 kHz: its top lies ~52 dB under its body (a
    guitar stem's -26 to -53 there), where every extension measured did harm: none is made."""
    low = degrade(_falling_noise(-24.0), SR, SuperResolution(12000.0))
    result = restore(low, SR, SuperResolution(12000.0))
    assert np.array_equal(result.tracks[0], low)
    assert result.details["top_level_db"] < -23.0
    assert result.unchanged.startswith("the recording has little of its own near the 12000 Hz")
    under = f"lies {-result.details['top_level_db']:.0f} dB under its 200-2000 Hz band"
    assert under in result.unchanged  # a positive number of dB under (it read "-52 dB under")
    forced = restore(low, SR, SuperResolution(12000.0), options={"rebuilt_level_db": 0.0})
    assert forced.unchanged is None and forced.details["rebuilt_level_db"] == 0.0  # as named


def _with_partials(audio: np.ndarray, freqs: tuple[float, ...], amplitude: float) -> np.ndarray:
    t = np.arange(audio.shape[1]) / SR
    return (audio + amplitude * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def test_a_dark_recording_with_a_peaky_top_gets_its_band_rebuilt_quieter(monkeypatch):
    """Falling 12 dB/octave, three partials in the top third-octave below the 8 kHz cut: its
    top lies ~20 dB under its body and is peaky (flatness ~0.36), as the three guitar stems that
    full-level extension made up to 10.7x worse: the band comes back 10 dB lower, in power a
    tenth of what the full-level extension adds."""
    from diffmusic_engine.dsp import super_resolution

    dark = _with_partials(_falling_noise(-12.0), (6500.0, 6900.0, 7300.0), 0.01)
    low = degrade(dark, SR, SuperResolution(CUTOFF))
    quieter = restore(low, SR, SuperResolution(CUTOFF))
    assert quieter.details["rebuilt_level_db"] == -10.0 and not quieter.unchanged
    (told,) = notes_of(quieter.details)  # the user is told, not only the details
    assert told["text"].startswith("the rebuilt top band was added 10 dB lower")
    assert quieter.details["top_flatness"] < 0.8
    monkeypatch.setattr(super_resolution, "QUIETER_BY_DB", 0.0)
    full = restore(low, SR, SuperResolution(CUTOFF))
    added = [np.sum((r.tracks[0].astype(np.float64) - low) ** 2) for r in (quieter, full)]
    assert added[0] == pytest.approx(0.1 * added[1], rel=0.01)


def test_a_dark_recording_with_a_noise_like_top_is_rebuilt_at_full_level():
    """The same without the partials (top ~21 dB under the body, flatness ~0.97), as the two
    guitar stems full-level extension helped at 8 kHz (0.55, 0.86): extended in full."""
    low = degrade(_falling_noise(-12.0), SR, SuperResolution(CUTOFF))
    result = restore(low, SR, SuperResolution(CUTOFF))
    assert result.details["rebuilt_level_db"] == 0.0
    assert result.details["top_level_db"] < -16.0 and result.details["top_flatness"] > 0.8


def test_an_ordinary_band_limit_is_rebuilt_at_full_level(bandlimited):
    """The synthetic mix cut at 8 kHz: its top lies ~7 dB under its body, as a real mix's
    (-5 to -15): extended in full."""
    _, result = bandlimited
    assert result.details["rebuilt_level_db"] == 0.0
    assert -15.0 < result.details["top_level_db"] < 0.0


def _log_mel_ratio(clean: np.ndarray, cutoff: float) -> float:
    """Log-mel distance to ``clean`` of its extension from ``cutoff``, over the low-passed
    input's."""
    low = degrade(clean, SR, SuperResolution(cutoff))
    out = restore(low, SR, SuperResolution(cutoff)).tracks[0]
    return metrics.log_mel_distance(clean, out, SR) / metrics.log_mel_distance(clean, low, SR)


@pytest.mark.parametrize(
    ("song", "cutoff"),
    [
        ("feelings", 4000.0),
        ("internal_degeneration", 5000.0),
        ("chaos_god", 6000.0),
        ("chaos_god", 7000.0),
    ],
)
def test_a_guitar_stem_cut_below_8_khz_is_not_made_worse(song, cutoff):
    """A guitar's cabinet rolls off just above 4-7 kHz while its top below is as loud as its
    body, so the dark-recording rule cannot see it: at the -24..-9 dB/octave clamp these shipped
    stems came back 2.42x, 2.15x, 3.91x and 3.87x worse than the low-passed input (log-mel
    distance to the clean take); the steeper clamp below 8 kHz (TILTS) gives 0.63x, 0.39x, 0.78x
    and 0.80x."""
    from diffmusic_engine.evaluation.corpus import real_stems

    assert _log_mel_ratio(real_stems(song, 6.0)["Guitar"], cutoff) < 1.0


def test_a_real_mix_cut_at_4_khz_is_not_made_worse():
    """The quality corpus's 5 s feelings mix (its stems summed) came back 1.302x worse than the
    low-passed input at 4 kHz with the -24..-9 clamp (the guitar's rebuilt top far too loud);
    the steeper clamp below 8 kHz gives 0.83x."""
    from diffmusic_engine.evaluation.corpus import real_stems

    mix = np.sum(list(real_stems("feelings", 5.0).values()), axis=0)
    assert _log_mel_ratio(mix, 4000.0) < 1.0


def test_a_dropout_stays_a_dropout():
    """A shipped mix low-passed at 8 kHz with 0.3 s cut to digital silence: the rebuilt band's
    patch put sound up to -31 dBFS into the cut, and the dropout could no longer be found to
    fill. It comes back as it was (exact zeros, found again); the band above 8 kHz is rebuilt
    around it."""
    from diffmusic_engine.diagnose.dropouts import find_dropouts
    from diffmusic_engine.evaluation.corpus import real_stems

    rate = 44100
    stems = real_stems("chaos_god", 6.0)
    damage = SuperResolution(8000.0)
    low = degrade(stems["Backing"] + stems["Guitar"], rate, damage)
    low[:, 3 * rate : int(3.3 * rate)] = 0.0
    out = restore(low, rate, damage).audio
    assert not np.any(out[:, 3 * rate : int(3.3 * rate)])
    assert [(a, b) for a, b, _ in find_dropouts(out, rate)[0]] == [(3 * rate, int(3.3 * rate))]
    assert np.max(np.abs(out[:, : 3 * rate] - low[:, : 3 * rate])) > 0.001


def test_dropouts_do_not_lift_the_top_of_the_band():
    """A shipped guitar stem low-passed at 16 kHz reads its top third-octave 68.4 dB under its
    body (too dark to extend); three 0.3 s dropouts' broadband edges had lifted it to 47.0 dB
    under. Their segments are left out of the spectrum, and it reads as without them."""
    from diffmusic_engine.evaluation.corpus import real_stems

    rate, cutoff = 44100, 16000.0
    low = degrade(real_stems("chaos_god", 6.0)["Guitar"], rate, SuperResolution(cutoff))
    cut = low.copy()
    for start in (1.0, 2.5, 4.0):
        cut[:, int(start * rate) : int((start + 0.3) * rate)] = 0.0
    without = restore(low, rate, SuperResolution(cutoff)).details["top_level_db"]
    assert without == pytest.approx(-68.4, abs=0.1)
    assert restore(cut, rate, SuperResolution(cutoff)).details["top_level_db"] == pytest.approx(
        without, abs=1.0
    )
