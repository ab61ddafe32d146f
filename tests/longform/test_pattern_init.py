"""``init="pattern"``: inpainting chains start from the dsp pattern fill (SDEdit), end to end on a
tiny random-weight AudioLDM2 saved with ``save_pretrained`` and loaded by the real loader."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Gap, Inpaint, SuperResolution
from diffmusic_engine.errors import DamageError
from diffmusic_engine.longform.gaps import full_rate_ranges
from diffmusic_engine.models.testing import TEST_DEVICE
from diffmusic_engine.synth import music_excerpt

pytestmark = pytest.mark.slow
RATE = 44100
FAST = {"steps": 4, "device": TEST_DEVICE, "batch_size": 32}


def run(audio, damage, model, **options):
    options = {"model": model, **FAST, **options}
    return restore(audio, RATE, damage, backend="diffusion", options=options)


def test_a_repeated_riff_restores_from_the_pattern_fill(tiny_model):
    riff = music_excerpt(duration=0.75, sample_rate=RATE, channels=2, seed=4)
    damage = Inpaint(gaps=(Gap(2.0, 2.3),))
    damaged = degrade(np.tile(riff, 4), RATE, damage)  # 3 s: the riff four times
    stages = []
    result = restore(damaged, RATE, damage, backend="diffusion",
                     options={"model": tiny_model, **FAST, "init": "pattern", "init_strength": 0.5},
                     callback=lambda p: stages.append(p.stage))  # fmt: skip
    assert "pattern init" in stages and stages.index("pattern init") < stages.index("irs")
    details = result.details
    # 4 steps at strength 0.5: t0 is the third timestep, round(0.5 * 4) = 2 steps run
    assert (details["init"], details["init_strength"], details["steps_run"]) == ("pattern", 0.5, 2)
    ((a, b),) = full_rate_ranges(damage.gaps, RATE, damaged.shape[-1])
    outside = np.ones(damaged.shape[-1], bool)
    outside[a:b] = False  # the crossfade lies inside the gap (gaps.splice)
    assert np.array_equal(result.audio[:, outside], damaged[:, outside])
    assert np.abs(result.audio[:, a + 500 : b - 500]).max() > 0  # the dropout was filled
    # the start differs from pure noise: the same seed from z_T ~ N(0, I) gives other audio
    plain = run(damaged, damage, tiny_model)
    assert plain.details["init"] == "noise" and "steps_run" not in plain.details
    assert not np.array_equal(plain.audio[:, a:b], result.audio[:, a:b])


def test_no_passage_to_copy_starts_from_noise_and_says_why(tiny_model):
    clean = music_excerpt(duration=0.6, sample_rate=RATE, channels=1, seed=6)
    damage = Inpaint(gaps=(Gap(0.1, 0.5),))  # longer than the audio around it: nothing to copy
    damaged = degrade(clean, RATE, damage)
    result = run(damaged, damage, tiny_model, init="pattern")
    assert result.details["init"] == "noise"
    assert "no other passage" in result.details["init_fallback"]
    assert np.array_equal(result.audio, run(damaged, damage, tiny_model).audio)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"init": "silence"}, "option init='silence': expected one of noise, pattern"),
        ({"init_strength": 0.0}, "option init_strength=0.0 out of range 0..1, 0 excluded"),
        ({"init_strength": 1.5}, "option init_strength=1.5 out of range 0..1"),
        ({"init_strength": "half"}, "option init_strength='half' is not a number"),
        # not silently ignored: it means something only where the chain starts from the fill
        (
            {"init_strength": 0.3},
            r"option init_strength applies only with init=pattern \(it is "
            r"noise\); set init=pattern or leave init_strength out",
        ),
    ],
)
def test_bad_init_options_are_one_line(options, message):
    with pytest.raises(DamageError, match=message) as error:
        run(np.zeros((1, RATE), np.float32), Inpaint(gaps=(Gap(0.2, 0.3),)), "no-model", **options)
    assert "\n" not in str(error.value)


def test_pattern_init_is_for_inpainting_only():
    with pytest.raises(DamageError, match="init=pattern .* for inpainting only"):
        run(np.full((1, RATE), 0.1, np.float32), SuperResolution(cutoff=4000.0), "no-model",
            init="pattern")  # fmt: skip


def test_the_restore_flags_give_init_and_strength():
    import argparse

    from bridge.cli.common import add_backend_arguments
    from bridge.cli.restore import backend_from_args

    parser = argparse.ArgumentParser()
    add_backend_arguments(parser)
    args = parser.parse_args(["--backend", "diffusion", "--init", "pattern", "--init-strength",
                              "0.25"])  # fmt: skip
    backend, options = backend_from_args(args, {})
    assert (backend, options) == ("diffusion", {"init": "pattern", "init_strength": 0.25})
