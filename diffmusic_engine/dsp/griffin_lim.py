"""Fast Griffin-Lim (Perraudin, Balazs & Sondergaard, 2013).

Only the magnitude ``S = |STFT(y)|`` of the input is trusted. With the two projections

* ``P_C2(Z) = S * Z / |Z|``  (onto spectrograms with the measured magnitude), and
* ``P_C1(Z) = STFT(ISTFT(Z))`` (onto consistent spectrograms, those of some signal),

fast Griffin-Lim iterates ``c_n = P_C1(P_C2(t_(n-1)))``, ``t_n = c_n + alpha (c_n - c_(n-1))``
with momentum ``alpha`` (0.99 by default; 0 gives plain Griffin-Lim). The start is the
phase-advance phase ``phi[k, t] = 2 pi k hop t / n_fft``: the phase of a steady sinusoid centred on
bin ``k``, which gives coherent partials instead of noise. The result is ``ISTFT(P_C2(t_N))``: an
ISTFT, so its spectrogram is consistent by construction.

Written by hand because ``librosa.griffinlim`` accepts neither an initial phase nor a progress
callback (so it could be neither started well nor cancelled). The STFT is the operators' own
(:func:`diffmusic_engine.operators.stft`), channels batched on the leading axis.
"""

from __future__ import annotations

import numpy as np
import torch

from diffmusic_engine.operators import istft, stft
from diffmusic_engine.progress import ProgressCallback, report


def retrieve_phase(
    audio: np.ndarray,
    n_fft: int,
    hop: int,
    *,
    iterations: int,
    momentum: float,
    callback: ProgressCallback | None = None,
) -> np.ndarray:
    """Waveforms whose STFT magnitudes match those of ``audio`` ``(channels, samples)``."""
    x = torch.from_numpy(np.ascontiguousarray(audio, np.float32))
    with torch.no_grad():
        magnitude = stft(x, n_fft, hop).abs()  # S: (channels, bins, frames)
        out = griffin_lim(magnitude, n_fft, hop, audio.shape[-1], iterations=iterations,
                          momentum=momentum, callback=callback)  # fmt: skip
    return out.numpy().astype(np.float32)


def phase_advance(bins: int, frames: int, n_fft: int, hop: int) -> torch.Tensor:
    """``phi[k, t] = 2 pi k hop t / n_fft`` (wrapped), shaped ``(bins, frames)``."""
    k = torch.arange(bins, dtype=torch.float64)[:, None]
    t = torch.arange(frames, dtype=torch.float64)[None, :]
    return torch.remainder(2 * torch.pi * k * hop * t / n_fft, 2 * torch.pi).float()


def griffin_lim(
    magnitude: torch.Tensor,
    n_fft: int,
    hop: int,
    length: int,
    *,
    iterations: int = 100,
    momentum: float = 0.99,
    callback: ProgressCallback | None = None,
) -> torch.Tensor:
    """Fast Griffin-Lim on ``magnitude`` ``(..., bins, frames)``: waveforms ``(..., length)``."""
    s = magnitude  # S
    phase = phase_advance(*s.shape[-2:], n_fft, hop)
    t = torch.polar(s, phase.expand_as(s))  # t_0
    c_prev = t  # c_0
    report(callback, 0, iterations, "phase-retrieval")
    for n in range(1, iterations + 1):
        c = stft(istft(_project_magnitude(t, s), n_fft, hop, length), n_fft, hop)  # c_n
        t = torch.sub(c, c_prev).mul_(momentum).add_(c)  # t_n = c_n + alpha (c_n - c_(n-1))
        c_prev = c
        report(callback, n, iterations, "phase-retrieval")
    return istft(_project_magnitude(t, s), n_fft, hop, length)


def _project_magnitude(z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``P_C2``: keep the phase of ``z``, impose the magnitude ``s`` (where ``z = 0``: 0)."""
    return z * (s / z.abs().clamp_min_(1e-30))
