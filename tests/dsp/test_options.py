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
    with pytest.raises(DamageError, match=r"dsp .*unknown option\(s\) wobble; known: \w+, "):
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


def test_numbers_are_numbers_whatever_their_type():
    """numpy's scalars pass as Python's do (np.float32 was "not a number"); a huge whole number
    is out of range, shortened in the message (it had been an OverflowError); booleans and
    text are not numbers."""
    from diffmusic_engine.options import Option

    option = Option(default=8, low=1, high=64, integer=True)
    assert option.check("t", "n", np.int64(8)) == 8 and option.check("t", "n", np.float32(8)) == 8
    assert Option(low=0.0, high=1.0).check("t", "x", np.float32(0.5)) == 0.5
    with pytest.raises(DamageError, match=r"option n=1000.*0000 out of range 1\.\.64$"):
        option.check("t", "n", 10**400)
    for value in (True, np.bool_(True), "8", np.float64("nan")):
        with pytest.raises(DamageError, match="is not a number"):
            option.check("t", "n", value)
