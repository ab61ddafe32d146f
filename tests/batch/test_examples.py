"""The example chains in presets/chains/ on real renders (dereverb's WPE is too slow here:
its chain is only validated, in test_chain.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from batch_helpers import write

from bridge.batch import load_chain, render_file
from diffmusic_engine.api import degrade
from diffmusic_engine.audio import read_audio
from diffmusic_engine.damage import SuperResolution
from diffmusic_engine.rates import resample
from diffmusic_engine.synth import music_excerpt

CHAINS = Path(__file__).resolve().parents[2] / "presets" / "chains"


def test_archival_chain_finds_and_fills_dropouts(tmp_path: Path) -> None:
    rate = 22050
    clean = music_excerpt(2.0, rate, 2, seed=11)
    damaged = clean.copy()
    dropouts = [(11025, 11150), (30000, 30045)]  # 5.7 ms and 2.04 ms of digital silence
    for first, stop in dropouts:
        damaged[:, first:stop] = 0.0
    damaged[:, 20000:20040] = 0.0  # 1.8 ms: shorter than the rule's 2 ms, left as it is
    source = write(tmp_path / "tape.wav", damaged, rate)  # float32
    chain = load_chain(CHAINS / "archival-dropout-repair.toml")
    render_file(source, tmp_path / "out.wav", chain)
    out, info = read_audio(tmp_path / "out.wav")
    assert (info.sample_rate, info.frames) == (rate, damaged.shape[1])
    np.testing.assert_allclose(out, chain.process(damaged, rate), atol=1e-6)  # aligned
    # the repair step alone: bit-identical outside the dropouts and their 2 ms crossfades,
    # and inside them far closer to the clean music than the silence was
    fixed = chain.segments()[0](damaged, rate)
    touched = np.zeros(damaged.shape[1], bool)
    for first, stop in dropouts:
        touched[first - 45 : stop + 45] = True
    np.testing.assert_array_equal(fixed[:, ~touched], damaged[:, ~touched])  # the 1.8 ms run too
    assert not fixed[:, 20000:20040].any()
    for first, stop in dropouts:
        error = np.abs(fixed[:, first:stop] - clean[:, first:stop]).mean()
        assert error < 0.5 * np.abs(clean[:, first:stop]).mean()


def test_bandwidth_extension_resamples_and_rebuilds_the_top(tmp_path: Path) -> None:
    rate = 16000
    low = degrade(music_excerpt(1.5, rate, 1, seed=12), rate, SuperResolution(cutoff=4000.0))
    source = write(tmp_path / "old.wav", low, rate, 16)
    chain = load_chain(CHAINS / "bandwidth-extension.json")
    render_file(source, tmp_path / "new.wav", chain)
    out, info = read_audio(tmp_path / "new.wav")
    assert (info.sample_rate, info.file_dtype) == (44100, "int16")
    assert info.frames == round(low.shape[1] * 44100 / rate)
    # as the chain's steps in memory (soxr resampling, then the steps), to 16-bit rounding of
    # dithered samples (TPDF: one step either way, then half a step)
    expected = chain.process(read_audio(source)[0], rate)
    assert np.abs(out - expected).max() <= 1.5 * 2.0**-15 * 1.0001
    # content above the old cutoff was rebuilt
    plain = resample(read_audio(source)[0], rate, 44100)
    spectrum = np.abs(np.fft.rfft(out[0])) ** 2
    spectrum_plain = np.abs(np.fft.rfft(plain[0])) ** 2
    band = np.fft.rfftfreq(out.shape[1], 1 / 44100) > 4500
    assert spectrum[band].sum() > 10 * spectrum_plain[band].sum()


def test_vinyl_chain_removes_clicks(tmp_path: Path) -> None:
    from diffmusic_engine.damage import Declick

    rate = 22050
    t = np.arange(2 * rate) / rate
    clean = np.stack([0.4 * np.sin(2 * np.pi * 196 * t), 0.4 * np.sin(2 * np.pi * 247 * t)])
    clean = clean.astype(np.float32)
    damaged = degrade(clean, rate, Declick(rate=4.0, seed=3))
    chain = load_chain(CHAINS / "vinyl-declick.toml")
    restored = chain.segments()[0](damaged, rate)  # declip: nothing clipped, passes unchanged
    np.testing.assert_array_equal(restored, damaged)
    fixed = chain.segments()[1](damaged, rate)  # declick
    assert np.sum((fixed - clean) ** 2) < 0.01 * np.sum((damaged - clean) ** 2)
    assert np.mean(fixed == damaged) > 0.98


def test_room_chain_lets_the_hall_ring_out_past_the_take(tmp_path: Path) -> None:
    rate = 22050
    take = music_excerpt(1.5, rate, 2, seed=13)
    source = write(tmp_path / "take.wav", take, rate)  # float32
    chain = load_chain(CHAINS / "dry-take-room.toml")
    rendered = render_file(source, tmp_path / "out.wav", chain)
    out, info = read_audio(tmp_path / "out.wav")
    expected = chain.process(take, rate)  # in memory: silence appended, cut where "auto" ends
    assert info.frames == rendered.frames == expected.shape[1] > take.shape[1] + rate  # > 1 s
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(out[:, -1000:]).max() < 2.0**-14  # it ends below two 16-bit steps
