"""The samplers' fixtures: the reference schedule, the exact Gaussian noise predictor and the two
linear problems of analytic_prior.py."""

from __future__ import annotations

import pytest
from analytic_prior import (
    REFERENCE_CONFIG,
    STEPS,
    GaussianNoisePredictor,
    LinearProblem,
    make_problem,
    prior_covariance,
    prior_mean,
)

from diffmusic_engine.samplers import DDIMSchedule


@pytest.fixture(scope="session")
def schedule() -> DDIMSchedule:
    return DDIMSchedule.from_scheduler_config(REFERENCE_CONFIG, STEPS)


@pytest.fixture
def predictor(schedule: DDIMSchedule) -> GaussianNoisePredictor:
    return GaussianNoisePredictor(prior_mean(), prior_covariance(), schedule)


@pytest.fixture(scope="session", params=["inpaint", "lowpass"])
def problem(request: pytest.FixtureRequest) -> LinearProblem:
    return make_problem(request.param)
