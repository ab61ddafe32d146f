"""Where a recording holds no music: its dropouts and pauses (the one rule,
:func:`diffmusic_engine.diagnose.dropouts.find_dropouts`: digital silence, or a quiet run with
abrupt edges, dithered or through a codec) and any run of digital silence on every channel
(pre-roll, an edit, which that rule leaves alone at a file's start).

Their abrupt edges are no room's decay and no music to process: the room estimate leaves them
out of its statistics, and dereverb and super-resolution (both backends) give them back as
they were (the dsp dereverb bridged over them while it runs: :func:`bridge`), to be filled by
``inpaint``.
Processed as they were, WPE put sound up to -7 dBFS into a 0.3 s dropout and faded the 40 ms
before it by 13 dB, the super-resolution's patch put -31 dBFS into it, and either way the
dropout could no longer be found; a 0.3 s dropout had read every hall as 0.05 s
(docs/results.md "Digital silence in the room estimate").
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose.dropouts import SILENCE, find_dropouts

# A run of digital silence (the dropout rule's SILENCE) at least this long on every channel is
# silent (a single zero sample is a zero crossing). No recording the room model was fitted or
# measured on holds one.
SILENCE_S = 0.001


def silent_samples(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, samples)``: True within the dropouts of ``(channels, samples)`` ``audio`` on
    the channels that dropped out and within its pauses
    (:func:`diffmusic_engine.diagnose.dropouts.find_dropouts`), and within runs of at least
    ``SILENCE_S`` where every channel is digital silence."""
    audio = np.atleast_2d(audio)
    every = tuple(range(audio.shape[0]))
    runs = [(a, b, every) for a, b in digital_silence(audio, sample_rate)]
    dropouts, pauses = find_dropouts(audio, sample_rate)
    silent = np.zeros(audio.shape, bool)
    for first, stop, channels in runs + dropouts + [(a, b, every) for a, b in pauses]:
        silent[list(channels), first:stop] = True
    return silent


def digital_silence(audio: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """The runs ``(first, stop)`` (samples) of at least ``SILENCE_S`` where every channel of
    ``(channels, samples)`` ``audio`` is digital silence: no music there, whatever the dropout
    rule makes of them (a dropout, a pause, pre-roll). Cheap: no scan of the music around."""
    zero = np.all(np.abs(np.atleast_2d(audio)) <= SILENCE, axis=0)
    return [(a, b) for a, b in runs_of(zero) if b - a >= SILENCE_S * sample_rate]


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in 1-D ``mask`` as ``[(first, stop), ...]``."""
    first, stop = run_edges(mask)
    return list(zip(first.tolist(), stop.tolist(), strict=True))


def run_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of True in 1-D ``mask`` as two arrays, their ``first`` and ``stop`` indices.
    Compared as booleans (an int64 difference and lists had taken 194 ms on a 5 min channel's
    mask with 2 % of it set, this 10 ms)."""
    padded = np.zeros(mask.size + 2, bool)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[::2], edges[1::2]


def sounding_frames(silent: np.ndarray, n_fft: int, hop: int, frames: int) -> np.ndarray:
    """``(frames,)``: True for the STFT frames (centred, ``hop`` apart) whose window touches no
    ``silent`` sample (``(samples,)``)."""
    count = np.concatenate([[0], np.cumsum(silent)])  # silent samples before each index
    centres = np.arange(frames) * hop
    first = np.clip(centres - n_fft // 2, 0, silent.size)
    stop = np.clip(centres + n_fft // 2, 0, silent.size)
    return count[stop] == count[first]


def keep_silence(audio: np.ndarray, out: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """``out`` (a fresh array of ``audio``'s shape) with ``audio``'s ``silent`` samples."""
    out[silent] = audio[silent]
    return out


def bridge(audio: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """``audio`` with each run of ``silent`` samples (per channel) replaced by the audio before
    it mirrored back and forth (after it, at the start: continuous at every turn), so that
    dereverberation sees music go on (why: the module's docstring). Only what it sees: the
    silent samples come back as they were (:func:`keep_silence`)."""
    if not silent.any():
        return audio
    bridged = np.array(audio, copy=True)
    for channel, row in enumerate(silent):
        for first, stop in runs_of(row):
            n = stop - first
            if first:  # what came before (its last n samples), bridged runs included, mirrored on
                before = bridged[channel, max(0, first - n) : first]
                line = np.pad(before, (0, n), mode="symmetric")[before.size :]
            elif stop < audio.shape[1]:  # at the start: what comes after, mirrored back
                line = np.pad(audio[channel, stop:], (n, 0), mode="symmetric")[:n]
            else:
                continue  # nothing sounds on this channel
            bridged[channel, first:stop] = line
    return bridged
