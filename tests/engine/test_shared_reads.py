"""diagnose's work read once: the dropout rule once per audio (.diagnose.scans), the band limit's
spectra in chunks, declick's confirmation refitting only the blocks that hold a hidden sample;
each the same numbers as the work done whole (the band limit's sums to rounding), and what the
band limit and declick's statistic hold while they work."""

from __future__ import annotations

import functools
import tracemalloc
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import pytest
from scipy.signal import spectrogram

from diffmusic_engine.band_limit import CHUNK_SEGMENTS, _segment_power_sums, long_term_level
from diffmusic_engine.diagnose import diagnose, dropouts, scans
from diffmusic_engine.dsp.click_statistic import BLOCK_SECONDS, block_models, click_statistic
from diffmusic_engine.synth import music_excerpt

RATE = 44100


def test_a_function_marked_once_reads_each_audio_once_within_a_diagnosis() -> None:
    calls = []

    @scans.once
    def count(audio: np.ndarray, scale: int = 2) -> list[float]:
        calls.append(scale)
        return [float(audio.sum()) * scale]

    audio = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert count(audio, 2) == count(audio, 2) == [30.0]  # outside: read every time
    assert len(calls) == 2
    with scans.shared():
        first = count(audio, 2)
        first.append(-1.0)  # a caller's own copy: the next gets the answer as it was
        assert count(audio.copy(), 2) == [30.0]  # the same content, another array
        assert count(audio) == count(audio, scale=2) == [30.0]  # the same arguments as bound
        assert count(audio, 3) == [45.0]  # other arguments
        assert count(audio.astype(np.float64), 2) == [30.0]  # another dtype: read again
        audio[0, 0] = 1.0
        assert count(audio, 2) == [32.0]  # the content changed: read again
    assert calls == [2, 2, 2, 3, 2, 2]


def test_the_dropout_rule_reads_the_same_within_a_diagnosis() -> None:
    audio = music_excerpt(2.0, RATE)
    audio[:, 40000:44410] = 0.0  # a 0.1 s dropout
    alone = dropouts.find_all(audio, RATE)
    with scans.shared():
        assert dropouts.find_all(audio, RATE) == dropouts.find_all(audio, RATE) == alone
    assert [(a, b) for a, b, _ in alone[0]] == [(40000, 44410)]


def test_diagnose_reads_the_dropout_rule_once_and_keeps_no_answer(monkeypatch) -> None:
    asked, computed = [], []
    rule, key = dropouts.find_all.__wrapped__, scans._audio_key

    @functools.wraps(rule)  # its signature: the memo binds the arguments to it
    def counted(audio: np.ndarray, *args: object) -> tuple:  # the rule, counted
        computed.append(audio.dtype.str)
        return rule(audio, *args)

    def keyed(audio: np.ndarray) -> tuple:  # each reader's ask
        asked.append(audio.dtype.str)
        return key(audio)

    monkeypatch.setattr(dropouts, "find_all", scans.once(counted))
    monkeypatch.setattr(scans, "_audio_key", keyed)
    audio = music_excerpt(3.0, RATE).astype(np.float32)
    audio[:, 40000:44410] = 0.0  # a 0.1 s dropout: the band limit and the dropouts read it
    found = diagnose(audio, RATE)
    assert asked.count("<f4") >= 2 and computed.count("<f4") == 1  # the float32 input: once
    assert scans._ANSWERS.get() is None  # nothing kept for the next diagnosis
    readers = asked.count("<f4")
    with monkeypatch.context() as patched:
        patched.setattr(scans, "shared", nullcontext)  # every reader reads it again: the same
        assert diagnose(audio, RATE) == found and computed.count("<f4") == 1 + readers
    reports = []

    def stop_at_the_third(progress: object) -> None:
        reports.append(progress)
        if len(reports) == 3:  # after the band limit, which read the rule
            raise InterruptedError

    with pytest.raises(InterruptedError):
        diagnose(audio, RATE, callback=stop_at_the_third)
    assert scans._ANSWERS.get() is None  # nor after one stopped midway


def test_the_band_limit_spectra_in_chunks_sum_to_scipys_whole() -> None:
    segment, hop = 4096, 2048
    audio = music_excerpt(2 * CHUNK_SEGMENTS * hop / RATE + 0.5, RATE).astype(np.float64)
    leave_out = np.zeros(audio.shape[-1], bool)
    leave_out[[3 * hop + 5, (CHUNK_SEGMENTS + 7) * hop + 100]] = True  # in 2 segments each
    freqs, kept_sum, kept, every_sum, count = _segment_power_sums(
        audio, RATE, segment, hop, leave_out
    )
    whole_freqs, _, whole = spectrogram(audio, fs=RATE, window="hann", nperseg=segment,
                                        noverlap=segment - hop, axis=-1)  # fmt: skip
    assert count == whole.shape[-1] > 2 * CHUNK_SEGMENTS  # three chunks, the last one short
    clear = np.ones(count, bool)
    clear[[2, 3, CHUNK_SEGMENTS + 6, CHUNK_SEGMENTS + 7]] = False
    assert np.array_equal(freqs, whole_freqs) and kept == count - 4
    assert np.allclose(kept_sum, whole[..., clear].sum(axis=-1), rtol=1e-12, atol=0)
    assert np.allclose(every_sum, whole.sum(axis=-1), rtol=1e-12, atol=0)
    short = audio[:, :3001]  # shorter than a segment: one, the whole clip (long_term_level's)
    _, one, kept, _, count = _segment_power_sums(short, RATE, 3001, 1501, None)
    alone = spectrogram(short, fs=RATE, window="hann", nperseg=3001, noverlap=1500, axis=-1)[2]
    assert kept == count == 1 and np.array_equal(one, alone[..., 0])


def _traced_peak(work: Callable[[], object]) -> int:
    """The most bytes ``work`` held at once beyond what was there before (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_long_term_spectrum_holds_nothing_that_grows_with_the_file() -> None:
    # Welch's mean needs only a running sum: beyond the audio, one chunk's work, the same at any
    # length. Every segment's power (float64: as many values as samples) and a float64 copy of
    # the audio had each added twice the float32 audio's bytes (850 MB of a 10-minute stereo
    # file's diagnosis); a minute more here adds 21 MB of audio, and the peak may not follow it
    peaks = []
    for seconds in (30, 90):
        audio = np.random.default_rng(1).standard_normal((2, seconds * RATE)).astype(np.float32)
        leave_out = np.zeros(audio.shape[-1], bool)
        leave_out[RATE : 2 * RATE] = True
        peaks.append(_traced_peak(functools.partial(long_term_level, audio, RATE, leave_out)))
    added_audio = 2 * 60 * RATE * np.dtype(np.float32).itemsize
    assert peaks[1] - peaks[0] < added_audio / 8


def _welch_level(parts: list[np.ndarray], segment: int) -> np.ndarray:
    """long_term_level's rule written with scipy.signal.welch: the mean power of the segments of
    ``parts`` (each starting at a segment), channels averaged, in dB, smoothed over 5 bins."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import welch

    counts = [(part.shape[-1] - segment) // (segment - segment // 2) + 1 for part in parts]
    powers = [
        welch(part.astype(np.float64), fs=RATE, nperseg=segment)[1] * n
        for part, n in zip(parts, counts, strict=True)
    ]
    power = sum(powers) / sum(counts)
    return uniform_filter1d(10 * np.log10(power.reshape(-1, power.shape[-1]).mean(axis=0)), 5)


@pytest.mark.parametrize("case", ["stereo", "mono", "short", "all left out", "a gap left out"])
def test_the_long_term_level_is_welchs_mean_of_the_segments_kept(case: str) -> None:
    audio = music_excerpt(3.0, RATE)
    segment, hop = 4096, 2048
    leave_out, parts = None, [audio]
    if case == "mono":
        audio = parts[0] = audio[0]
    elif case == "short":  # one segment, the whole clip, shorter than 4096
        audio = parts[0] = audio[:, :3001]
        segment = 3001
    elif case == "all left out":  # none kept: every segment, not none
        leave_out = np.ones(audio.shape[-1], bool)
    elif case == "a gap left out":  # segments 0-18 end by sample 20 * hop, 30 on start after it
        leave_out = np.zeros(audio.shape[-1], bool)
        leave_out[20 * hop : 30 * hop] = True
        parts = [audio[:, : 20 * hop], audio[:, 30 * hop :]]
    freqs, level = long_term_level(audio, RATE, leave_out)
    assert freqs.size == segment // 2 + 1
    assert np.allclose(level, _welch_level(parts, segment), rtol=0, atol=1e-6)  # dB


def test_the_click_statistic_holds_five_signals_at_most() -> None:
    # the forward error, the smoothed product, and local_scale's magnitude, padded copy and scale
    # spread back (212 MB each for a 10-minute channel); the backward error, the product and
    # the median's own copy of the blocks had made it seven
    x = music_excerpt(10.0, RATE)[0].astype(np.float64)
    models = block_models(x, RATE, 32, lambda _: None)
    assert _traced_peak(lambda: click_statistic(x, RATE, 32, models)) < 6 * x.nbytes


def test_a_hidden_sample_within_order_of_a_block_edge_refits_both_blocks() -> None:
    x = music_excerpt(1.0, RATE)[1].astype(np.float64)
    block, order = round(BLOCK_SECONDS * RATE), 32
    hidden = np.zeros(x.size, bool)
    hidden[3 * block + 10 : 3 * block + 20] = True  # in the fourth block, in the third's reach
    plain = block_models(x, RATE, order, lambda _: None)
    refitted = block_models(x, RATE, order, lambda _: None, hidden, plain)
    whole = block_models(x, RATE, order, lambda _: None, hidden)
    assert all(np.array_equal(a, b) for a, b in zip(refitted, whole, strict=True))
    changed = [i for i, (a, b) in enumerate(zip(refitted, plain, strict=True))
               if not np.array_equal(a, b)]  # fmt: skip
    assert changed == [2, 3]


def test_declicks_confirmation_refits_only_the_blocks_holding_hidden_samples() -> None:
    x = music_excerpt(1.0, RATE)[0].astype(np.float64)
    block, order = round(BLOCK_SECONDS * RATE), 32
    hidden = np.zeros(x.size, bool)
    hidden[2 * block + 100 : 2 * block + 140] = True  # in the third block
    plain = block_models(x, RATE, order, lambda _: None)
    refitted = block_models(x, RATE, order, lambda _: None, hidden, plain)
    whole = block_models(x, RATE, order, lambda _: None, hidden)
    assert len(plain) == len(refitted) == len(whole) == 10
    assert all(np.array_equal(a, b) for a, b in zip(refitted, whole, strict=True))
    changed = [i for i, (a, b) in enumerate(zip(refitted, plain, strict=True))
               if not np.array_equal(a, b)]  # fmt: skip
    assert changed == [2]
    same = click_statistic(x, RATE, order, refitted) == click_statistic(x, RATE, order, whole)
    assert same.all()
