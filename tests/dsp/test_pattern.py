"""dsp pattern fill for long gaps: on a riff that repeats, the fill is the repeat."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Gap, Inpaint, gap_samples
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.synth import music_excerpt

SR = 44100
REPEATS = 6
NOISE_DB = -30.0  # level of what differs between the repeats, relative to the riff


@pytest.fixture(scope="module")
def riff() -> np.ndarray:
    """A 1 s stereo riff played 6 times, each repeat with its own noise at -30 dB."""
    bar = music_excerpt(1.0, SR, channels=2, seed=3)
    tiled = np.tile(bar, (1, REPEATS)).astype(np.float64)
    rng = np.random.default_rng(0)
    power = np.mean(bar.astype(np.float64) ** 2)
    noise = rng.standard_normal(tiled.shape) * np.sqrt(power * 10 ** (NOISE_DB / 10))
    return (tiled + noise).astype(np.float32)


def untouched(n: int, gaps: tuple[Gap, ...], fade: int) -> np.ndarray:
    mask = np.ones(n, bool)
    for gap in gaps:
        first, stop = gap_samples(gap, SR)
        mask[max(0, first - fade) : stop + fade] = False
    return mask


def gap_snr(clean: np.ndarray, out: np.ndarray, gap: Gap) -> float:
    first, stop = gap_samples(gap, SR)
    return metrics.snr(clean[:, first:stop], out[:, first:stop])


# A copy of another repeat differs from the lost one by the two repeats' independent noises:
# error power 2 x -30 dB, so SNR = 30 - 10 log10(2) = 27 dB. 3 dB is left for the crossfades
# and the composite's magnitudes (averaged over several repeats and passages).
EXPECTED_SNR = -NOISE_DB - 10 * np.log10(2) - 3


def test_the_fill_of_a_repeated_riff_is_the_repeat(riff):
    gap = Gap(3.3, 3.8)
    damage = Inpaint((gap,))
    damaged = degrade(riff, SR, damage)
    result = restore(damaged, SR, damage)
    (fill,) = result.details["fills"]
    assert fill["method"] == "pattern"
    # The source is a whole number of bars away (exact to the sample), at the same level.
    shift = fill["source"] - (gap.start - damage.crossfade)
    assert abs(shift - round(shift)) < 1.5 / SR and round(shift) != 0, fill
    assert fill["gain"] == pytest.approx([1.0, 1.0], abs=0.05)
    assert gap_snr(riff, result.audio, gap) > EXPECTED_SNR


def test_several_gaps_at_the_ends_bit_identical_elsewhere(riff):
    n = riff.shape[1]
    gaps = (Gap(0.0, 0.4), Gap(1.5, 2.25), Gap(2.6, 2.61), Gap(4.2, 5.0), Gap(5.7, n / SR))
    damage = Inpaint(gaps)
    damaged = degrade(riff, SR, damage)
    result = restore(damaged, SR, damage)
    out = result.audio
    keep = untouched(n, gaps, int(round(damage.crossfade * SR)))
    assert np.array_equal(out[:, keep], damaged[:, keep])
    methods = [fill["method"] for fill in result.details["fills"]]
    assert methods == ["pattern", "pattern", "ar", "pattern", "pattern"]
    for gap in gaps[:2] + gaps[3:]:
        assert gap_snr(riff, out, gap) > EXPECTED_SNR, gap
    # No source passage overlaps a gap left empty (zeros): only gaps that a pattern fill (made
    # one at a time) had filled before may be copied from; an AR gap is filled last.
    regions = result.details["regions"]
    fills = result.details["fills"]
    empty = [r for r, fill in zip(regions, fills, strict=True) if fill["method"] == "ar"]
    for gap, fill in zip(gaps, fills, strict=True):
        if fill["method"] == "pattern":
            first, stop = gap_samples(gap, SR)
            source = round(fill["source"] * SR)
            length = stop - first + 2 * 88
            assert all(source + length <= a or source >= b for a, b in empty), fill


def test_messages_count_the_users_gap_and_no_passage_fails_in_one_line(riff):
    short = riff[:, : int(1.5 * SR)]
    damage = Inpaint((Gap(0.25, 1.25),))
    with pytest.raises(DamageError) as caught:
        restore(degrade(short, SR, damage), SR, damage)
    message = str(caught.value)
    assert "the gap 0.2500-1.2500 s has no other passage" in message
    assert "\n" not in message and "diffusion" in message


def test_a_poor_match_is_refused_when_asked(riff):
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    damage = Inpaint((Gap(1.0, 1.5),))
    damaged = degrade(noise, SR, damage)
    result = restore(damaged, SR, damage)
    similarity = result.details["fills"][0]["similarity"]
    assert similarity < 0.5  # independent noise: the surroundings do not correlate
    with pytest.raises(DamageError, match=r"no passage .* resembles .* the gap 1\.0000-1\.5000 s"):
        restore(damaged, SR, damage, options={"min_similarity": 0.5})


def test_progress_and_cancel_during_the_search(riff, recorder):
    damage = Inpaint((Gap(3.3, 3.8),))
    callback = recorder()
    restore(riff, SR, damage, callback=callback)
    assert callback.fractions[-1] == 1.0 and callback.fractions == sorted(callback.fractions)
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(riff, SR, damage, callback=stopper)


def test_a_composite_of_passages_that_differ_keeps_their_level(rng):
    """Eight gain-1 candidate passages of independent noise (nothing repeats): the geometric mean
    of their magnitudes sits well under their power (about -2.5 dB), so the composite is scaled
    back to their median RMS, per channel."""
    from diffmusic_engine.dsp.pattern import Candidate, Level, compose

    levels = np.array([1.0, 0.25])[:, None]  # two channels at different levels
    audio = rng.standard_normal((2, 200_000)) * levels
    first, stop, ramp = 100_000, 120_000, 500
    shifts = [-90_000 + 10_000 * k for k in range(4)] + [30_000 + 10_000 * k for k in range(4)]
    unity = Level(gains=np.ones((2, 2)), centres=np.array([first, stop]))
    found = [Candidate(s, 0.0, 0.0, 0.0, unity) for s in shifts]
    fill = compose(audio, first, stop, found, ramp)
    middle = fill[:, 2 * ramp : -2 * ramp]  # the composite alone
    expected = np.mean([np.std(audio[:, first + s : stop + s], axis=1) for s in shifts], axis=0)
    np.testing.assert_allclose(np.std(middle, axis=1), expected, rtol=0.03)  # 0.26 dB


@pytest.mark.parametrize(
    ("fade_db", "gap"),
    [
        (lambda t: -10.0 * np.clip(t - 3.0, 0.0, None), Gap(4.0, 5.0)),  # out from 3 s
        (lambda t: -10.0 * np.clip(3.0 - t, 0.0, None), Gap(1.0, 2.0)),  # in until 3 s
    ],
    ids=["fade-out", "fade-in"],
)
def test_a_dropout_in_a_fade_is_filled_at_the_fades_level(riff, fade_db, gap):
    """A 1 s dropout in a 10 dB/s fade: the fill follows the fade through the gap, its level
    moving linearly in dB between the two contexts' (one gain for the whole gap: 5-13 dB too
    loud). Each side's gain sits at its context's energy centroid. Derived for the fade-in, the
    best passage (a bar after the gap, unfaded) faces a context fading 10 dB with a flat -20 dB
    ratio on the left, placed 0.32 s before the gap, and a ratio fading -10..0 dB on the right,
    -4.08 dB (the RMS) at 0.68 s after it: the line is 2.6 dB too loud at the gap's start and
    0.5 dB at its end (the fade-out's, mirrored: 0.3..1.7 dB); 3 dB leaves 0.4 for the riff's
    own envelope."""
    t = np.arange(riff.shape[1]) / SR
    faded = (riff * 10 ** (fade_db(t) / 20)).astype(np.float32)
    damage = Inpaint((gap,))
    out = restore(degrade(faded, SR, damage), SR, damage).audio
    for start in np.arange(gap.start, gap.end - 0.05, 0.1):
        part = slice(int(start * SR), int((start + 0.1) * SR))
        level_db = 10 * np.log10(np.mean(out[:, part] ** 2) / np.mean(faded[:, part] ** 2))
        assert abs(level_db) < 3.0, (start, level_db)


def test_a_silent_source_context_is_not_read_as_a_level(rng):
    """The source's left context is digital silence (a song's start), its right context the
    same noise as the gap's: both gains are 1, the silent side saying nothing of the source's
    level (read as one, the 12 dB ceiling)."""
    from diffmusic_engine.dsp.pattern import level

    audio = rng.standard_normal((2, 100_000))
    audio[:, :30_000] = 0.0
    first, stop, context, shift = 60_000, 65_000, 10_000, -40_000  # source [20k, 25k)
    audio[:, stop + shift : stop + shift + context] = audio[:, stop : stop + context]
    gains = level(audio, first, stop, shift, context, holes=[(first, stop)]).gains
    np.testing.assert_allclose(gains, 1.0, rtol=1e-12)


def test_a_loop_is_filled_with_its_exact_repeat():
    """A real guitar take's first 2 s looped six times (a loop-based song): the gap's passage
    comes back sample for sample elsewhere, so the fill is that copy, up to the composite's
    STFT round trip (about -85 dB). Blending in passages that only resemble it (the
    composite's other candidates) cost 28.8 dB SNR here before."""
    import soundfile as sf

    from diffmusic_engine.evaluation.corpus import REAL_DIR

    take, rate = sf.read(REAL_DIR / "feelings_guitar.flac", dtype="float32", always_2d=True)
    song = np.tile(take.T[:, : 2 * rate], (1, 6))
    gap = Gap(5.3, 5.6)
    damage = Inpaint((gap,))
    out = restore(degrade(song, rate, damage), rate, damage).audio
    first, stop = int(gap.start * rate), int(gap.end * rate)
    assert metrics.snr(song[:, first:stop], out[:, first:stop]) > 80.0


def test_dropouts_that_cover_each_others_repeats_are_filled_from_each_others_fills():
    """A 2 s bar played three times; the dropout A in the middle bar has its two repeats each
    partly lost to another dropout (B, C), which still have a clean repeat each. Filled one at
    a time, B's fill (an exact copy) gives A its repeat back: every fill is the lost audio up
    to rounding. Filled all at once, A could only copy from elsewhere in the bar (about -3 dB
    SNR: unrelated music of the same level)."""
    bar = music_excerpt(2.0, SR, channels=2, seed=5)
    song = np.tile(bar, (1, 3)).astype(np.float32)
    gaps = (Gap(1.0, 1.5), Gap(2.7, 3.2), Gap(4.4, 4.9))  # B, A, C
    damage = Inpaint(gaps)
    out = restore(degrade(song, SR, damage), SR, damage).audio
    for gap in gaps:
        assert gap_snr(song, out, gap) > 80.0, gap


@pytest.mark.parametrize("gap", [Gap(0.0, 0.02), Gap(5.98, 6.0)], ids=["start", "end"])
def test_a_short_dropout_at_either_end_is_copied_not_extrapolated(riff, gap):
    """20 ms lost at the very start or end: AR can only extrapolate from one side, which
    drifts (on the riff: SNR -1.9 dB at the start, 13.2 dB at the end); the pattern fill
    copies a repeat (34.0 and 26.8 dB)."""
    damage = Inpaint((gap,))
    result = restore(degrade(riff, SR, damage), SR, damage)
    (fill,) = result.details["fills"]
    assert fill["method"] == "pattern"
    assert gap_snr(riff, result.audio, gap) > EXPECTED_SNR


def test_a_clipped_masters_fill_stays_within_its_clipping_level():
    """A real backing track played 12 dB hot and clipped at full scale (16 % of its samples at
    the clip): the composite's magnitudes under the best passage's phases had peaks of 1.69;
    no fill goes past the audio's own peak."""
    import soundfile as sf

    from diffmusic_engine.evaluation.corpus import REAL_DIR

    take, rate = sf.read(REAL_DIR / "chaos_god_backing.flac", dtype="float32", always_2d=True)
    clipped = np.clip(take.T * 4, -1.0, 1.0)
    gap = Gap(3.0, 3.3)
    damage = Inpaint((gap,))
    out = restore(degrade(clipped, rate, damage), rate, damage).audio
    first, stop = gap_samples(gap, rate)
    assert np.abs(out[:, first:stop]).max() <= 1.0


@pytest.mark.parametrize("rate", [8000, 11025, 44100])
def test_features_refreshed_around_a_fill_equal_features_computed_afresh(rate, rng):
    """``refresh`` recomputes only the frames that see a fill (and the onset's look back, 9
    frames at the 128-sample hop of 8-11 kHz): they equal a full computation's, standardised
    as before, to float32 rounding."""
    from diffmusic_engine.dsp.pattern import _raw_features, _valid_frames, features, refresh

    mono = (rng.standard_normal(6 * rate) * 0.1).astype(np.float32)
    holes = [(2 * rate, 2 * rate + rate // 5), (4 * rate, 4 * rate + rate // 10)]
    before = features(mono, rate, holes)
    first, stop = holes[0]
    mono[first:stop] = mono[first + rate : stop + rate]  # a fill written in
    after = refresh(before, mono, rate, first, stop, holes[1:])
    expected = (_raw_features(mono, rate, 0, before.F.shape[0]) - before.mean) / before.scale
    expected[~_valid_frames(expected.shape[0], before.hop, holes[1:])] = 0.0
    np.testing.assert_allclose(after.F, expected, atol=1e-5)


def test_a_channel_unknown_on_one_side_leaves_the_others_gain_there(rng):
    """The source's right context is silent on channel 1 only: that channel's right gain is
    not known (it takes its left one), channel 0's is its own (1, where before it took its
    left side's 2: a 6 dB step at the right splice)."""
    from diffmusic_engine.dsp.pattern import level

    audio = rng.standard_normal((2, 100_000))
    first, stop, context, shift = 60_000, 65_000, 10_000, -40_000
    audio[:, stop + shift : stop + shift + context] = audio[:, stop : stop + context]
    audio[:, first + shift - context : first + shift] = audio[:, first - context : first]
    audio[0, first - context : first] *= 2.0  # the gap's left context, channel 0: 6 dB up
    audio[1, stop + shift : stop + shift + context] = 0.0
    gains = level(audio, first, stop, shift, context, holes=[(first, stop)]).gains
    np.testing.assert_allclose(gains, [[2.0, 1.0], [1.0, 1.0]], rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_dropout_in_a_passage_40_db_down_is_filled_at_the_passages_level(seed):
    """A 0.3 s dropout in the middle of a 1.5 s passage played 40 dB under the rest (20 ms
    ramps): the fill's level over the truth is the one the same dropout gets at full level, the
    level being read beside the gap's edges, inside the passage. Passages of the loud song that
    straddle the passage's edge were copied too: quiet contexts, loud inside, their copies
    10-18 dB over the gap's expected level (5.5 and 5.7 dB too loud here before). 1.5 dB: the
    90th percentile of real fills' level error without a quiet passage (docs/results.md)."""
    song = music_excerpt(8.0, SR, channels=2, seed=seed)
    t = np.arange(song.shape[1]) / SR
    ramps = np.clip(np.minimum(t - 4.0, 5.5 - t) / 0.02, 0.0, 1.0)  # the passage [4, 5.5) s
    gap = Gap(4.6, 4.9)
    damage = Inpaint((gap,))
    first, stop = gap_samples(gap, SR)
    errors = []
    for down_db in (0.0, -40.0):
        clean = (song * 10 ** (down_db * ramps / 20)).astype(np.float32)
        out = restore(degrade(clean, SR, damage), SR, damage).audio
        fill = out[:, first:stop].astype(np.float64)
        truth = clean[:, first:stop].astype(np.float64)
        errors.append(10 * np.log10(np.mean(fill**2) / np.mean(truth**2)))
    assert abs(errors[1] - errors[0]) < 1.5, errors


def test_a_level_step_in_a_context_is_read_beside_the_gap(rng):
    """The gap's left context holds, in its far 10 %, the end of a passage 40 dB louder (a
    dropout near the start of a quiet passage): its level is read on the half beside the gap,
    where the source's matches it (gain 1; over the whole context the loud end set it, 30 dB
    up, held at the 12 dB ceiling)."""
    from diffmusic_engine.dsp.pattern import level

    audio = rng.standard_normal((2, 100_000))
    first, stop, context, shift = 60_000, 65_000, 10_000, -40_000
    audio[:, stop + shift : stop + shift + context] = audio[:, stop : stop + context]
    audio[:, first + shift - context : first + shift] = audio[:, first - context : first]
    audio[:, first - context : first - 9 * context // 10] *= 100.0
    gains = level(audio, first, stop, shift, context, holes=[(first, stop)]).gains
    np.testing.assert_allclose(gains, 1.0, rtol=1e-9)


def test_a_rest_beside_the_gap_is_read_on_the_stretch_beside_it(rng):
    """The gap's right context is a rest 40 dB down for its first 1000 samples, then the music
    as loud as the source's, which goes on at full level throughout (a rest before a loud
    entry): read on the whole context the gain there was 0.95, the copy 40 dB over the rest;
    read on the ``near`` 1000 samples, 0.01. Not in a gap longer than the context, whose music
    lies farther from the stretch beside it, nor where the source rests there too."""
    from diffmusic_engine.dsp.pattern import level

    audio = rng.standard_normal((2, 100_000))
    first, context, shift, near = 60_000, 10_000, -40_000, 1000
    for stop in (61_000, 71_000):
        music = audio.copy()
        music[:, stop + shift : stop + shift + context] = music[:, stop : stop + context]
        music[:, first + shift - context : first + shift] = music[:, first - context : first]
        music[:, stop : stop + near] *= 0.01  # the rest, in the gap's context only
        gains = level(music, first, stop, shift, context, [(first, stop)], near).gains
        whole = np.sqrt(np.mean(music[:, stop : stop + context] ** 2, axis=1) / np.mean(
            music[:, stop + shift : stop + shift + context] ** 2, axis=1))  # fmt: skip
        expected = [0.01, 0.01] if stop - first <= context else whole
        np.testing.assert_allclose(gains[:, 0], 1.0, rtol=1e-9)
        np.testing.assert_allclose(gains[:, 1], expected, rtol=1e-9)
        assert np.all(whole > 0.9)  # what the whole context reads
        music[:, stop + shift : stop + shift + near] *= 0.01  # the source rests there as well
        gains = level(music, first, stop, shift, context, [(first, stop)], near).gains
        np.testing.assert_allclose(gains, 1.0, rtol=1e-9)


def test_a_loud_stretch_in_the_source_beside_a_steady_gap_is_not_read_as_a_rest(rng):
    """The source 14 dB louder on its first 1000 samples after the gap (a hit beside it), the
    gap's context steady: the ratio there lies 9 dB under the context's (past ``NEAR_DB``), but
    the gap's own samples there are not ``QUIET_DB`` under its context, so the side is read on
    the whole context, 0.55 (on the ``near`` samples it would be 0.2)."""
    from diffmusic_engine.dsp.pattern import level

    music = rng.standard_normal((2, 100_000))
    first, stop, context, shift, near = 60_000, 61_000, 10_000, -40_000, 1000
    music[:, stop + shift : stop + shift + context] = music[:, stop : stop + context]
    music[:, first + shift - context : first + shift] = music[:, first - context : first]
    music[:, stop + shift : stop + shift + near] *= 5.0  # the hit, in the source only
    gains = level(music, first, stop, shift, context, [(first, stop)], near).gains
    whole = np.sqrt(np.mean(music[:, stop : stop + context] ** 2, axis=1) / np.mean(
        music[:, stop + shift : stop + shift + context] ** 2, axis=1))  # fmt: skip
    np.testing.assert_allclose(gains[:, 0], 1.0, rtol=1e-9)
    np.testing.assert_allclose(gains[:, 1], whole, rtol=1e-9)
    assert np.all(whole > 0.5)  # far from the 0.2 the near samples read


@pytest.mark.parametrize("seed", [0, 1])
def test_a_dropout_in_a_rest_before_a_loud_entry_is_filled_at_the_rests_level(seed):
    """A 0.1 s dropout ending 60 ms before the end of a 0.5 s rest played 30 dB under the rest
    of the song (20 ms ramps): the gap's 0.25 s context after it reaches the loud entry, and
    the copy of loud music levelled to it came out 13-15 dB over the rest's level (a user
    trial's drums+bass dropout in a rest: 17.9 dB); read on the 50 ms beside the gap, 1.7-3.4
    dB. 6 dB: ``fill_level.FAR_DB``, the distance from the music it keeps a fill within."""
    song = music_excerpt(6.0, SR, channels=2, seed=seed)
    t = np.arange(song.shape[1]) / SR
    ramps = np.clip(np.minimum(t - 3.0, 3.5 - t) / 0.02, 0.0, 1.0)  # the rest [3, 3.5) s
    clean = (song * 10 ** (-30 * ramps / 20)).astype(np.float32)
    gap = Gap(3.34, 3.44)
    damage = Inpaint((gap,))
    first, stop = gap_samples(gap, SR)
    out = restore(degrade(clean, SR, damage), SR, damage).audio
    fill, truth = (x[:, first:stop].astype(np.float64) for x in (out, clean))
    assert abs(10 * np.log10(np.mean(fill**2) / np.mean(truth**2))) < 6.0


def test_one_passage_far_over_the_others_does_not_set_the_composites_level(rng):
    """Eight passages of independent noise, one of them scaled 17 dB over the rest (a source
    across a level step that the level check let through): the composite takes the passages'
    median RMS, the others' level (their mean RMS was 4.9 dB over it)."""
    from diffmusic_engine.dsp.pattern import Candidate, Level, compose

    audio = rng.standard_normal((2, 200_000))
    first, stop, ramp = 100_000, 120_000, 500
    shifts = [-90_000 + 10_000 * k for k in range(4)] + [30_000 + 10_000 * k for k in range(4)]
    centres = np.array([first, stop])
    loud = Level(gains=np.full((2, 2), 10 ** (17 / 20)), centres=centres)
    unity = Level(gains=np.ones((2, 2)), centres=centres)
    found = [Candidate(s, 0.0, 0.0, 0.0, loud if k == 3 else unity) for k, s in enumerate(shifts)]
    middle = compose(audio, first, stop, found, ramp)[:, 2 * ramp : -2 * ramp]
    level_db = 20 * np.log10(np.std(middle, axis=1))
    np.testing.assert_allclose(level_db, 0.0, atol=0.5)


def test_the_best_passage_is_kept_when_every_one_left_scores_over_the_median():
    """The level test may leave passages that all score over the median of every shift (a
    dropout in a gated MP3: one passage left, 6.47 against a median of 6.29); none had been kept
    and the fill raised IndexError. Scores 1, 2, 3, 4 with median 5: the way to the median from
    the best is 4, half of it 2, so 1, 2 and 3 are kept."""
    from diffmusic_engine.dsp.pattern import CLOSE, Candidate, Level, close

    unity = Level(gains=np.ones((1, 2)), centres=np.array([0, 1]))
    ranked = [Candidate(k, score, 0.0, 0.0, unity) for k, score in enumerate((1.0, 2.0, 3.0, 4.0))]
    assert CLOSE == 0.5 and [c.score for c in close(ranked, 5.0)] == [1.0, 2.0, 3.0]
    over = [Candidate(0, 6.47, 0.0, 0.0, unity), Candidate(1, 7.0, 0.0, 0.0, unity)]
    assert [c.score for c in close(over, 6.29)] == [6.47]


@pytest.mark.parametrize("song", ["chaos_god", "war_of_freedom"])
def test_a_dropout_not_given_as_a_gap_is_no_source_for_one_that_is(song):
    """A real mix with two dropouts of which only one is given (a REAPER time selection, given
    gaps, a silence over a batch's dropout_max_seconds left alone): the other's digital silence
    is no passage to copy. The fill had copied it, holes and all: a 50 ms stretch of the fill
    -82 dB (chaos_god; war_of_freedom -52 dB) where the quietest of the lost music is -15 dB (a
    user trial's 1.5 s fill of a rock mix dipped to -46 dBFS twice). Its quietest 50 ms is now
    within 10 dB of the lost music's."""
    import soundfile as sf

    from diffmusic_engine.evaluation.corpus import REAL_DIR

    parts = [REAL_DIR / f"{song}_{part}.flac" for part in ("backing", "guitar")]
    mix = sum(sf.read(path, dtype="float32", always_2d=True)[0] for path in parts).T
    given, other = Gap(1.5, 2.4), Gap(3.5, 3.74)
    damaged = degrade(mix, SR, Inpaint((given, other)))
    out = restore(damaged, SR, Inpaint((given,))).audio
    first, stop = gap_samples(given, SR)
    window = int(0.05 * SR)

    def quietest_db(audio: np.ndarray) -> float:
        windows = audio[:, first : first + (stop - first) // window * window]
        power = np.mean(windows.reshape(2, -1, window) ** 2, axis=(0, 2))
        return float(10 * np.log10(power.min()))

    assert quietest_db(out) > quietest_db(mix) - 10.0
    first, stop = gap_samples(other, SR)
    assert np.array_equal(out[:, first:stop], damaged[:, first:stop])  # not given: left alone


def test_a_gated_track_whose_every_passage_touches_a_rest_is_still_filled():
    """Digital silence is no source while another passage is left: a real mix with a 5 ms
    rest of digital silence every 0.4 s (a gated track, staccato) has no 0.5 s passage that
    misses one, and its 0.5 s gap had been refused ("no other passage of its length") once
    rests were kept out. It is filled as before they were: from the song, at its level (a copy
    from the same mix, 0.1 dB off the lost music's)."""
    import soundfile as sf

    from diffmusic_engine.evaluation.corpus import REAL_DIR

    parts = [REAL_DIR / f"chaos_god_{part}.flac" for part in ("backing", "guitar")]
    mix = sum(sf.read(path, dtype="float32", always_2d=True)[0] for path in parts).T
    for start in np.arange(0.1, 5.9, 0.4):  # rests 0.4 s apart: every 0.5 s passage has one
        mix[:, int(start * SR) : int((start + 0.005) * SR)] = 0.0
    gap = Gap(2.22, 2.72)
    out = restore(degrade(mix, SR, Inpaint((gap,))), SR, Inpaint((gap,))).audio
    first, stop = gap_samples(gap, SR)

    def level_db(audio: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(audio[:, first:stop].astype(np.float64) ** 2)))

    assert abs(level_db(out) - level_db(mix)) < 1.0
