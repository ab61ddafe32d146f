"""solve with ``x_init`` (SDEdit): encode the guess at the measurement's level, noise it to t0,
run the remaining steps; on the tiny AudioLDM2 loaded through the real loader."""

from __future__ import annotations

import math

import pytest
import torch

from diffmusic_engine.damage import Gap
from diffmusic_engine.diffusion.solver import solve
from diffmusic_engine.errors import InputError
from diffmusic_engine.operators import InpaintOperator
from diffmusic_engine.samplers import DDIMSchedule

SR, N, STEPS = 16000, 8000, 4


def test_encode_gives_the_latent_shape_the_sampler_uses(audioldm2):
    x = 0.1 * torch.randn(2, N - 123, generator=torch.Generator().manual_seed(0))
    z0 = audioldm2.encode(x)
    assert tuple(z0.shape) == (2, *audioldm2.latent_shape(N - 123))
    assert z0.dtype == torch.float32 and torch.equal(z0, audioldm2.encode(x))


@pytest.mark.parametrize(("sampler", "strength", "expected"), [("irs", 0.5, 2), ("ddim", 0.2, 1)])
def test_the_chain_starts_from_the_noised_encoded_guess(
    audioldm2, monkeypatch, sampler, strength, expected
):
    generator = torch.Generator().manual_seed(1)
    x_init = 0.2 * torch.randn(2, N, generator=generator)  # peak ~0.8
    measurement = x_init.clone()
    z_T = torch.randn(2, *audioldm2.latent_shape(N), generator=generator)  # noqa: N806
    seen = []
    predict = audioldm2.predict_noise
    monkeypatch.setattr(
        audioldm2,
        "predict_noise",
        lambda z_t, t, c: seen.append((z_t.clone(), t)) or predict(z_t, t, c),
    )
    operator = InpaintOperator((Gap(0.2, 0.3),), SR)
    solve(audioldm2, operator, measurement, sampler=sampler, steps=STEPS, z_T=z_T,
          x_init=x_init, strength=strength)  # fmt: skip

    schedule = DDIMSchedule.from_scheduler_config(audioldm2.scheduler_config, STEPS)
    t0 = int(schedule.timesteps[STEPS - expected])
    abar_t0 = float(schedule.alphas_cumprod[t0])
    gain = 0.5 / measurement.abs().amax(dim=-1, keepdim=True)  # solved at the training peak 0.5
    encoded = audioldm2.encode(x_init * gain)  # on the model's device
    first = math.sqrt(abar_t0) * encoded + math.sqrt(1 - abar_t0) * z_T.to(encoded.device)
    assert [t for _, t in seen] == schedule.timesteps[STEPS - expected :].tolist()
    torch.testing.assert_close(seen[0][0], first, rtol=0, atol=1e-5)


def test_a_guess_of_the_wrong_shape_is_refused(audioldm2):
    with pytest.raises(InputError, match=r"x_init \(1, 8000\): expected one guess per window"):
        solve(audioldm2, InpaintOperator((Gap(0.2, 0.3),), SR), torch.ones(2, N), steps=2,
              x_init=torch.ones(1, N))  # fmt: skip
