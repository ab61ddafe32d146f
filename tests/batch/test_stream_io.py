"""The engine's streaming reader/writer (added for the batch) match read_audio/write_audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diffmusic_engine.audio import AudioReader, AudioWriter, read_audio, write_audio


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("a.wav", "int16"), ("b.wav", "int24"), ("c.wav", "float32"), ("d.flac", "int24")],
)
def test_blocks_round_trip_like_whole_files(rng, tmp_path: Path, name: str, dtype: str) -> None:
    audio = (rng.standard_normal((2, 10007)) * 0.3).astype(np.float32)
    whole = write_audio(tmp_path / f"whole-{name}", audio, 22050, source_dtype=dtype)
    with AudioWriter(tmp_path / name, 22050, 2, source_dtype=dtype) as out:
        for start in range(0, audio.shape[1], 3000):
            out.write(audio[:, start : start + 3000])
    expected, info = read_audio(whole)
    with AudioReader(tmp_path / name) as reader:
        assert reader.info == info
        blocks = [reader.read(4096) for _ in range(4)]
    assert [b.shape[1] for b in blocks] == [4096, 4096, 1815, 0]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), expected)
