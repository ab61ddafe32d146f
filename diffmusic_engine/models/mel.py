"""The mel front end of AudioLDM-family models, in torch (differentiable).

AudioLDM, AudioLDM2 and MusicLDM were trained on HiFi-GAN-style log-mel spectrograms: magnitude
STFT (Hann window, frames padded by (n_fft - hop) / 2 on each side, not centred), a Slaney mel
filterbank (librosa's default), natural log of the magnitude clamped at 1e-5. This is the space
the VAE decodes to and the vocoder reads, so the solver can compare in it without the vocoder.
"""

from __future__ import annotations

import math
import warnings

import librosa
import numpy as np
import torch

from diffmusic_engine.operators.stft import safe_magnitude

LOG_FLOOR = 1e-5  # HiFi-GAN's dynamic range compression: log(clamp(x, min=1e-5))


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmax: float | None = None, *, htk: bool = False
) -> torch.Tensor:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters: Slaney-normalised, or HTK unnormalised.

    A short ``n_fft`` (a user's phase-retrieval frame of 512 samples, say) leaves the lowest mel
    bands narrower than one STFT bin, so they get no bin: such a band reads zero power, floored,
    on both sides of every comparison, so it carries nothing and costs nothing. librosa warns
    about it on the user's terminal; the warning is not theirs to act on, so it is not shown.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Empty filters detected", category=UserWarning)
        bank = librosa.filters.mel(
            sr=sample_rate,
            n_fft=n_fft,
            n_mels=n_mels,
            fmin=0.0,
            fmax=fmax,
            htk=htk,
            norm=None if htk else "slaney",
        )
    return torch.from_numpy(np.asarray(bank, np.float32))


class MelFrontEnd:
    """waveform ``(B, n)`` -> log-mel ``(B, 1, ceil(n / hop), n_mels)``, the VAE's own space."""

    def __init__(self, sample_rate: int, hop: int, n_mels: int, n_fft: int = 1024) -> None:
        self.sample_rate, self.hop, self.n_mels, self.n_fft = sample_rate, hop, n_mels, n_fft
        self.filterbank = mel_filterbank(sample_rate, n_fft, n_mels, sample_rate / 2)
        # frame k covers [k * hop - pad, k * hop - pad + n_fft): its centre is at (k + 1/2) hop
        self.pad = (n_fft - hop) // 2

    def frames(self, n_samples: int) -> int:
        """How many mel frames ``n_samples`` give (one per hop, the last one padded)."""
        return math.ceil(n_samples / self.hop)

    def magnitude_to_mel(self, magnitude: torch.Tensor) -> torch.Tensor:
        """``(..., bins, frames)`` linear magnitude -> ``(..., frames, n_mels)`` log-mel."""
        bank = self.filterbank.to(magnitude.device, magnitude.dtype)
        mel = torch.matmul(bank, magnitude).transpose(-1, -2)
        return torch.log(torch.clamp(mel, min=LOG_FLOOR))

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform.float().reshape(-1, waveform.shape[-1])
        n = x.shape[-1]
        frames = self.frames(n)
        x = torch.nn.functional.pad(x, (0, frames * self.hop - n))
        x = torch.nn.functional.pad(x.unsqueeze(1), (self.pad, self.pad), mode="reflect")
        window = torch.hann_window(self.n_fft, device=x.device, dtype=x.dtype)
        spec = torch.stft(
            x.squeeze(1), self.n_fft, self.hop, window=window, center=False, return_complex=True
        )
        return self.magnitude_to_mel(safe_magnitude(spec, eps=1e-9)[..., :frames]).unsqueeze(1)
