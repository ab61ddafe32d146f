"""The dsp backend checks its options per task and names what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine.api import restore
from diffmusic_engine.damage import (
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.errors import DamageError

SR = 22050
AUDIO = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32) * 0.1
DAMAGES = [
    Inpaint((Gap(0.5, 0.51),)),
    SuperResolution(6000.0),
    PhaseRetrieval(),
    Dereverb(),
    Separate(),
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.task)
def test_unknown_option_is_named(damage):
    with pytest.raises(DamageError, match=r"dsp .*unknown option\(s\) wobble; known: \["):
        restore(AUDIO, SR, damage, options={"wobble": 1})


@pytest.mark.parametrize(
    ("damage", "options", "message"),
    [
        (PhaseRetrieval(), {"iterations": -1}, "iterations=-1 out of range"),
        (PhaseRetrieval(), {"iterations": 2.5}, "must be a whole number"),
        (SuperResolution(6000.0), {"n_fft": 3000}, "n_fft=3000 must be a power of two"),
        (Dereverb(), {"taps": True}, "taps=True is not a number"),
        (Separate(), {"seed": -3}, "seed=-3"),
    ],
)
def test_bad_option_values(damage, options, message):
    with pytest.raises(DamageError, match=message):
        restore(AUDIO, SR, damage, options=options)


def test_seed_is_accepted_everywhere_and_details_name_the_backend():
    result = restore(AUDIO, SR, PhaseRetrieval(), options={"seed": 3, "iterations": 2})
    assert result.details["backend"] == "dsp" and result.details["task"] == "phase-retrieval"
    assert result.details["iterations"] == 2 and result.sample_rate == SR
