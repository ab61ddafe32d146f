"""Every task of damage.TASKS has what a task needs everywhere: a task added in one place and
forgotten in another fails here, not in a user's hands (docs/architecture.md, "Adding a task")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import diffmusic_engine
from diffmusic_engine.damage import DAMAGE_TYPES, TASKS
from diffmusic_engine.evaluation.quality import cases
from diffmusic_engine.warmup import warm_up_cases

PRESETS = Path(__file__).parents[2] / "presets"


def test_the_warm_up_runs_every_dsp_task_once():
    warmed = [damage.task for damage, _ in warm_up_cases()]
    assert sorted(warmed) == sorted(TASKS)


def test_every_task_has_a_preset():
    assert {path.stem for path in PRESETS.glob("*.toml")} >= set(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_the_quality_bench_has_cases_for_every_task(task):
    rooms = [(1.0, Path("room.wav"), np.zeros(8, np.float32))]
    made = list(cases([task], 10.0, rooms))
    assert made and all(case.task.startswith(task) for case in made)  # dereverb-blind too


def test_the_diffusion_backend_has_a_method_for_every_task():
    from diffmusic_engine.longform.restore import TASK_METHODS

    assert sorted(cls.task for cls in TASK_METHODS) == sorted(TASKS)


def test_the_package_exports_every_damage():
    for name, cls in DAMAGE_TYPES.items():
        assert getattr(diffmusic_engine, cls.__name__) is cls, name
