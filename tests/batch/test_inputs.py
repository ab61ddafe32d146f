"""Which files a batch plans (bridge.batch.inputs): the output folder among the inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.batch.inputs import plan_items
from bridge.batch.report import REPORT_NAME
from bridge.cli import main
from diffmusic_engine.errors import InputError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two inputs, and an earlier batch's output folder inside the input folder."""
    inputs = tmp_path / "in"
    (inputs / "out").mkdir(parents=True)
    for name in ("a.wav", "b.flac", "out/a.wav"):
        (inputs / name).write_bytes(b"not read while planning")
    return inputs


def test_an_earlier_output_inside_the_input_folder_is_left_out(folder: Path) -> None:
    items = plan_items([folder], folder / "out")
    assert [(i.source.name, i.output.relative_to(folder)) for i in items] == [
        ("a.wav", Path("out/a.wav")), ("b.flac", Path("out/b.flac"))]  # fmt: skip


def test_another_batch_s_output_inside_the_input_folder_is_left_out(folder: Path) -> None:
    """A run into ``in/out2`` had rendered the first run's renders in ``in/out`` again; a
    subfolder with a batch report is a batch's output. Given as the input itself, it is read."""
    (folder / "out" / REPORT_NAME).write_text("{}")
    items = plan_items([folder], folder / "out2")
    assert [i.source.relative_to(folder) for i in items] == [Path("a.wav"), Path("b.flac")]
    items = plan_items([folder / "out"], folder.parent / "again")
    assert [i.source.relative_to(folder) for i in items] == [Path("out/a.wav")]


@pytest.mark.parametrize(
    ("entry", "outdir"),
    [(".", "."), (".", ".."), ("out", "out")],  # relative to the input folder
)
def test_an_output_folder_holding_an_input_folder_is_refused(folder, entry, outdir) -> None:
    with pytest.raises(InputError, match="holds this folder's files; choose an -o outside"):
        plan_items([folder / entry], folder / outdir)


def test_a_pattern_whose_files_all_sit_in_the_output_folder_is_refused(folder: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"every input \(2 file\(s\)\) is an earlier batch.s output \(inside the output",
    ):
        plan_items([str(folder / "*.*")], folder, "flac")


def test_a_file_named_inside_the_output_folder_is_planned(folder: Path) -> None:
    (item,) = plan_items([folder / "a.wav"], folder, "flac")  # written beside itself as FLAC
    assert item.output == folder / "a.flac"
    with pytest.raises(InputError, match="output would overwrite its input"):
        plan_items([folder / "a.wav"], folder)


def test_the_cli_says_so_in_one_line_and_writes_nothing(folder: Path, tmp_path, capsys) -> None:
    chain = tmp_path / "chain.toml"
    chain.write_text('[[steps]]\nplugin = "Gain"\ngain_db = -1.0\n')
    before = sorted(folder.rglob("*"))
    for outdir, message in ((folder, "holds this folder's files"), (folder / "a.wav", "is a file")):
        code = main(["batch", str(folder), "-o", str(outdir), "--chain", str(chain), "--quiet"])
        err = capsys.readouterr().err.splitlines()
        assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert sorted(folder.rglob("*")) == before


def test_a_folder_search_takes_every_container_the_engine_reads(tmp_path: Path) -> None:
    """A folder's .bwf, .rf64, .w64 and .caf had been left out without a word (restore read
    them, and the batch did when they were named); a lossy input is written as WAV."""
    for name in ("reel.bwf", "big.rf64", "a.w64", "b.caf", "UPPER.WAV", "c.mp3", "notes.txt"):
        (tmp_path / name).write_bytes(b"not read while planning")
    items = plan_items([tmp_path], tmp_path / "out")
    assert sorted(i.output.name for i in items) == [
        "UPPER.wav", "a.w64", "b.caf", "big.rf64", "c.wav", "reel.bwf"]  # fmt: skip
