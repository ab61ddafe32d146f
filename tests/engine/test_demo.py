"""``make demo`` on one shipped real song: its files, and the table's claims."""

from __future__ import annotations

import pytest

from diffmusic_engine import demo
from diffmusic_engine.audio import read_audio


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return folder, demo.run(folder, songs=("feelings",))


def test_the_demo_writes_each_version_and_the_spectrogram(table):
    folder, _ = table
    for name in ("clean", "damaged", "linear", "restored"):
        audio, info = read_audio(folder / f"{name}.wav")
        assert audio.shape == (2, int(demo.DURATION * info.sample_rate))
    assert (folder / "spectrogram.png").stat().st_size > 10_000


def test_short_gaps_are_read_by_snr_and_long_ones_by_log_mel(table):
    _, scores = table
    short = [gap for gap in scores if demo.interpolated(gap)]
    assert [round((g.end - g.start) * 1000) for g in short] == [10, 20]
    for gap in short:  # the zero-fill's in-gap SNR is 0 dB by definition (||x - 0|| = ||x||)
        assert scores[gap]["zero-fill"] == pytest.approx(0.0, abs=1e-9)


def test_the_dsp_restoration_beats_zero_fill_and_linear_on_every_gap(table):
    _, scores = table
    for gap, row in scores.items():
        if demo.interpolated(gap):
            assert row["dsp"] > max(row["zero-fill"], row["linear"]) + 1.0, (gap, row)
        else:  # a filled 40 / 500 ms gap: far nearer the clean excerpt than silence
            assert row["dsp"] < 0.6 * min(row["zero-fill"], row["linear"]), (gap, row)
