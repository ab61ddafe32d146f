"""solve: shapes for the five tasks, determinism, and guidance that does lower the residual."""

from __future__ import annotations

import functools

import pytest
import torch

from diffmusic_engine.damage import Gap
from diffmusic_engine.diffusion.guidance import MelDB, build_loss
from diffmusic_engine.diffusion.solver import solve
from diffmusic_engine.errors import Cancelled, InputError
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.operators import (
    ConvolutionOperator,
    InpaintOperator,
    LowPassOperator,
    MagnitudeOperator,
    MixOperator,
)
from diffmusic_engine.samplers import DDIMSchedule, sample

SR = 16000
N = 16000  # 1 s


@functools.cache
def _model_audio(adapter, rows, seed, n):
    # the prior's own output level (an all-zero measurement has no level to solve at)
    return solve(adapter, LowPassOperator(7000.0, SR), torch.zeros(rows, n), sampler="ddim",
                 steps=4, seed=seed, target_peak=None)  # fmt: skip


def model_audio(adapter, rows, seed, n=N):
    """Audio the tiny prior itself produces (an unguided solve), as ground truth."""
    return _model_audio(adapter, rows, seed, n).clone()


TASKS = {
    "inpaint": (lambda: InpaintOperator((Gap(0.4, 0.6),), SR), 1),
    "super-resolution": (lambda: LowPassOperator(4000.0, SR), 1),
    "phase-retrieval": (lambda: MagnitudeOperator(1024, 256, SR), 1),
    "dereverb": (lambda: ConvolutionOperator(synthetic_rir(0.2, SR, seed=2), SR), 1),
    "separate": (lambda: MixOperator((0.5, 0.5), SR), 2),
}


def vmc_residual(operator, out, damaged):
    """Per row, what VMC guidance lowers: || psi(T(x)) - psi(y) || with y = T.measure(damaged)
    (psi of the magnitude itself for phase retrieval, as guidance.build_loss compares)."""
    psi = MelDB(SR)
    if isinstance(operator, MagnitudeOperator):
        transform = functools.partial(psi.from_magnitude, n_fft=operator.n_fft)
    else:
        transform = psi
    with torch.no_grad():
        difference = transform(operator(out)) - transform(operator.measure(damaged))
    return torch.linalg.vector_norm(difference.reshape(difference.shape[0], -1), dim=1)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_solve_shapes_for_each_task(audioldm2, task):
    make, sources = TASKS[task]
    operator = make()
    n = 12345  # not a multiple of anything: output is trimmed to it
    damaged = torch.randn(2, n, generator=torch.Generator().manual_seed(0)) * 0.1
    out = solve(audioldm2, operator, damaged, sources=sources, steps=3, gamma=0.3, seed=0)
    expected = (2, sources, n) if sources > 1 else (2, n)
    assert out.shape == expected and out.dtype == torch.float32
    assert bool(torch.isfinite(out).all())
    # guidance pulls each row of the batch towards its own measurement, even in 3 steps
    unguided = solve(audioldm2, operator, damaged, sources=sources, steps=3, sampler="ddim")
    guided_rows, unguided_rows = (vmc_residual(operator, x, damaged) for x in (out, unguided))
    assert bool((guided_rows < 0.99 * unguided_rows).all())


def test_musicldm_solves_too(musicldm):
    operator = InpaintOperator((Gap(0.4, 0.6),), SR)
    damaged = operator(model_audio(musicldm, 1, 3))
    kwargs = {"steps": 3, "seed": 0, "prompt": "drums"}
    out = solve(musicldm, operator, damaged, gamma=0.3, **kwargs)
    assert out.shape == (1, N) and bool(torch.isfinite(out).all())
    unguided = solve(musicldm, operator, damaged, sampler="ddim", **kwargs)
    assert vmc_residual(operator, out, damaged) < 0.9 * vmc_residual(operator, unguided, damaged)


def test_same_seed_same_output_other_seed_other_output(audioldm2):
    operator = LowPassOperator(4000.0, SR)
    damaged = operator(model_audio(audioldm2, 1, 7))
    first = solve(audioldm2, operator, damaged, steps=4, gamma=0.3, seed=11)
    again = solve(audioldm2, operator, damaged, steps=4, gamma=0.3, seed=11)
    other = solve(audioldm2, operator, damaged, steps=4, gamma=0.3, seed=12)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


# A magnitude keeps no phase: many waveforms fit it and 10 steps lower its residual less.
RESIDUAL_BOUND = {"phase-retrieval": 0.95}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_guided_solve_lowers_the_residual_against_unguided(audioldm2, task):
    make, sources = TASKS[task]
    operator = make()
    truth = model_audio(audioldm2, sources, 3)  # the prior's own audio: reachable
    truth = truth.reshape(1, sources, N) if sources > 1 else truth
    if isinstance(operator, MagnitudeOperator):  # the truth's magnitude under a random phase
        damaged = torch.from_numpy(operator.degrade(truth.cpu().numpy())).to(truth.device)
    else:
        damaged = operator(truth)

    def residual(out):  # what VMC measures: || psi(T(x)) - psi(y) ||
        return float(vmc_residual(operator, out, damaged).sum())

    kwargs = {"sources": sources, "steps": 10, "seed": 0}
    unguided = residual(solve(audioldm2, operator, damaged, sampler="ddim", **kwargs))
    guided = residual(solve(audioldm2, operator, damaged, sampler="irs", gamma=0.3, **kwargs))
    assert guided < RESIDUAL_BOUND.get(task, 0.85) * unguided


class ConsistentMel:
    """The adapter, but with a mel front end that agrees with its decoder on the truth.

    A trained VAE decodes to the mel its front end computes; random weights do not, so the
    mel-space target would be out of the tiny decoder's reach. Here mel(y) is what the decoder
    makes of the true latents (mixed with the weights for separation), so the target is reachable.
    """

    def __init__(self, adapter, target):
        self._adapter, self._target = adapter, target

    def __getattr__(self, name):
        return getattr(self._adapter, name)

    def mel(self, waveform):
        return self._target


@pytest.mark.parametrize("task", ["inpaint", "super-resolution", "separate"])
def test_mel_space_guidance_lowers_its_own_loss(audioldm2, task):
    """Without VMC the loss lives in the VAE's mel space; guided latents end lower in it."""
    make, sources = TASKS[task]
    operator = make()
    shape = (sources, *audioldm2.latent_shape(N))
    truth = torch.randn(shape, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        target = audioldm2.decode(truth)[:, :, :100]
        if sources > 1:
            weights = torch.tensor(operator.weights, device=target.device).view(sources, 1, 1, 1)
            target = torch.log((weights * target.exp()).sum(0, keepdim=True))
    adapter = ConsistentMel(audioldm2, target)
    loss = build_loss(adapter, operator, torch.zeros(1, N), sources=sources, vmc=False)
    assert float(loss(truth)) == pytest.approx(0.0, abs=1e-3)
    conditioning = audioldm2.conditioning(None, sources)
    schedule = DDIMSchedule.from_scheduler_config(audioldm2.scheduler_config, 10)

    def final_loss(method, gamma):
        result = sample(method, lambda z, t: audioldm2.predict_noise(z, t, conditioning), loss,
                        schedule, shape, gamma=gamma, seed=0, device=audioldm2.device)  # fmt: skip
        with torch.no_grad():
            return float(loss(result.latents))

    # the decoder alone passes a weaker gradient than decoder + vocoder + psi: a larger step
    assert final_loss("irs", 3.0) < 0.7 * final_loss("ddim", 0.0)


def test_solve_reports_progress_and_can_be_cancelled(audioldm2):
    seen = []

    def callback(progress):
        seen.append((progress.step, progress.total, progress.stage))
        if progress.step == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        solve(audioldm2, LowPassOperator(4000.0, SR), torch.zeros(1, 8000), steps=5,
              callback=callback)  # fmt: skip
    assert seen == [(1, 5, "irs"), (2, 5, "irs")]


def test_window_longer_than_the_model_is_refused(audioldm2):
    too_long = torch.zeros(1, audioldm2.window_samples + 1)
    with pytest.raises(InputError, match="does not fit"):
        solve(audioldm2, LowPassOperator(4000.0, SR), too_long, steps=2)


def test_no_parameter_gets_a_gradient_in_a_guided_solve(audioldm2):
    operator = InpaintOperator((Gap(0.2, 0.3),), SR)
    solve(audioldm2, operator, torch.randn(1, 8000) * 0.1, steps=2, gamma=0.3)
    for module in (audioldm2.unet, audioldm2.vae, audioldm2.vocoder):
        assert all(p.grad is None and not p.requires_grad for p in module.parameters())


def test_takes_are_solved_at_the_training_level_and_returned_at_their_own(audioldm2):
    """Every operator is linear, so with the level normalised, solve(k y) = k solve(y)."""
    operator = LowPassOperator(4000.0, SR)
    damaged = operator(model_audio(audioldm2, 1, 5))
    kwargs = {"sampler": "irs", "steps": 4, "seed": 1, "gamma": 0.3}
    loud = solve(audioldm2, operator, damaged, **kwargs)
    quiet = solve(audioldm2, operator, 0.01 * damaged, **kwargs)
    torch.testing.assert_close(quiet, 0.01 * loud, rtol=1e-3, atol=1e-6)
    raw = solve(audioldm2, operator, 0.01 * damaged, target_peak=None, **kwargs)
    assert not torch.allclose(raw, quiet, rtol=1e-3, atol=1e-6)  # the level does matter
