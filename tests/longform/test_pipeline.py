"""The long-form path with a stand-in solver: resampling, windows, noise, progress, splicing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffmusic_engine.backends import REGIONS
from diffmusic_engine.damage import Gap, Inpaint, Separate
from diffmusic_engine.longform import bands as bands_module
from diffmusic_engine.longform.gaps import full_rate_ranges
from diffmusic_engine.longform.pipeline import SolverSettings, WindowSolver, solve_track
from diffmusic_engine.longform.restore import restore_long
from diffmusic_engine.longform.windows import plan_windows, taper
from diffmusic_engine.operators import LowPassOperator, MaskOperator
from diffmusic_engine.rates import resample


def round_trip(audio, rate=48000):
    """What an identity solve must give: the input through soxr to 16 kHz and back."""
    return resample(resample(audio, rate, 16000), 16000, rate)[:, : audio.shape[-1]]


@pytest.mark.parametrize("stereo", ["mid-side", "per-channel"])
def test_identity_solve_over_windows_is_the_resampling_round_trip(adapter, stand_in, music_48k,
                                                                  stereo):  # fmt: skip
    solver = WindowSolver(adapter, stand_in, SolverSettings(stereo=stereo, batch_size=3), None)
    operator = LowPassOperator(7999.0, 16000)  # its measurement is the window itself
    estimate, details = solve_track(solver, music_48k, 48000, operator)
    assert estimate.shape == music_48k.shape and estimate.dtype == np.float32
    assert details["windows"] == len(plan_windows(64000, 16000)) == 5
    np.testing.assert_allclose(estimate, round_trip(music_48k), atol=1e-5)
    # 2 signals x 5 windows = 10 rows in chunks of 3
    assert [len(c["y"]) for c in stand_in.calls] == [3, 3, 3, 1]


def test_the_signals_of_a_window_share_their_initial_noise(adapter, music_48k, make_solve):
    def noise_by_row(batch_size):
        solve = make_solve()
        solver = WindowSolver(adapter, solve, SolverSettings(batch_size=batch_size, seed=7), None)
        solve_track(solver, music_48k, 48000, LowPassOperator(7999.0, 16000))
        return torch.cat([c["z_T"] for c in solve.calls])

    z = noise_by_row(4)
    assert z.shape == (10, 2, 25, 4)
    windows = 5
    for w in range(windows):
        assert torch.equal(z[w], z[windows + w])  # mid and side of window w: same z_T
    assert not torch.equal(z[0], z[1])  # different windows: different noise
    assert torch.equal(z, noise_by_row(10))  # independent of chunking


def test_progress_counts_windows_times_steps(adapter, stand_in, music_48k):
    seen = []
    solver = WindowSolver(adapter, stand_in, SolverSettings(batch_size=4), seen.append)
    solve_track(solver, music_48k, 48000, LowPassOperator(7999.0, 16000))
    solve_reports = [p for p in seen if p.stage == "stand-in"]
    assert {p.total for p in solve_reports} == {10 * 3}
    steps = [p.step for p in solve_reports]
    assert steps == sorted(steps) and steps[-1] == 30 and len(steps) == 3 * 3  # 3 chunks x 3


def test_inpainting_is_bit_identical_outside_the_gaps(adapter, music_48k, monkeypatch,
                                                      make_solve):  # fmt: skip
    monkeypatch.setattr(bands_module, "dsp_restoration", lambda *a: None)
    solve = make_solve(mode="constant", value=0.25)
    damage = Inpaint(gaps=(Gap(0.5, 0.55), Gap(0.6, 0.62), Gap(3.0, 3.3)), crossfade=0.002)
    result = restore_long(music_48k, 48000, damage, adapter, solve=solve)
    out = result.audio
    assert out.shape == music_48k.shape and result.sample_rate == 48000
    ranges = full_rate_ranges(damage.gaps, 48000, music_48k.shape[-1])
    outside = np.ones(music_48k.shape[-1], bool)
    for a, b in ranges:
        outside[a:b] = False
    assert np.array_equal(out[:, outside], music_48k[:, outside])
    # what the details report it changed (restore --spectrogram zooms on it): the gaps at
    # 48 kHz, their 2 ms crossfades inside them
    assert result.details[REGIONS] == [[24000, 26400], [28800, 29760], [144000, 158400]]
    # inside: the crossfade from the input into the fill (0.25 in L, 0 in R: mid 0.25, side 0.25)
    a, b = ranges[2]
    ramp = taper(b - a, 96)
    expected_left = music_48k[0, a:b] + ramp * (0.25 * 2 - music_48k[0, a:b])
    np.testing.assert_allclose(out[0, a:b], expected_left, atol=2e-3)
    np.testing.assert_allclose(out[1, a + 200 : b - 200], 0.0, atol=2e-3)
    # two windows (the first two gaps share one), each masking its gaps
    assert len(solve.calls) == 1 and len(solve.calls[0]["y"]) == 4  # 2 windows x mid/side
    operator = solve.calls[0]["operator"]
    # longest group (3.0-3.3 s, widened by 2 ms each side) plus 1/4 window of context each side
    length = (52800 + 32) - (48000 - 32) + 2 * 4000
    assert isinstance(operator, MaskOperator) and operator.mask.shape == (4, length)
    assert result.details["window_samples"] == length
    y, mask = solve.calls[0]["y"], operator.mask
    assert torch.all(y[mask == 0] == 0) and torch.any(y[mask == 1] != 0)
    gap_lengths_16k = [800 + 64, 320 + 64, 4800 + 64]  # the 50, 20 and 300 ms gaps, widened
    assert int((mask == 0).sum()) == 2 * sum(gap_lengths_16k)  # mid and side rows
    assert result.details["windows"] == 2 and result.details["gaps"] == 3


def test_separation_tracks_mix_back_to_the_input(adapter, music_48k, make_solve):
    damage = Separate(sources=2, weights=(0.3, 0.7))
    result = restore_long(music_48k, 48000, damage, adapter, solve=make_solve())
    assert len(result.tracks) == 2
    assert all(t.shape == music_48k.shape for t in result.tracks)
    mixed = 0.3 * result.tracks[0] + 0.7 * result.tracks[1]
    np.testing.assert_allclose(mixed, music_48k, atol=1e-5)


def test_band_merge_of_an_identity_model_and_the_input_gives_the_input(
    adapter, stand_in, music_48k, tmp_path, monkeypatch
):
    """Dereverb with a unit impulse and no dsp: model band (the 16 kHz round trip, flat to
    7.2 kHz) merged with the input's own top band must give the input back."""
    from diffmusic_engine.audio import write_audio
    from diffmusic_engine.damage import Dereverb

    monkeypatch.setattr(bands_module, "dsp_restoration", lambda *a: None)
    impulse = tmp_path / "unit.wav"
    write_audio(impulse, np.eye(1, 64, dtype=np.float32), 48000)
    result = restore_long(music_48k, 48000, Dereverb(rir=impulse), adapter, solve=stand_in)
    assert result.details["high_band"] == "input"
    error = (result.audio - music_48k)[:, 480:-480]  # soxr's edge transients: first/last 10 ms
    assert np.sqrt(np.mean(error**2)) < 1e-3 * np.sqrt(np.mean(music_48k**2))
    # ... while the model band alone (no merge) misses everything above 7.4 kHz
    missing = (music_48k - round_trip(music_48k))[:, 480:-480]
    assert np.sqrt(np.mean(missing**2)) > 10 * np.sqrt(np.mean(error**2))


def test_a_mono_track_in_stereo_is_solved_once(adapter, stand_in, music_48k):
    dual_mono = np.repeat(music_48k[:1], 2, axis=0)
    estimate, details = solve_track(
        WindowSolver(adapter, stand_in, SolverSettings(), None),
        dual_mono, 48000, LowPassOperator(7999.0, 16000),
    )  # fmt: skip
    assert details["rows"] == details["windows"] == 5  # the mid only
    assert sum(len(c["y"]) for c in stand_in.calls) == 5
    assert np.array_equal(estimate[0], estimate[1])
    np.testing.assert_allclose(estimate, round_trip(dual_mono), atol=1e-5)


def test_top_band_replication_returns_a_new_fill_and_changes_no_argument(music_48k):
    from diffmusic_engine.longform.restore import REPLICATION_MARGIN, _replicate_top_band

    rate, ranges = 48000, [(96000, 100800)]  # a 100 ms gap at 2 s
    fill = bands_module.lowpass(music_48k, rate, 7200.0)  # what a 16 kHz model gives
    spliced = music_48k.copy()
    spliced[:, 96000:100800] = fill[:, 96000:100800]
    before = (fill.copy(), spliced.copy())
    out = _replicate_top_band(fill, spliced, rate, ranges, 16000)
    assert np.array_equal(fill, before[0]) and np.array_equal(spliced, before[1])
    margin = round(REPLICATION_MARGIN * rate)
    far = np.ones(fill.shape[-1], bool)
    far[96000 - margin : 100800 + margin] = False
    assert np.array_equal(out[:, far], fill[:, far])  # only segments around the gap change

    def top_band_rms(x):  # above the crossover, inside the gap
        top = (x - bands_module.lowpass(x, rate, 7200.0))[:, 96000:100800]
        return np.sqrt(np.mean(top**2))

    assert top_band_rms(out) > 10 * top_band_rms(fill)  # the gap got a top band


@pytest.mark.parametrize(
    ("slope", "expected"),
    [(-3.0, (-24.0, -9.0)), (-14.0, (-24.0, -14.0)), (-32.0, (-32.0,) * 2), (-48.0, (-48.0,) * 2)],
)
def test_a_gap_s_top_band_takes_the_tilt_of_the_music_around_it(slope, expected):
    """Noise whose spectrum falls ``slope`` dB per octave, a gap in it: a mix-like top takes
    the full-band clamp (at most its own tilt), a dark one (a guitar's cabinet) its own tilt."""
    from diffmusic_engine.longform.bands import crossover_frequency, replication_tilts

    rate, n = 48000, 4 * 48000
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum = np.fft.rfft(np.random.default_rng(0).standard_normal(n))
    spectrum *= (np.maximum(freqs, 2000.0) / 2000.0) ** (slope / (20 * np.log10(2)))  # above 2 kHz
    noise = np.fft.irfft(spectrum, n=n).astype(np.float32)[None]
    noise[:, 96000:100800] = 0.0  # the gap: what is in it is not read
    tilts = replication_tilts(noise, rate, [(96000, 100800)], crossover_frequency(16000))
    assert (tilts["min_tilt"], tilts["max_tilt"]) == pytest.approx(expected, abs=1.0)
