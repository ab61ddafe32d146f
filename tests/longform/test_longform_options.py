"""The diffusion backend's options: checked before any model is loaded; models cached."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

import diffmusic_engine.models as models_module
from diffmusic_engine import diffusion
from diffmusic_engine.api import restore
from diffmusic_engine.damage import Dereverb, Gap, Inpaint
from diffmusic_engine.diffusion.options import OPTIONS, SAMPLERS
from diffmusic_engine.errors import DamageError
from diffmusic_engine.longform.pipeline import SolverSettings
from diffmusic_engine.options import check_options, resolve_options
from diffmusic_engine.samplers.loop import GUIDED_STEPS

AUDIO = np.zeros((1, 16000), np.float32)
DAMAGE = Inpaint(gaps=(Gap(0.2, 0.3),))


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch):
    """Any attempt to load a model fails the test, unless a test replaces this."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(models_module, "load_model", refuse)
    diffusion.clear_models()
    yield
    diffusion.clear_models()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "no model given"),
        ({"model": "x", "temperature": 1}, "unknown option(s) temperature"),
        ({"model": "x", "sampler": "ddpm"}, "sampler='ddpm': expected one of irs, dps, dsg"),
        ({"model": "x", "sampler": "ddim"}, "sampler='ddim'"),  # unguided: not offered
        ({"model": "x", "steps": 0}, "steps=0 out of range 1..1000"),
        ({"model": "x", "steps": 1001}, "steps=1001 out of range 1..1000"),  # 1000 timesteps
        ({"model": "x", "sampler": "dsg", "eta": 0}, "the dsg sampler needs eta > 0"),
        ({"model": "x", "steps": 2.5}, "steps=2.5 must be a whole number"),
        ({"model": "x", "gamma": 0}, "gamma=0 must be > 0"),
        ({"model": "x", "eta": float("nan")}, "eta=nan is not a number"),
        ({"model": "x", "vmc": "yes"}, "vmc='yes': expected true or false"),
        ({"model": "x", "stereo": "left"}, "stereo='left'"),
        ({"model": "x", "batch_size": 0}, "batch_size=0"),
        ({"model": "x", "device": "gpu"}, "device='gpu'"),
        ({"model": "x", "guidance_dtype": "float16"}, "expected one of float32, bfloat16"),
        ({"model": "x", "room_steps": -1}, "room_steps=-1"),
        ({"model": "x", "room_steps": 1.5}, "room_steps=1.5 must be a whole number"),
        ({"model": "x", "room_steps": 2}, "room_steps applies only to blind dereverb"),
    ],
)
def test_bad_options_fail_with_one_clear_line(options, message):
    with pytest.raises(DamageError) as error:
        restore(AUDIO, 16000, DAMAGE, backend="diffusion", options=options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_blind_dereverb_takes_room_steps_k_and_keeps_it_out_of_solve():
    settings = diffusion.settings_from_options(
        check_options("diffusion", Dereverb(), {"model": "m"})
    )
    assert settings.room_steps == 3  # BUDDy's few optimiser steps per diffusion step
    resolved = check_options("diffusion", Dereverb(), {"model": "m", "room_steps": 0})
    settings = diffusion.settings_from_options(resolved)
    assert settings.room_steps == 0 and "room_steps" not in settings.solve_kwargs()


def test_checked_options_make_the_solver_settings():
    options = {"diffusion": {"sampler": "dps", "steps": 50}, "dsp": {"iterations": 9},
               "steps": 3, "model": "m"}  # fmt: skip
    resolved = resolve_options("diffusion", options)  # the backend's table wins in its layer
    assert resolved == {"sampler": "dps", "steps": 50, "model": "m"}
    settings = diffusion.settings_from_options(check_options("diffusion", DAMAGE, resolved))
    assert (settings.sampler, settings.steps, settings.vmc, settings.seed) == ("dps", 50, True, 0)
    assert (settings.batch_size, settings.gamma, settings.prompt) == (8, None, None)


def test_every_option_reaches_the_solver_settings_or_the_model():
    """An option added to the table and not to SolverSettings would be checked, then dropped."""
    settings = {f.name for f in fields(SolverSettings)} - {"seed"}  # the seed: the job's own
    assert set(OPTIONS) == settings | {"model", "device"}  # get_model's two


def test_the_users_samplers_are_the_guided_steps():
    assert SAMPLERS == tuple(GUIDED_STEPS)


def test_models_are_loaded_once_per_model_and_device(monkeypatch, tmp_path):
    loads = []

    def fake_load(id_or_path, *, device=None, dtype=None):
        loads.append((id_or_path, device))
        return object()

    monkeypatch.setattr(models_module, "load_model", fake_load)
    first = diffusion.get_model(str(tmp_path), "cpu")
    assert diffusion.get_model(str(tmp_path / "."), "cpu") is first
    assert diffusion.get_model("some/hub-id", "cpu") is not first
    diffusion.get_model("some/hub-id", "cuda")
    assert loads == [(str(tmp_path.resolve()), "cpu"), ("some/hub-id", "cpu"),
                     ("some/hub-id", "cuda")]  # fmt: skip
