"""An exact Gaussian prior and linear inverse problems whose posterior is known in closed form.

See docs/method.md, "Testing the samplers against a Gaussian prior".
Latents z0 ~ N(mu, S) in R^d, d = 4 x 64 = 256, with S the
Kronecker product of a 4 x 4 channel correlation and an AR(1) covariance rho^|i-j| over 64 frames.
The exact noise predictor is eps*(z_t, t) = sqrt(1 - a_t) K_t^{-1} (z_t - sqrt(a_t) mu),
K_t = a_t S + (1 - a_t) I. A linear "decoder" x = A z and a linear operator H give
y = H A z0_true + noise (variance v), and the posterior
    C_post = (S^{-1} + A^T H^T H A / v)^{-1},  m_post = C_post (S^{-1} mu + A^T H^T y / v).
Everything here is float64 numpy/torch, independent of the samplers' code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from diffmusic_engine.models.testing import SCHEDULER
from diffmusic_engine.samplers import DDIMSchedule

# AudioLDM2-music's scheduler config as its scheduler_config.json holds it (the reference: 1000
# train steps, scaled_linear 0.0015..0.0195), with keys DDIM does not use
REFERENCE_CONFIG = {
    "_class_name": "DDIMScheduler",
    **SCHEDULER,
    "prediction_type": "epsilon",
    "trained_betas": None,
}
STEPS = 50
CHANNELS, FRAMES = 4, 64
ITEM_SHAPE = (CHANNELS, FRAMES)
D = CHANNELS * FRAMES
RHO = 0.9  # AR(1) correlation of neighbouring frames
CHANNEL_CORRELATION = 0.5
NOISE_VARIANCE = 1e-4  # v, the measurement noise
GAP = slice(24, 40)  # inpainting: frames 24..39 of every channel unobserved
LOWPASS_BINS = 9  # low-pass: rfft bins 0..8 of 33 kept along the time axis


def prior_covariance() -> np.ndarray:
    """S = C_channels (x) AR(1), flattened channel-major like ``z.flatten(1)``."""
    frames = np.arange(FRAMES)
    ar1 = RHO ** np.abs(frames[:, None] - frames[None, :])
    channels = np.full((CHANNELS, CHANNELS), CHANNEL_CORRELATION) + (
        1 - CHANNEL_CORRELATION
    ) * np.eye(CHANNELS)
    return np.kron(channels, ar1)


def prior_mean() -> np.ndarray:
    """A non-zero mean (so that the mean's handling is checked too)."""
    frames = np.arange(FRAMES)
    rows = [0.4 * np.sin(2 * np.pi * (c + 1) * frames / FRAMES) for c in range(CHANNELS)]
    return np.concatenate(rows)


class GaussianNoisePredictor(torch.nn.Module):
    """eps*(z_t, t) of the Gaussian prior, with the UNet's call signature.

    It records its calls, and whether any came with gradients enabled or a latent that requires
    grad; mu is a Parameter so that a test can check that no gradient ever reaches it.
    """

    def __init__(self, mu: np.ndarray, covariance: np.ndarray, schedule: DDIMSchedule) -> None:
        super().__init__()
        self.mu = torch.nn.Parameter(torch.from_numpy(mu))
        lam, q = np.linalg.eigh(covariance)
        self.operators: dict[int, tuple[float, torch.Tensor]] = {}
        for t in schedule.timesteps.tolist():
            a = float(schedule.alphas_cumprod[t])
            # sqrt(1 - a) K_t^{-1}, K_t = a S + (1 - a) I = Q diag(a lam + 1 - a) Q^T
            k_inverse = (q / (a * lam + 1 - a)) @ q.T
            self.operators[t] = (a, torch.from_numpy(np.sqrt(1 - a) * k_inverse))
        self.calls = 0
        self.calls_with_grad = 0

    def forward(self, z_t: torch.Tensor, t: int) -> torch.Tensor:
        self.calls += 1
        if torch.is_grad_enabled() or z_t.requires_grad:
            self.calls_with_grad += 1
        a, operator = self.operators[int(t)]
        u = z_t.flatten(1).double() - np.sqrt(a) * self.mu
        return (u @ operator).view_as(z_t).to(z_t.dtype)


@dataclass
class LinearProblem:
    """y = H A z0_true + noise; the loss ||H A z0 - y||^2 summed over the batch."""

    name: str
    mu: np.ndarray
    covariance: np.ndarray
    forward_matrix: np.ndarray  # H A, shape (m, d)
    y: np.ndarray
    noise_variance: float

    def loss(self, z0: torch.Tensor) -> torch.Tensor:
        residual = z0.flatten(1).double() @ torch.from_numpy(self.forward_matrix.T)
        return ((residual - torch.from_numpy(self.y)) ** 2).sum()

    def norm_loss(self, z0: torch.Tensor) -> torch.Tensor:
        """sum_b ||H A z0_b - y||, the plain (not squared) norm DPS differentiates."""
        residual = z0.flatten(1).double() @ torch.from_numpy(self.forward_matrix.T)
        return torch.linalg.vector_norm(residual - torch.from_numpy(self.y), dim=1).sum()

    def residuals(self, z: torch.Tensor) -> np.ndarray:
        """||H A z_b - y|| for each item b."""
        flat = z.flatten(1).double().numpy()
        return np.linalg.norm(flat @ self.forward_matrix.T - self.y, axis=1)

    @property
    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """(m_post, C_post) in closed form."""
        s_inverse = np.linalg.inv(self.covariance)
        ha = self.forward_matrix
        c_post = np.linalg.inv(s_inverse + ha.T @ ha / self.noise_variance)
        m_post = c_post @ (s_inverse @ self.mu + ha.T @ self.y / self.noise_variance)
        return m_post, c_post

    @property
    def unobserved(self) -> np.ndarray:
        """The orthogonal projector onto the null space of H A: what only the prior can tell."""
        ha = self.forward_matrix
        return np.eye(ha.shape[1]) - np.linalg.pinv(ha) @ ha

    @property
    def lipschitz(self) -> float:
        """sigma_max(H A)^2: the gradient of the loss is 2 (H A)^T (H A z - y)."""
        return float(np.linalg.norm(self.forward_matrix, 2) ** 2)


def inpainting_matrix() -> np.ndarray:
    """H: the rows of the identity at the observed entries (all channels, frames outside GAP)."""
    observed = np.ones(ITEM_SHAPE, dtype=bool)
    observed[:, GAP] = False
    return np.eye(D)[observed.reshape(-1)]


def lowpass_matrix() -> np.ndarray:
    """H: a zero-phase FFT low-pass along time (rfft bins >= LOWPASS_BINS zeroed), per channel."""
    spectrum = np.fft.rfft(np.eye(FRAMES), axis=0)
    spectrum[LOWPASS_BINS:] = 0
    per_channel = np.fft.irfft(spectrum, n=FRAMES, axis=0)  # symmetric projector, rank 17
    return np.kron(np.eye(CHANNELS), per_channel)


def well_conditioned_decoder(seed: int) -> np.ndarray:
    """A = U diag(s) V^T, U and V random orthogonal, s spread over [0.8, 1.25]."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((D, D)))
    v, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return u @ np.diag(np.linspace(0.8, 1.25, D)) @ v.T


def make_problem(name: str, seed: int = 7) -> LinearProblem:
    mu, covariance = prior_mean(), prior_covariance()
    rng = np.random.default_rng(seed)
    z_true = mu + np.linalg.cholesky(covariance) @ rng.standard_normal(D)
    if name == "inpaint":
        forward_matrix = inpainting_matrix()  # A = I
    else:
        forward_matrix = lowpass_matrix() @ well_conditioned_decoder(seed)
    noise = np.sqrt(NOISE_VARIANCE) * rng.standard_normal(forward_matrix.shape[0])
    y = forward_matrix @ z_true + noise
    return LinearProblem(name, mu, covariance, forward_matrix, y, NOISE_VARIANCE)
