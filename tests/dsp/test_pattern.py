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
    # No source passage overlaps any gap (they were zeros).
    regions = result.details["regions"]
    for gap, fill in zip(gaps, result.details["fills"], strict=True):
        if fill["method"] == "pattern":
            first, stop = gap_samples(gap, SR)
            source = round(fill["source"] * SR)
            length = stop - first + 2 * 88
            assert all(source + length <= a or source >= b for a, b in regions), fill


def test_messages_count_the_users_gap_and_no_passage_fails_in_one_line(riff):
    short = riff[:, : int(1.5 * SR)]
    damage = Inpaint((Gap(0.25, 1.25),))
    with pytest.raises(DamageError) as caught:
        restore(degrade(short, SR, damage), SR, damage)
    message = str(caught.value)
    assert "the gap at 0.250 s (1.000 s long) has no other passage" in message
    assert "\n" not in message and "diffusion" in message


def test_a_poor_match_is_refused_when_asked(riff):
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    damage = Inpaint((Gap(1.0, 1.5),))
    damaged = degrade(noise, SR, damage)
    result = restore(damaged, SR, damage)
    similarity = result.details["fills"][0]["similarity"]
    assert similarity < 0.5  # independent noise: the surroundings do not correlate
    with pytest.raises(DamageError, match=r"no passage .* resembles .* \(0\.500 s long\)"):
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
    back to their mean RMS, per channel."""
    from diffmusic_engine.dsp.pattern import Candidate, compose

    levels = np.array([1.0, 0.25])[:, None]  # two channels at different levels
    audio = rng.standard_normal((2, 200_000)) * levels
    first, stop, ramp = 100_000, 120_000, 500
    shifts = [-90_000 + 10_000 * k for k in range(4)] + [30_000 + 10_000 * k for k in range(4)]
    found = [Candidate(s, 0.0, 0.0, 0.0, np.ones(2)) for s in shifts]
    fill = compose(audio, first, stop, found, ramp)
    middle = fill[:, 2 * ramp : -2 * ramp]  # the composite alone
    expected = np.mean([np.std(audio[:, first + s : stop + s], axis=1) for s in shifts], axis=0)
    np.testing.assert_allclose(np.std(middle, axis=1), expected, rtol=0.03)  # 0.26 dB
