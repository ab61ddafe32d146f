"""Atomic writes (diffmusic_engine.atomic): the old file or the new one, never half, no litter."""

import os

import pytest

from bridge.batch.stream import PARTIAL, partial_files
from diffmusic_engine.atomic import replacing, write_text_atomic
from diffmusic_engine.errors import OutputError


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with replacing(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_the_temporary_is_hidden_beside_the_target_with_its_suffix_and_marker(tmp_path):
    target = tmp_path / "new" / "song.flac"  # the folder is made
    with replacing(target, marker=PARTIAL) as temporary:
        assert temporary.parent == target.parent and not temporary.exists()
        assert temporary.name.startswith(".song.") and temporary.name.endswith(".partial.flac")
        temporary.write_bytes(b"audio")
        assert partial_files(target) == [temporary]  # what --resume would clear away
    assert target.read_bytes() == b"audio" and partial_files(target) == []


def test_text_gets_the_umask_or_0600_when_private(tmp_path):
    previous = os.umask(0o027)
    try:
        shared = write_text_atomic(tmp_path / "status.json", "{}")
        os.umask(0)
        secret = write_text_atomic(tmp_path / "connection.json", "{}", private=True)
    finally:
        os.umask(previous)
    assert shared.stat().st_mode & 0o777 == 0o640
    assert secret.stat().st_mode & 0o777 == 0o600
    assert shared.read_text() == "{}"


def test_durable_text_is_synced_before_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_text_atomic(tmp_path / "a.json", "1")
    assert synced == []
    target = write_text_atomic(tmp_path / "b.json", "2", durable=True)
    assert synced == [target.stat().st_ino]  # the file itself, the rename keeps its inode


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("a folder", "is a folder; give a file name to write"),
        ("under a file", "a file stands where a folder of its path should be; choose another"),
    ],
)
def test_a_target_that_cannot_be_written_is_named_before_the_write(tmp_path, where, message):
    """One OutputError (an OSError too) naming the target and the remedy; the block never
    runs, and nothing is left beside the target."""
    (tmp_path / "take.wav").mkdir()
    (tmp_path / "file.wav").write_text("a file")
    target = tmp_path / ("take.wav" if where == "a folder" else "file.wav/inner/out.wav")
    ran = []
    with pytest.raises(OutputError, match=message) as raised:
        with replacing(target):
            ran.append(True)
    assert isinstance(raised.value, OSError) and str(target) in str(raised.value)
    assert ran == [] and sorted(os.listdir(tmp_path)) == ["file.wav", "take.wav"]
    assert os.listdir(tmp_path / "take.wav") == []


def test_an_os_error_in_the_block_comes_out_as_an_output_error(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(OutputError, match=r"cannot write .*out.wav: No space left on device"):
        with replacing(target):
            raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == []


def test_tracks_are_written_all_or_none(tmp_path):
    """A second source that cannot be written (three channels in an MP3) leaves neither file:
    a full disk had left the first of two separated sources written, the second missing."""
    import numpy as np

    from diffmusic_engine.audio import write_tracks

    first, second = tmp_path / "source1.wav", tmp_path / "source2.mp3"
    first.write_bytes(b"the previous render")
    tracks = [np.zeros((2, 4410), np.float32), np.zeros((3, 4410), np.float32)]
    with pytest.raises(OutputError, match="source2.mp3: .mp3 cannot hold 3 channel"):
        write_tracks([first, second], tracks, 44100)
    assert first.read_bytes() == b"the previous render" and not second.exists()
    assert sorted(os.listdir(tmp_path)) == ["source1.wav"]  # no temporary left


def test_a_full_disk_is_named_with_its_remedy(tmp_path, monkeypatch):
    """libsndfile says only "System error." when the disk fills (a traceback had escaped)."""
    import shutil

    import numpy as np
    import soundfile as sf

    from diffmusic_engine.atomic import FULL_DISK_BYTES
    from diffmusic_engine.audio import write_audio

    def full(self, data):
        raise sf.LibsndfileError(2, "System error.")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=FULL_DISK_BYTES - 1))
    target = tmp_path / "out.wav"
    with pytest.raises(OutputError) as error:
        write_audio(target, np.zeros((1, 100), np.float32), 44100)
    assert str(error.value) == (f"cannot write {target}: No space left on device; free some "
                                "space there or choose another output path")  # fmt: skip
    assert os.listdir(tmp_path) == []


def test_a_target_s_temporaries_are_its_own_not_a_longer_name_s(tmp_path):
    """take.wav's leftovers had included take.2.wav's temporary (a batch writing it)."""
    from diffmusic_engine.atomic import temporaries

    with replacing(tmp_path / "take.2.wav", marker=PARTIAL) as other:
        other.write_bytes(b"being written")
        with replacing(tmp_path / "take.wav", marker=PARTIAL) as mine:
            mine.write_bytes(b"mine")
            assert temporaries(tmp_path / "take.wav", PARTIAL) == [mine]
            assert temporaries(tmp_path / "take.2.wav", PARTIAL) == [other]
