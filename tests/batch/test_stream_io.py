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


def test_a_render_keeps_the_inputs_tags_and_says_what_it_cannot_keep(tmp_path: Path) -> None:
    """A batch had dropped a BWF's tags and chunks without a word (restore said them)."""
    import soundfile as sf

    from bridge.batch import chain_from_dict, render_file

    take = tmp_path / "reel.wav"
    with sf.SoundFile(take, "w", 16000, 1, subtype="PCM_24") as file:
        file.write(np.full(16000, 0.1, np.float32))
        file.title = "Take 3"
    riff = bytearray(take.read_bytes())
    riff += b"bext" + (602).to_bytes(4, "little") + bytes(602)
    riff[4:8] = (len(riff) - 8).to_bytes(4, "little")
    take.write_bytes(bytes(riff))
    chain = chain_from_dict({"steps": [{"plugin": "Gain", "gain_db": -1.0}]})
    rendered = render_file(take, tmp_path / "out.wav", chain)
    with sf.SoundFile(tmp_path / "out.wav") as written:
        assert written.title == "Take 3"
    assert rendered.notes[-1].startswith(
        f"{tmp_path / 'out.wav'}: its BWF bext chunk (time reference, description, originator) "
        "of reel.wav is not written (its text tags are)"
    )


def test_separated_tracks_are_dithered_each_with_noise_of_its_own(tmp_path: Path) -> None:
    """Every writer had seeded the same dither: stems summed back added it coherently."""
    from diffmusic_engine.audio import write_tracks

    same = (np.linspace(-0.3, 0.3, 4000) + 0.3 / 65536).astype(np.float32)[None]
    paths = write_tracks([tmp_path / "1.wav", tmp_path / "2.wav"], [same, same], 16000,
                         source_dtype="int16")  # fmt: skip
    one, two = (read_audio(path)[0] for path in paths)
    assert np.count_nonzero(one != two) > 1000


def test_a_silent_stretch_of_a_file_is_no_piece_left_unchanged(tmp_path: Path) -> None:
    """A file with 10 s of digital silence before its music had been reported as "2 of 6
    piece(s) unchanged (the audio is digital silence ...)", as if part were not restored."""
    from bridge.batch import chain_from_dict, render_file

    rate = 8000
    audio = np.zeros((1, 20 * rate), np.float32)
    audio[:, 10 * rate :] = np.random.default_rng(0).standard_normal(10 * rate) * 0.1
    source = write_audio(tmp_path / "in.wav", audio, rate)
    step = {"restore": "super-resolution", "cutoff": 2000.0, "chunk_seconds": 4.0,
            "overlap_seconds": 0.5}  # fmt: skip
    chain = chain_from_dict({"steps": [step]})
    rendered = render_file(source, tmp_path / "out.wav", chain)
    assert not [note for note in rendered.notes if "unchanged" in note]


def test_a_file_with_nan_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """The batch had named the NaN in a float file but not what to do about it."""
    import soundfile as sf

    from bridge.batch import chain_from_dict, render_file
    from diffmusic_engine.errors import InputError

    audio = np.full(8000, 0.1, np.float32)
    audio[100] = np.nan
    source = tmp_path / "in.wav"
    sf.write(source, audio, 8000, subtype="FLOAT")
    chain = chain_from_dict({"steps": [{"plugin": "Gain", "gain_db": -1.0}]})
    with pytest.raises(InputError) as refused:
        render_file(source, tmp_path / "out.wav", chain)
    assert str(refused.value) == (
        f"{source}: non-finite samples (NaN/Inf); "
        "render or export the file again, or as 16- or 24-bit integers"
    )
    assert not (tmp_path / "out.wav").exists()


def test_an_empty_file_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    """A file of a header alone: the batch and restore give the one error, with its remedy."""
    import soundfile as sf

    from bridge.batch import chain_from_dict, render_file
    from diffmusic_engine.errors import InputError

    source = tmp_path / "in.wav"
    sf.write(source, np.zeros(0, np.float32), 8000, subtype="PCM_16")
    chain = chain_from_dict({"steps": [{"plugin": "Gain", "gain_db": -1.0}]})
    with pytest.raises(InputError) as refused:
        render_file(source, tmp_path / "out.wav", chain)
    with pytest.raises(InputError) as read:
        read_audio(source)
    expected = f"{source}: empty audio (no samples); render or export the file again"
    assert str(refused.value) == str(read.value) == expected
    assert not (tmp_path / "out.wav").exists()
