"""The mel filterbanks: a short frame leaves low bands empty, quietly and harmlessly."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import torch

from diffmusic_engine.diffusion.guidance import VMC_DB_RANGE, VMC_MELS, MelDB
from diffmusic_engine.models.mel import mel_filterbank

RATE, N_FFT = 16000, 186  # a 512-sample phase-retrieval frame at 44.1 kHz, at the model's rate


def test_a_short_frame_leaves_low_bands_empty_without_a_warning_on_the_terminal():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # librosa's UserWarning would fail here
        bank = mel_filterbank(RATE, N_FFT, VMC_MELS, RATE / 2, htk=True).numpy()
    # A band is empty when no STFT bin lies strictly inside its triangle (HTK edges, 0-8 kHz).
    edges = librosa.mel_frequencies(VMC_MELS + 2, fmin=0.0, fmax=RATE / 2, htk=True)
    bins = np.fft.rfftfreq(N_FFT, 1 / RATE)
    inside = (bins[None, :] > edges[:-2, None]) & (bins[None, :] < edges[2:, None])
    expected_empty = ~inside.any(axis=1)
    assert 0 < expected_empty.sum() < VMC_MELS // 4
    np.testing.assert_array_equal(bank.sum(axis=1) == 0, expected_empty)

    # Such a band reads the floor whatever the magnitude: both sides of a comparison agree there.
    magnitude = torch.rand(2, N_FFT // 2 + 1, 7) + 0.5
    db = MelDB(RATE).from_magnitude(magnitude, N_FFT)
    assert torch.all(db[:, torch.from_numpy(expected_empty)] == -VMC_DB_RANGE)
    assert torch.all(db[:, torch.from_numpy(~expected_empty)] > -VMC_DB_RANGE)
