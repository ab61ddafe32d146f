"""The parametric subband room: its decay per band, and its fit to a synthetic room."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffmusic_engine.operators.dereverb import fft_convolve
from diffmusic_engine.operators.subband_rir import SubbandRIR

SR = 8000
BANDS = {250: 0.8, 500: 0.6, 1000: 0.5, 2000: 0.3}


def fit_room(
    room: SubbandRIR, dry: torch.Tensor, wet: torch.Tensor, steps: int, lr: float = 0.05
) -> list[float]:
    """The room model alone fitted to a known dry signal (the sampler fits it against psi, in
    ``BlindConvolutionOperator.fit``): ``steps`` Adam steps on ``||h * dry - wet||^2 /
    ||wet||^2``; the residual after each."""
    optimiser = torch.optim.Adam(room.parameters(), lr=lr)
    residuals = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.sum((fft_convolve(dry, room()) - wet) ** 2) / torch.sum(wet**2)
        loss.backward()
        optimiser.step()
        residuals.append(float(loss.detach()))
    return residuals


def test_direct_path_is_one_and_each_band_decays_at_its_t60():
    h = SubbandRIR(BANDS, -20.0, SR, 1.0)().detach().numpy()
    assert h[0] == 1.0 and np.all(h[1 : int(0.003 * SR)] == 0)
    spec = np.abs(np.fft.rfft(h[int(0.1 * SR) : int(0.4 * SR)].reshape(3, -1), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(int(0.1 * SR), 1 / SR)
    for centre, t60 in BANDS.items():
        near = np.abs(freqs - centre) < 40
        drop_db = 10 * np.log10(spec[0, near].mean() / spec[2, near].mean())  # over 0.2 s
        assert abs(drop_db - 60 * 0.2 / t60) < 0.3 * 60 * 0.2 / t60, (centre, drop_db)


@pytest.mark.slow
def test_fit_recovers_band_t60s_and_the_residual_falls():
    rng = np.random.default_rng(1)
    dry = torch.from_numpy(rng.standard_normal(SR // 2) * np.exp(-np.arange(SR // 2) / 1000.0))
    truth = SubbandRIR(BANDS, -15.0, SR, 0.6)
    with torch.no_grad():
        wet = fft_convolve(dry, truth())
    start = dict.fromkeys(BANDS, 1.0)  # a warm start off by up to 3x
    room = SubbandRIR(start, -10.0, SR, 0.6)
    residuals = []
    for _ in range(3):  # as during sampling: a few steps at a time, a fresh optimiser each time
        residuals += fit_room(room, dry, wet, steps=100)
    assert residuals[-1] < 0.01 * residuals[0]
    found = torch.exp(room.log_t60).detach().numpy()
    assert np.all(np.abs(found / np.array(list(BANDS.values())) - 1) < 0.1), found  # stated: 10 %
    assert np.all(np.abs(room.level_db.detach().numpy() + 15.0) < 1.0)
