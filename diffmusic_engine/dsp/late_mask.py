"""A learned late-reverberation mask, told the room: what blind dereverberation does after WPE.

Bounded WPE (:mod:`diffmusic_engine.dsp.dereverb`) predicts the reverberation linearly from
about 0.5 s of the past; in long rooms most of what is left is later and denser than a linear
filter reaches (a per-bin filter fitted to the TRUE late reverberation scored 0.956 of the
input's log-mel distance in a 2.5 s hall, docs/results.md). This module estimates it instead:

* the reverberant recording's mel power spectrogram ``M`` (``N_MELS`` bands, ``F_MIN_HZ``
  to ``F_MAX_HZ``, frames of 46.4 ms every 11.6 ms at any rate: :func:`analysis`), averaged
  over channels, in dB under the loudest frame within ``CONTEXT_S`` either side,
  floored at ``FLOOR_DB`` (:func:`mel_features`);
* the room estimate (:class:`~diffmusic_engine.room.RoomEstimate`) as ``N_MELS + 1`` more
  channels, constant over time: ``log RT60`` at each band's centre (interpolated in
  log-frequency from the octave bands) and ``DRR / 10`` (:func:`room_channels`);
* a dilated temporal convolution network (:class:`MaskNet`: a 1x1 convolution to ``WIDTH``
  channels, residual layers of 3-tap convolutions dilated 1 to 32 frames, +-63 frames (0.73 s)
  of context, each followed by a 1x1 mix, then a 1x1 convolution to ``N_MELS``) gives per band and
  frame a gain ``G = -MAX_CUT_DB sigmoid(z - 3)`` dB, trained (``python -m bench.late_mask``)
  towards ``10 log10(E / M)``: ``E`` the mel power of the recording through only the first
  ``EARLY_S`` of its room's response (the direct sound and early reflections);
* ``G`` goes to the STFT bins through the mel filters (each bin the filters' weighted mean of
  its bands' gains, :func:`bin_gains`) and is applied to WPE's output at a share ``s`` of its
  dB (``late_mask`` option): the output's STFT times ``10^(s G / 20)``.

Hand-written, in NumPy: no library holds such a model, and inference is a few matrix products
(the dsp backend does not load torch for it); the training (torch) is in ``bench/late_mask.py``,
which checks that this forward pass equals its own.

Measured (docs/results.md, "Shipped: bounded WPE, then the room-told late mask at 0.6 of its
dB", "Shipped: the late mask on three times the excerpts, at 0.8 of its dB" and "Shipped: the
late mask on five times the excerpts"): without the room the same network did harm after WPE
(the worst recording 1.013x the input's distance in a 2.5 s hall, 1.055x in a 0.5 s one). Told
the room and trained on 5000 excerpts a fold, at ``s = 0.8`` every one of bench.rooms' 16 rooms
came closer to the dry source than bounded WPE alone, held-out songs' worst recording at 0.994x
(a 0.5 s hall, where WPE alone leaves 0.994x) and every room whose T30 is 2 s or more at most
0.894 (the 2.5 s -8 dB hall with one tail for both channels; 0.897 on 3000 a fold, and 0.901
at 0.7). Trained on 1000 a fold, the mask left that hall at 0.911 at 0.6 and did harm at 0.8
(1.004, a 2.5 s +3 dB hall) and 0.9 (1.003); at the full dB (``s = 1``) a 0.5 s room's worst
reached 1.020x. The room is what bounds it: it has no energy limit of its own as WPE has
(``removal_limit_db``), since its target, the first 46 ms, is what that limit leaves; told a dry
room it takes little (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.special import expit

from diffmusic_engine.errors import ModelError
from diffmusic_engine.progress import ProgressCallback, report
from diffmusic_engine.rates import fitted_frames
from diffmusic_engine.room import RoomEstimate

MODEL_FILE = Path(__file__).with_name("late_mask.npz")
N_MELS, F_MIN_HZ, F_MAX_HZ = 64, 30.0, 16000.0
HOP_AT_44K1 = 512  # the trained frames' hop (11.6 ms; windows 46.4 ms): fitted_frames keeps them
MIN_RATE = 2 * F_MAX_HZ  # the top band needs it: lower rates are left to WPE alone
CONTEXT_S = 3.0  # the level is read under the loudest frame this far either side
FLOOR_DB = -80.0
MAX_CUT_DB = 40.0  # the most the mask takes from a band and frame
EARLY_S = 0.046  # what the mask keeps: the response's first 46 ms (a 5 ms fade after)
WIDTH = 96  # channels inside the network
DILATIONS = (1, 2, 4, 8, 16, 32)  # frames; 3 taps each: +-63 frames of context (~0.73 s each way)
ROOM_CHANNELS = N_MELS + 1  # log RT60 per band, then DRR / 10


def analysis(sample_rate: int) -> tuple[int, int]:
    """The STFT size and hop at ``sample_rate``: the frames the network was trained on, 46.4 ms
    every 11.6 ms (the network's dilations count frames)."""
    return fitted_frames(sample_rate, HOP_AT_44K1)


@cache
def mel_filters(sample_rate: int) -> np.ndarray:
    """``(N_MELS, bins)`` mel filters (librosa's, Slaney-normalised), float32."""
    import librosa

    n_fft, _ = analysis(sample_rate)
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=N_MELS, fmin=F_MIN_HZ,
                               fmax=F_MAX_HZ, dtype=np.float32)  # fmt: skip


def band_centres_hz() -> np.ndarray:
    """The mel bands' centre frequencies."""
    import librosa

    return librosa.mel_frequencies(N_MELS + 2, fmin=F_MIN_HZ, fmax=F_MAX_HZ)[1:-1]


def stft(channel: np.ndarray, sample_rate: int) -> np.ndarray:
    """One channel's STFT at the mask's analysis (centred frames: ``1 + n // hop``)."""
    import librosa

    n_fft, hop = analysis(sample_rate)
    return librosa.stft(channel.astype(np.float32), n_fft=n_fft, hop_length=hop)


def mel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(N_MELS, frames)`` mel power (dB) of ``(channels, samples)`` audio, channels averaged."""
    power = sum(np.abs(stft(channel, sample_rate)) ** 2 for channel in audio) / len(audio)
    return 10 * np.log10(mel_filters(sample_rate) @ power + 1e-12)


def mel_features(level_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """``mel_db``'s output in dB under the loudest frame within ``CONTEXT_S``, floored, scaled
    to about -2..2 (the network's input)."""
    from scipy.ndimage import maximum_filter1d

    _, hop = analysis(sample_rate)
    reach = int(round(CONTEXT_S * sample_rate / hop))
    loudest = maximum_filter1d(level_db.max(axis=0), size=2 * reach + 1, mode="nearest")
    return np.maximum(level_db - loudest, FLOOR_DB) / 20 + 2


def log_rt60_at(rt60_bands: dict[int, float], freqs_hz: np.ndarray) -> np.ndarray:
    """log RT60 at ``freqs_hz``: the octave bands' interpolated in log-frequency, held at the
    ends (0 Hz: the lowest band's)."""
    octaves = sorted(rt60_bands)
    return np.interp(np.log2(np.maximum(freqs_hz, 1.0)), np.log2(octaves),
                     [np.log(rt60_bands[f]) for f in octaves])  # fmt: skip


def room_channels(rt60_bands: dict[int, float], drr_db: float, frames: int) -> np.ndarray:
    """``(ROOM_CHANNELS, frames)``: log RT60 at each band's centre (:func:`log_rt60_at`), then
    ``drr_db / 10``."""
    column = np.append(log_rt60_at(rt60_bands, band_centres_hz()), drr_db / 10)
    return np.repeat(column[:, None], frames, axis=1).astype(np.float32)


@dataclass(frozen=True)
class MaskNet:
    """The network's weights (names as ``bench/late_mask.py``'s torch module's state dict) and
    its forward pass. ``x``: ``(N_MELS + ROOM_CHANNELS, frames)``; returns the gain ``G`` (dB,
    ``-MAX_CUT_DB``..0) per band and frame."""

    weights: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: Path | str = MODEL_FILE) -> MaskNet:
        if not Path(path).is_file():
            raise ModelError(
                f"the late-reverberation mask's weights are missing ({path}): reinstall the "
                "package, or give the option late_mask = 0 for WPE alone"
            )
        with np.load(path) as data:
            return cls({name: data[name].astype(np.float32) for name in data.files})

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w = self.weights
        h = _conv(x.astype(np.float32), w["inp.weight"], w["inp.bias"], 1)
        for i, dilation in enumerate(DILATIONS):
            u = np.maximum(_conv(h, w[f"dilated.{i}.weight"], w[f"dilated.{i}.bias"], dilation), 0)
            h = h + _conv(u, w[f"mix.{i}.weight"], w[f"mix.{i}.bias"], 1)
        z = _conv(np.maximum(h, 0), w["out.weight"], w["out.bias"], 1)
        return -MAX_CUT_DB * expit(z - 3)


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dilation: int) -> np.ndarray:
    """torch's ``Conv1d`` (``weight``: ``(out, in, taps)``, zero padding that keeps the length)."""
    taps = weight.shape[-1]
    reach = dilation * (taps - 1) // 2
    padded = np.pad(x, ((0, 0), (reach, reach)))
    n = x.shape[-1]
    out = sum(weight[:, :, k] @ padded[:, k * dilation : k * dilation + n] for k in range(taps))
    return out + bias[:, None]


@cache
def shipped_net() -> MaskNet:
    return MaskNet.load()


def band_gains_db(
    audio: np.ndarray, sample_rate: int, room: RoomEstimate, net: MaskNet | None = None
) -> np.ndarray:
    """The mask ``G`` (dB, ``(N_MELS, frames)``) for the reverberant ``audio`` in ``room``."""
    features = mel_features(mel_db(audio, sample_rate), sample_rate)
    bands = room.rt60_bands or {1000: room.rt60}  # no bands given: the broadband RT60 in each
    channels = room_channels(bands, room.drr_db, features.shape[-1])
    return (net or shipped_net())(np.concatenate([features, channels]))


def bin_gains(gains_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(N_MELS, frames)`` band gains (dB) as ``(bins, frames)``: each bin the mean of its
    bands' gains weighted by the mel filters; bins no filter covers take the nearest band's."""
    filters = mel_filters(sample_rate)
    cover = filters.sum(axis=0)
    spread = np.divide(filters, cover, out=np.zeros_like(filters), where=cover > 0)
    bins = filters.shape[1]
    below = np.arange(bins) < np.argmax(filters[0] > 0)
    spread[0, below & (cover == 0)] = 1.0
    spread[-1, ~below & (cover == 0)] = 1.0
    return spread.T @ gains_db


def apply_mask(
    audio: np.ndarray,
    sample_rate: int,
    gains_db: np.ndarray,
    share: float,
    callback: ProgressCallback | None = None,
) -> np.ndarray:
    """``audio`` (``(channels, samples)``) with each channel's STFT times ``10^(share G / 20)``
    (``G`` from :func:`band_gains_db`, frames as ``stft``'s); progress after each channel."""
    import librosa

    n_fft, hop = analysis(sample_rate)
    scale = (10 ** (share * bin_gains(gains_db, sample_rate) / 20)).astype(np.float32)
    out = np.empty(audio.shape, np.float32)
    for c, channel in enumerate(audio):
        spectrum = stft(channel, sample_rate) * scale
        out[c] = librosa.istft(spectrum, n_fft=n_fft, hop_length=hop, length=audio.shape[-1])
        report(callback, c + 1, len(audio), "dereverb")
    return out
