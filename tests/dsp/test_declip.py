"""Declip on built audio: level detection, consistency, bit-identity, a gain in SDR."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import torch

from bridge.notes import notes_of
from diffmusic_engine.api import degrade, resolve_damage, restore
from diffmusic_engine.clipping import (
    auto_levels,
    clip_level_for_sdr,
    clipped_mask,
    detect_clip_level,
)
from diffmusic_engine.damage import Declip, damage_from_dict, damage_to_dict
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.evaluation.storage import fixed_point
from diffmusic_engine.metrics import snr
from diffmusic_engine.operators import ClipOperator

SR = 44100


@pytest.fixture(scope="module")
def clipped(excerpt: np.ndarray) -> tuple[np.ndarray, float]:
    part = excerpt[:, : SR // 2]
    level = clip_level_for_sdr(part, 10.0)
    return degrade(part, SR, Declip(sdr=10.0)), level


def test_degrade_clips_at_the_level_for_the_sdr(excerpt, clipped):
    damaged, level = clipped
    part = excerpt[:, : SR // 2]
    assert np.array_equal(damaged, np.clip(part, -level, level))
    assert snr(part, damaged) == pytest.approx(10.0, abs=0.05)


def test_level_is_found_and_clean_audio_shows_none(excerpt, clipped):
    damaged, level = clipped
    assert detect_clip_level(damaged) == pytest.approx(level, rel=1e-6)
    assert detect_clip_level(excerpt) is None


def test_declip_is_consistent_bit_identical_and_better(excerpt, clipped):
    damaged, level = clipped
    part = excerpt[:, : SR // 2]
    restoration = restore(damaged, SR, Declip(), options={"step": 64})
    out = restoration.audio
    reliable = np.abs(damaged) < level * (1 - 1e-4)
    assert np.array_equal(out[reliable], damaged[reliable])
    high, low = damaged >= level * (1 - 1e-4), damaged <= -level * (1 - 1e-4)
    assert np.all(out[high] >= damaged[high]) and np.all(out[low] <= damaged[low])
    assert snr(part, out) > snr(part, damaged) + 1.0
    assert restoration.details["level"] == pytest.approx(level, rel=1e-6)
    assert restoration.details["window"] == 2048  # the window used (the option's 0: 46 ms)


@pytest.mark.parametrize("backend", ["dsp", "diffusion"])
def test_unclipped_audio_is_returned_unchanged(excerpt, backend):
    """In every backend: the diffusion one loads no model for it (it had raised)."""
    options = {"model": "ucsd-reach/musicldm"} if backend == "diffusion" else {}
    restoration = restore(excerpt[:, :4096], SR, Declip(), backend=backend, options=options)
    assert np.array_equal(restoration.audio, excerpt[:, :4096])
    assert restoration.unchanged.startswith("no clipping found")


def test_clipping_rippled_by_a_low_pass_is_not_found_and_the_reason_says_why(excerpt):
    """Flat tops a low-pass has rippled show no run at the peak: the input comes back, and the
    reason names that blind spot (it had said only "no clipping found", of audio clipped at
    input SDR 10 dB) rather than inviting the peak as the level."""
    part = excerpt[:, : SR // 2]
    clipped = degrade(part, SR, Declip(sdr=10.0))
    sos = scipy.signal.butter(8, 18000, fs=SR, output="sos")
    rippled = scipy.signal.sosfiltfilt(sos, clipped).astype(np.float32)
    restoration = restore(rippled, SR, Declip())
    assert np.array_equal(restoration.audio, rippled)
    assert restoration.unchanged.startswith("no clipping found (no channel holds a run of 3 ")
    assert "a codec or a low-pass has rippled" in restoration.unchanged


def test_one_channel_clipped_under_the_others_louder_peak_is_declipped_there_alone(excerpt):
    """The left channel clipped (input SDR 10 dB), the right louder and clean: the level had
    been the file's one peak, the right's, where no run shows, so nothing was found; and the
    left's level, given, had rebuilt every right sample beyond it (SI-SDR 150 -> 14-16 dB on
    real mixes). Now the left is found and declipped, and the right left bit for bit."""
    part = excerpt[:, : SR // 2].copy()
    part[1] *= 2.0  # the right channel louder than the left's clipping level
    level = clip_level_for_sdr(part[:1], 10.0)
    damaged = part.copy()
    damaged[0] = np.clip(part[0], -level, level)
    assert np.abs(damaged[1]).max() > 2 * level
    for damage in (Declip(), Declip(level=level)):
        restoration = restore(damaged, SR, damage, options={"step": 64})
        assert restoration.unchanged is None
        assert restoration.details["level"] == pytest.approx(level, rel=1e-6)
        assert np.array_equal(restoration.audio[1], damaged[1])
        assert snr(part[:1], restoration.audio[:1]) > snr(part[:1], damaged[:1]) + 1.0


def test_a_near_silent_channel_s_dither_is_not_read_as_clipping(excerpt):
    """Music on the left, dither on the right: the dither holds runs at its 2-LSB peak, and that
    level (6e-5 in 16 bits) had been taken as the file's clipping, rewriting 95 % of the left.
    24-bit dither scaled off its grid here (a gain after it): on the grid, 16- or 24-bit, the
    dither alone is left alone by its grid too (the next test)."""
    lsb = 1.37 * 2.0**-23
    rng = np.random.default_rng(0)
    audio = np.stack([
        excerpt[0, : SR // 2],
        (rng.integers(-1, 2, SR // 2) + rng.integers(-1, 2, SR // 2)) * lsb,
    ]).astype(np.float32)  # fmt: skip
    assert detect_clip_level(audio[1:]) == pytest.approx(2 * lsb)  # the dither alone: "clipped"
    assert detect_clip_level(audio) is None  # beside the music, not read


def test_a_quiet_16_bit_peak_held_by_its_grid_is_not_clipping_but_a_clipped_one_is():
    """A 60 Hz tone peaking 1000 steps of the 16-bit grid high stays within half a step of its
    top for +-3 samples (1000 (1 - cos(3 w)) = 0.33 step): a run of seven at its peak, the
    samples beside it one step under. Clipped at 900 steps, the samples beside the runs lie
    tens of steps under the level (the slope clipping cut into)."""
    step = 2.0**-15
    tone = 1000 * np.cos(2 * np.pi * 60 * np.arange(SR // 2) / SR)
    on_grid = (np.round(tone) * step).astype(np.float32)[None]
    assert detect_clip_level(on_grid) is None
    clipped = (np.round(np.clip(tone, -900, 900)) * step).astype(np.float32)[None]
    assert detect_clip_level(clipped) == pytest.approx(900 * step)


def test_a_bass_crest_on_a_grid_is_not_clipping_but_clipped_after_it_is():
    """A 55 Hz tone (a bass stem's note) at 0.97 falls 1 - cos(w) = 3.1e-5 of its peak a sample
    either side of its crest, one step of 16 bits: three samples within the 2-step band, read as
    clipped (0.93 % of the tone declipped); but the samples beside them fall 4 steps, a crest's
    fall, not the 16 (CREST_FALL bands) a clip cuts into its slope. So at 0.01 in 24 bits.
    Clipped at 0.8 of the peak after, the runs are found and hold the float clip's samples."""
    wave = np.cos(2 * np.pi * 55 * np.arange(SR) / SR)[None]
    for peak, bits, dither in ((0.97, 16, None), (0.97, 16, "tpdf"), (0.01, 24, None)):
        assert auto_levels(fixed_point(peak * wave, bits, dither, seed=1)) is None
        clipped = np.clip(peak * wave, -0.8 * peak, 0.8 * peak)
        stored = fixed_point(clipped, bits, dither, seed=1)
        level = detect_clip_level(stored)
        assert 0.8 * peak - 2 * 2.0 ** (1 - bits) <= level <= 0.8 * peak + 2.0 ** (1 - bits)
        assert clipped_mask(stored, level).mean() == clipped_mask(clipped, 0.8 * peak).mean()


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize(
    ("falls", "clipping"), [((30, 13, 2, 0, 2, 13, 30), False), ((40, 24, 0, 0, 0, 24, 40), True)]
)
def test_a_run_is_clipping_where_a_sample_beside_it_falls_deeper_than_a_crest_can(
    falls, clipping, sign
):
    """A sinusoid falls 1 - cos 2w = 4 cos^2(w / 2), at most 4 times as far two samples from
    its apex as one. A crest whose run lies within the 2-step band of a 16-bit top at 0.9
    falls up to 3 steps a sample unrounded (the band and the rounding's step), so the sample
    beside its run up to 4 x 3 + 1 = 13 steps under the top: not clipping. Clipping cuts into
    a slope: a flat run with the samples beside it 24 steps under, no pile-up, is clipping.
    The bound read, 4 x (2 + 2) = 16 steps under the band (18 under the top), lies between;
    half as deep had read the crest as clipped, twice as deep or none had missed the clip."""
    top = 29491  # steps: 0.9 of 16-bit full scale
    steps = np.round(9830 * np.sin(2 * np.pi * 1000 * np.arange(SR // 4) / SR))
    steps[5000 : 5000 + len(falls)] = top - np.array(falls)
    audio = (sign * steps * 2.0**-15).astype(np.float32)[None]
    assert detect_clip_level(audio) == (top * 2.0**-15 if clipping else None)


def test_slow_clipped_tops_on_a_coarse_grid_pile_up():
    """Quiet, the same tone (327 steps of 16 bits) clipped at 262 steps: its slope there, 1.4
    steps a sample, leaves the samples beside each run within a crest's fall (8 steps), where
    the run ends; but 41 % of the samples sit on the level's step against some 12 a run over
    those 8 steps under it: more than PILE_UP times, clipping (it had read as none)."""
    wave = 0.01 * np.cos(2 * np.pi * 55 * np.arange(SR) / SR)[None]
    stored = fixed_point(np.clip(wave, -0.008, 0.008), 16, None, seed=1)
    level = detect_clip_level(stored)
    assert level == np.round(0.008 * 2**15) * 2.0**-15
    assert clipped_mask(stored, level).mean() == pytest.approx(0.41, abs=0.01)
    assert detect_clip_level(fixed_point(wave, 16, None, seed=1)) is None


def test_on_an_8_bit_grid_a_sample_beside_a_run_2_steps_under_makes_it_clipping():
    """On 8 bits a crest's fall (8 steps beside a run) is as deep as a clip's cut: a 1 kHz tone
    at 0.5 (64 steps) clipped at 0.9 and 0.75 of its peak falls 4.0 and 6.0 steps a sample
    where it is cut (64 x 0.1425 rad x sin(acos c)), within that fall, so the crest's rule
    reads none; a sample beside a run more than GRID_STEPS_BESIDE (2) steps under its level
    makes it clipping there, found at the clip's step. Unclipped, none."""
    wave = 0.5 * np.cos(2 * np.pi * 1000 * np.arange(SR) / SR)[None]
    assert auto_levels(fixed_point(wave, 8, None, seed=1)) is None
    for share in (0.9, 0.75):
        stored = fixed_point(np.clip(wave, -0.5 * share, 0.5 * share), 8, None, seed=1)
        assert detect_clip_level(stored) == np.round(0.5 * share * 2**7) * 2.0**-7


def test_a_given_level_declips_a_channel_clipped_higher_too(excerpt):
    """The left clipped at a level, the right at a higher one; the left's level given: the
    right's flat tops, beyond it, are rebuilt too (they had been left clipped)."""
    part = excerpt[:, : SR // 2].copy()
    level = clip_level_for_sdr(part[:1], 10.0)
    damaged = part.copy()
    damaged[0] = np.clip(part[0], -level, level)
    damaged[1] = np.clip(part[1], -1.5 * level, 1.5 * level)
    restoration = restore(damaged, SR, Declip(level=level), options={"step": 64})
    assert np.abs(restoration.audio[1]).max() > 1.5 * level * 1.01
    assert snr(part[1:], restoration.audio[1:]) > snr(part[1:], damaged[1:])


def _clipped_apart(excerpt: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The clean part, the left clipped at 10 dB SDR of its own and the right at 1.5x that
    level, and the left's level: two tracks clipped apart, then put side by side."""
    part = excerpt[:, : SR // 2].copy()
    level = clip_level_for_sdr(part[:1], 10.0)
    damaged = part.copy()
    damaged[0] = np.clip(part[0], -level, level)
    damaged[1] = np.clip(part[1], -1.5 * level, 1.5 * level)
    return part, damaged, level


def test_auto_declips_each_channel_at_its_own_level(excerpt):
    """Auto declipped both channels at the highest level (the right's), which the left never
    reaches: the left came back clipped, with a warning. Each is declipped at its own now,
    exactly as it would be alone, and the details and notes give the level per channel."""
    part, damaged, level = _clipped_apart(excerpt)
    auto = restore(damaged, SR, Declip(), options={"step": 64})
    for channel in (0, 1):
        alone = restore(damaged[channel : channel + 1], SR, Declip(), options={"step": 64})
        assert np.array_equal(auto.audio[channel], alone.audio[0])
    assert snr(part[:1], auto.audio[:1]) > snr(part[:1], damaged[:1]) + 1.0
    right_level = float(np.float32(1.5 * level))  # the peak as float32 samples hold it
    assert auto.details["channel_levels"] == pytest.approx([level, right_level], rel=1e-6)
    assert "channels_clipped_lower" not in auto.details
    (line,) = notes_of(auto.details)
    assert line == {
        "level": "note",
        "text": "declipped each channel at its own clipping level: channel 1 at "
        f"{auto.details['channel_levels'][0]:.6g}, channel 2 at {right_level:.6g}",
    }


def test_a_given_level_is_one_level_and_names_a_channel_clipped_under_it(excerpt):
    """A given level declips every channel at it: the left, clipped under it, comes back as
    it was, and a warning names it and what takes it in (auto; the left's level for both had
    been advised, which wrecks the right: docs/results.md "Declip: a level per channel")."""
    _, damaged, level = _clipped_apart(excerpt)
    given = restore(damaged, SR, Declip(level=1.5 * level), options={"step": 64})
    assert np.array_equal(given.audio[0], damaged[0])
    assert "channel_levels" not in given.details
    (line,) = notes_of(given.details)
    assert line == {
        "level": "warning",
        "text": f"channel 1 is clipped at {level:.6g}, under the level {1.5 * level:.6g} "
        "declipped: left as it was; give --level auto to declip each channel at its own level "
        f"(--level {level:.6g} would rebuild every sample over it in the channels clipped higher)",
    }


def test_channels_clipped_at_one_level_resolve_to_that_level_alone(clipped):
    """Both channels clipped at one level: auto resolves to that level and nothing per channel
    (the declip path, and so the output, of before)."""
    damaged, level = clipped
    resolved, _ = resolve_damage(Declip(), damaged, SR)
    assert resolved == Declip(level=float(np.max(np.abs(damaged))))
    assert resolved.channel_levels is None


def test_channel_levels_round_trip_and_must_match_the_channels():
    damage = Declip(level=0.8, channel_levels=(0.8, 0.6))
    assert damage_from_dict(json.loads(json.dumps(damage_to_dict(damage)))) == damage
    assert "channel_levels" not in damage_to_dict(Declip(level=0.5))  # TOML has no null
    with pytest.raises(DamageError, match="channel_levels: 2 given for 1 channel"):
        restore(np.zeros((1, 4096), np.float32), SR, damage)
    with pytest.raises(DamageError, match="give level as the highest of them, or leave"):
        Declip(channel_levels=(0.8, 0.6))
    with pytest.raises(DamageError, match=r"level 0.3 must be the highest; give it"):
        Declip(level=0.3, channel_levels=(0.8, 0.6))
    with pytest.raises(DamageError, match="channel_levels 0.6: expected a list of amplitudes"):
        damage_from_dict({"task": "declip", "level": 0.6, "channel_levels": 0.6})
    with pytest.raises(DamageError, match="channel_levels 'x': expected a number"):
        damage_from_dict({"task": "declip", "level": 0.6, "channel_levels": ["x", 0.4]})


@pytest.mark.parametrize("backend", ["dsp", "diffusion"])
def test_a_level_above_the_peak_is_returned_unchanged_with_the_reason(excerpt, backend):
    """A given level no sample reaches: nothing to declip, said (it came back silently)."""
    options = {"model": "ucsd-reach/musicldm"} if backend == "diffusion" else {}
    audio = excerpt[:, :4096]
    peak = float(np.max(np.abs(audio)))
    restoration = restore(audio, SR, Declip(level=1.5 * peak), backend=backend, options=options)
    assert np.array_equal(restoration.audio, audio)
    assert restoration.unchanged.startswith(f"no sample reaches the clipping level {1.5 * peak:g}")
    assert f"(the peak is {peak:.4g})" in restoration.unchanged


def test_cancel_stops_declipping(clipped, recorder):
    damaged, _ = clipped
    with pytest.raises(Cancelled):
        restore(damaged, SR, Declip(), callback=recorder(cancel_at=1))


def test_clip_operator_residual_is_the_one_sided_consistency():
    operator = ClipOperator(0.5, SR)
    y = torch.tensor([0.2, 0.5, -0.5, 0.5])
    x = torch.tensor([0.3, 0.7, -0.4, 0.4])  # off by 0.1 / beyond (free) / short by 0.1 twice
    expected = 0.1**2 + 0.0 + 0.1**2 + 0.1**2
    assert float(operator.consistency(x, y)) == pytest.approx(expected, rel=1e-5)
    assert float(torch.sum((operator(x) - y) ** 2)) == pytest.approx(expected, rel=1e-5)


def test_description_round_trip_and_errors():
    assert damage_from_dict(damage_to_dict(Declip(level=0.25))) == Declip(level=0.25)
    assert damage_from_dict({"task": "declip", "sdr": 5}) == Declip(sdr=5.0)
    with pytest.raises(DamageError, match="level"):
        Declip(level=-1.0)
    with pytest.raises(DamageError, match="auto"):
        degrade(np.zeros((1, 100), np.float32), SR, Declip())


def test_each_side_is_declipped_at_its_own_level(excerpt):
    """Each channel clipped at 0.5 of its positive peak and 0.7 of its negative one: auto finds
    both levels (it had declipped at the higher, one level for both, and left the positive side
    clipped), rebuilds every clipped sample beyond its side's level, keeps every other sample,
    and comes nearer the source than one level at the lower side's, which rebuilds the negative
    side's reliable samples between the two levels (13 real recordings: 29.6 dB against 32.7)."""
    part = excerpt[:, : SR // 2]
    high, low = part.max(axis=1, keepdims=True), -part.min(axis=1, keepdims=True)
    top = 0.5 * np.minimum(high, low)  # under both sides' peaks, whichever is the louder
    damaged = np.clip(part, -1.4 * top, top)
    apart = restore(damaged, SR, Declip(level="auto"))
    assert apart.details["channel_levels"] == pytest.approx(top[:, 0], rel=1e-6)
    assert apart.details["negative_levels"] == pytest.approx(1.4 * top[:, 0], rel=1e-6)
    assert "channels_clipped_lower" not in apart.details
    out, positive, negative = apart.audio, damaged >= top * 0.9999, damaged <= -1.4 * top * 0.9999
    assert np.array_equal(out[~positive & ~negative], damaged[~positive & ~negative])
    assert np.all(out[positive] >= damaged[positive]) and np.all(out[negative] <= damaged[negative])
    assert "declipped each side at its own clipping level: channel 1 at +" in str(
        notes_of(apart.details)
    )
    # one level for both sides at the positive side's (the higher channel's: each channel's
    # positive side is clipped, its negative side's reliable samples over it are rebuilt)
    one = restore(damaged, SR, Declip(level=float(top.max()))).audio
    assert snr(part, out) > snr(part, one) + 1.0


def test_a_side_clipped_under_the_level_given_is_said_and_auto_takes_it(excerpt):
    """One level given for both sides at the negative side's: the positive side, clipped under
    it, is left as it was and said, with the remedy, --level auto. Clipped on one side only,
    under the other's unclipped peaks, auto declips that side and leaves the other bit for bit
    (no clipping had been found). Clipped alike, nothing is said."""
    mono = excerpt[:1, : SR // 2]
    top = 0.5 * min(float(mono.max()), float(-mono.min()))
    given = restore(np.clip(mono, -1.4 * top, top), SR, Declip(level=float(1.4 * top) * 1.00001))
    (line,) = given.details["channels_clipped_lower"]
    assert line.startswith(f"channel 1's positive peaks are clipped at {top:.6g}, under the level")
    assert line.endswith("give --level auto to declip each side at its own level")
    damaged = np.minimum(mono, top)  # the negative peaks pass top unclipped
    alone = restore(damaged, SR, Declip(level="auto"))
    assert alone.details["level"] == pytest.approx(top, rel=1e-6) and not alone.unchanged
    assert np.array_equal(alone.audio[damaged < top * 0.9999], damaged[damaged < top * 0.9999])
    assert np.any(alone.audio > top * 1.001)
    alike = restore(np.clip(mono, -top, top), SR, Declip(level="auto"))
    assert "channels_clipped_lower" not in alike.details and "negative_levels" not in alike.details


def test_a_pulse_wave_and_a_smooth_crest_are_not_read_as_clipping():
    """A 25 % pulse wave holds every sample of each side at its peak: its plateaus had been
    declipped whole (every sample rebuilt). A 60 Hz tone's float crest stays within the 1e-4
    tolerance of its peak for 3 samples (1 - cos(w) = 3.6e-5 of it a sample either side) but is
    no flat top: it had read as clipped. Clipped at 0.85, the tone's flat tops are found."""
    t = np.arange(SR // 2) / SR
    pulse = np.where((t * 220) % 1 < 0.25, 1.0, 0.0)
    pulse = ((pulse - pulse.mean()) * 0.8)[None].astype(np.float32)
    assert restore(pulse, SR, Declip()).unchanged.startswith("no clipping found")
    tone = (0.9 * np.sin(2 * np.pi * 60 * t))[None].astype(np.float32)
    assert detect_clip_level(tone) is None
    assert detect_clip_level(np.clip(tone, -0.85, 0.85)) == pytest.approx(0.85)


def test_dithered_16_bit_tops_are_clipped_as_the_float_ones_are(excerpt, clipped):
    """Written as 16 bits with TPDF dither (``degrade`` writes it), the clipped tops spread over
    the steps either side of the level (+-1.5 steps): only those at the one highest had read as
    clipped, a third of them, and declip rebuilt little. The level found lies under them all
    (within 2 steps of the float file's), as many samples are clipped (1 %), and the restore is
    within a tenth of a dB of the float file's. Clean, the dithered music and a dithered 60 Hz
    tone's crest (as in the test above) show none; clipped at 900 steps, the tone is found."""
    damaged, level = clipped
    step = 2.0**-15
    dithered = fixed_point(damaged, 16, "tpdf", seed=1)
    found = auto_levels(dithered)
    assert level - 2 * step <= found[0] <= level
    as_float = clipped_mask(damaged, level).mean()
    assert clipped_mask(dithered, found[0]).mean() == pytest.approx(as_float, rel=0.01)
    part = excerpt[:, : SR // 2]
    gains = [snr(part, restore(one, SR, Declip()).audio) for one in (damaged, dithered)]
    assert gains[0] > snr(part, damaged) + 3
    assert gains[1] == pytest.approx(gains[0], abs=0.1)
    assert auto_levels(fixed_point(part, 16, "tpdf", seed=1)) is None
    tone = 1000 * np.cos(2 * np.pi * 60 * np.arange(SR // 2) / SR) * step
    assert detect_clip_level(fixed_point(tone[None], 16, "tpdf", seed=1)) is None
    on_tops = fixed_point(np.clip(tone, -900 * step, 900 * step)[None], 16, "tpdf", seed=1)
    assert 898 * step <= detect_clip_level(on_tops) <= 900 * step


def test_one_sample_over_clipped_tops_leaves_the_other_side_read():
    """A click over 16-bit clipped tops (one sample 8 steps over the 900-step level, where the
    fullest step under the peak is the level's: no step within DITHER_STEPS of the peak holds
    1/32 of it) leaves that side unread, as a single peak is, and the negative side, clipped at
    900 steps, gives the level; the dithered tops' rule had raised on it."""
    step = 2.0**-15
    tone = 1000 * np.cos(2 * np.pi * 60 * np.arange(SR // 2) / SR) * step
    clipped = np.clip(tone, -900 * step, 900 * step)[None]
    clicked = fixed_point(clipped, 16, None, seed=1)
    clicked[0, np.argmax(clicked[0])] = 908 * step
    assert detect_clip_level(clicked) == pytest.approx(900 * step)
    assert auto_levels(clicked)[0] == pytest.approx(900 * step)
    # a near-silent 16-bit file (noise 2 steps RMS, its peak 10 steps): a side's fullest step,
    # its zeros (half its samples), lies 10 steps under the peak, over 32 times the samples of
    # any of the 6 steps under the peak (5-10 steps: 2.5 sigma and up, under 1 %); no clipping
    noise = fixed_point(2 * step * np.random.default_rng(2).standard_normal((2, SR)), 16, None, 1)
    assert np.abs(noise).max() == 10 * step
    assert auto_levels(noise) is None
