"""``diffmusic batch`` end to end: a folder through a chain with restoration steps (dsp)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import FILES
from pedalboard import BrickwallLimiter, Gain, HighpassFilter, Pedalboard

from bridge.batch import Restorer
from bridge.batch.manifest import MANIFEST_NAME
from bridge.cli import main
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.damage import Declick, Dereverb, Gap

LSB = {"int16": 2.0**-15, "int24": 2.0**-23, "float32": 0.0}


def one_by_one(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The test chain's steps applied one after the other in memory, built here by hand."""
    y = Pedalboard([HighpassFilter(cutoff_frequency_hz=30), BrickwallLimiter(ceiling_db=-12)])(
        audio, sample_rate
    )
    y = Restorer(task="inpaint", gaps=["0.50:0.52", "1.30:1.33"], backend="dsp")(y, sample_rate)
    y = Restorer(
        task="super-resolution", cutoff=4000, backend="dsp", chunk_seconds=1.0, overlap_seconds=0.2
    )(y, sample_rate)
    return Pedalboard([Gain(gain_db=-1.5)])(y, sample_rate)


@pytest.fixture(scope="module")
def folder_with_corrupt(music_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    shutil.copytree(music_folder, folder, dirs_exist_ok=True)
    (folder / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage, not audio" * 3)
    return folder


@pytest.fixture(scope="module")
def batch_run(folder_with_corrupt: Path, chain_file: Path, tmp_path_factory) -> dict:
    outdir = tmp_path_factory.mktemp("out1")
    report = outdir / "report.json"
    code = main(["batch", str(folder_with_corrupt), "-o", str(outdir), "--chain", str(chain_file),
                 "--report", str(report), "--quiet"])  # fmt: skip
    return {"code": code, "outdir": outdir, "report": json.loads(report.read_text())}


def test_outputs_match_the_steps_one_by_one(
    batch_run: dict, folder_with_corrupt: Path, tmp_path: Path
) -> None:
    for name, (rate, channels, seconds, _) in FILES.items():
        source, info_in = read_audio(folder_with_corrupt / name)
        output, info_out = read_audio(batch_run["outdir"] / name)
        # source rate, channels, length and sample format are kept
        assert (info_out.sample_rate, info_out.channels) == (rate, channels)
        assert info_out.frames == info_in.frames == round(seconds * rate)
        assert info_out.file_dtype == info_in.file_dtype
        expected = one_by_one(source, rate)
        lsb = LSB[info_in.file_dtype]
        # aligned sample for sample: equal once quantised the same way, up to one step where
        # float rounding differs by a hair at a rounding boundary...
        quantised, _ = read_audio(write_audio(tmp_path / name, expected, rate,
                                              source_dtype=info_in.file_dtype))  # fmt: skip
        assert np.abs(output - quantised).max() <= lsb * 1.0001, name
        assert np.mean(output != quantised) < 0.01, name
        # ...which a one-sample shift would break by far
        assert np.abs(expected[:, 1:] - expected[:, :-1]).max() > 100 * max(lsb, 1e-6)
        # and the restoration steps really ran: the gap differs from the plugins alone
        plugins_only = Gain(gain_db=-1.5)(
            BrickwallLimiter(ceiling_db=-12)(HighpassFilter(30)(source, rate), rate), rate
        )
        gap = slice(round(0.50 * rate), round(0.52 * rate))
        assert np.abs(output[:, gap] - plugins_only[:, gap]).max() > 1e-3


def test_corrupt_file_is_reported_and_the_rest_finish(batch_run: dict) -> None:
    assert batch_run["code"] == 3  # documented: some files failed
    files = {Path(f["input"]).name: f for f in batch_run["report"]["files"]}
    assert files["broken.wav"]["status"] == "failed"
    assert "broken.wav" in files["broken.wav"]["error"]
    assert "\n" not in files["broken.wav"]["error"]
    assert not (batch_run["outdir"] / "broken.wav").exists()
    for name, (_, _, seconds, _) in FILES.items():
        entry = files[Path(name).name]
        assert entry["status"] == "done" and entry["error"] is None
        assert entry["duration"] == pytest.approx(seconds, abs=1e-4)
        assert entry["seconds"] > 0
        # the chain's inpaint step fills its two gaps; it has no declick step
        assert (entry["gaps_filled"], entry["clicks_repaired"]) == (2, None)
    assert batch_run["report"]["summary"] == {
        "files": 4, "done": 3, "skipped": 0, "failed": 1,
        "seconds": batch_run["report"]["summary"]["seconds"], "gaps_filled": 6,
    }  # fmt: skip
    assert not list(batch_run["outdir"].rglob("*.partial*"))


@pytest.mark.slow  # worker processes / a subprocess: several seconds
def test_two_jobs_give_the_same_outputs(
    batch_run: dict, folder_with_corrupt: Path, chain_file: Path, tmp_path: Path, capsys
) -> None:
    report = tmp_path / "report.csv"
    code = main(
        ["batch", str(folder_with_corrupt / "*.*"), str(folder_with_corrupt / "sub"),
         "-o", str(tmp_path), "--chain", str(chain_file), "--jobs", "2", "--report", str(report),
         "--quiet"]
    )  # fmt: skip
    assert code == 3
    out = capsys.readouterr().out
    assert "failed: " in out and "broken.wav" in out
    rows = report.read_text().splitlines()
    assert rows[0].startswith("input,output,status,duration,seconds")
    assert sorted(row.split(",")[2] for row in rows[1:]) == ["done", "done", "done", "failed"]
    for name in FILES:
        # globs and a second folder: outputs are named by file, not by folder
        one, _ = read_audio(batch_run["outdir"] / name)
        two, _ = read_audio(tmp_path / Path(name).name)
        np.testing.assert_array_equal(one, two)


def test_format_flac_keeps_rate_and_depth(music_folder: Path, chain_file: Path, tmp_path) -> None:
    code = main(["batch", str(music_folder / "a.wav"), "-o", str(tmp_path), "--chain",
                 str(chain_file), "--format", "flac", "--quiet"])  # fmt: skip
    assert code == 0
    output, info = read_audio(tmp_path / "a.flac")
    assert (info.sample_rate, info.channels, info.file_dtype) == (44100, 2, "int16")
    assert json.loads((tmp_path / "batch-report.json").read_text())["summary"]["done"] == 1


def test_bad_chain_touches_nothing(music_folder: Path, tmp_path: Path, capsys) -> None:
    chain = tmp_path / "bad.toml"
    chain.write_text('[[steps]]\nplugin = "Compresor"\n')
    outdir = tmp_path / "out"
    code = main(["batch", str(music_folder), "-o", str(outdir), "--chain", str(chain), "--quiet"])
    assert code == 1
    assert "unknown plugin 'Compresor'" in capsys.readouterr().err
    assert not outdir.exists()


def test_manifest_lists_finished_outputs(batch_run: dict) -> None:
    manifest = json.loads((batch_run["outdir"] / MANIFEST_NAME).read_text())
    assert sorted(Path(k).name for k in manifest["files"]) == ["a.wav", "b.flac", "c.wav"]


def test_files_a_restoration_step_left_unchanged_are_noted(
    music_folder: Path, tmp_path: Path, capsys
) -> None:
    """Blind dereverb leaves these 1.5-2.5 s files as they are (too short to measure, or an
    uncertain estimate): each is done, its output its input, and the report and the summary
    say which step left it unchanged, with the engine's own reason."""
    chain = tmp_path / "chain.toml"
    chain.write_text('[[steps]]\nrestore = "dereverb"\nrir = "blind"\n')
    outdir, report = tmp_path / "out", tmp_path / "report.json"
    code = main(["batch", str(music_folder), "-o", str(outdir), "--chain", str(chain),
                 "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    files = json.loads(report.read_text())["files"]
    assert [f["status"] for f in files] == ["done"] * len(FILES)
    printed = capsys.readouterr().out
    for f in files:
        source, info = read_audio(f["input"])
        why = restore(source, info.sample_rate, Dereverb()).unchanged
        assert why is not None
        assert f["note"] == f"dereverb: 1 of 1 piece(s) unchanged ({why})"
        assert f"note: {f['input']}: {f['note']}\n" in printed
        np.testing.assert_array_equal(read_audio(f["output"])[0], source)


def test_an_integer_output_the_chain_drives_over_full_scale_is_noted(tmp_path: Path, capsys):
    """A 16-bit file through +12 dB: rendered, clipped as 16 bits must, and said (it was
    silent). The count is the samples over full scale: 0.8 x 10^(12/20) = 3.18 > 1."""
    source = tmp_path / "in" / "tone.wav"
    source.parent.mkdir()
    t = np.arange(8000) / 8000
    tone = (0.8 * np.sin(2 * np.pi * 100 * t))[None].astype(np.float32)
    write_audio(source, tone, 8000, source_dtype="int16")
    chain = tmp_path / "chain.toml"
    chain.write_text('[[steps]]\nplugin = "Gain"\ngain_db = 12.0\n')
    report = tmp_path / "report.json"
    code = main(["batch", str(source.parent), "-o", str(tmp_path / "out"), "--chain", str(chain),
                 "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    (entry,) = json.loads(report.read_text())["files"]
    quantized = read_audio(source)[0]  # what the 16-bit file holds
    over = int(np.count_nonzero(np.abs(quantized * 10 ** (12 / 20)) > 1.0))
    assert entry["note"].startswith(f"{over} sample(s) over full scale (peak +10.1 dBFS) clipped")
    assert entry["note"].endswith(
        "in the 16-bit output (a declip step's rebuilt peaks, a gain): "
        "write float (--bit-depth 32f), or end the chain with a BrickwallLimiter"
    )
    assert f"note: {entry['input']}: {entry['note']}" in capsys.readouterr().out
    written = read_audio(entry["output"])[0]  # clipped as 16 bits hold it, at full scale
    assert np.count_nonzero(np.abs(written) >= 32767 / 32768) >= over


def test_an_unwritable_report_is_refused_before_any_file_is_rendered(
    music_folder: Path, chain_file: Path, tmp_path: Path, capsys
) -> None:
    """The report was written last: every output rendered, then 'cannot write', exit 1
    ("nothing started") and no report."""
    (tmp_path / "file").write_text("a file where the report's folder should be")
    report, outdir = tmp_path / "file" / "report.json", tmp_path / "out"
    code = main(["batch", str(music_folder / "a.wav"), "-o", str(outdir), "--chain",
                 str(chain_file), "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 1 and not outdir.exists()
    assert capsys.readouterr().err == (f"error: cannot write {report}: a file stands where a "
                                       "folder of its path should be; choose another output "
                                       "path\n")  # fmt: skip


def test_the_report_counts_the_clicks_repaired_and_the_gaps_filled_per_file(tmp_path, capsys):
    """Chords (the AR model's error under them is their -60 dB noise floor) with 1 ms bursts
    put in at known times, and in one file a 10 ms dropout, through gaps="auto" then a declick
    in 1 s chunks sharing 0.25 s (0-1, 0.75-1.75, 1.5-3 s): each file's counts are those put
    in, the bursts in the two overlaps (0.8, 0.9, 1.6, 1.7 s), which both chunks there repair,
    counted once; a resumed run's report says them again for the files it skips."""
    rate = 22050
    put_in = {"a.wav": ([0.3, 0.8, 0.9, 1.6, 2.35, 2.7], [1.2]), "b.wav": ([0.5, 1.7, 2.3], [])}
    folder, outdir = tmp_path / "in", tmp_path / "out"
    t = np.arange(3 * rate) / rate
    for seed, (name, (clicks, dropouts)) in enumerate(put_in.items()):
        rng = np.random.default_rng(seed)
        chord = sum(0.2 / k * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
                    for k, f in enumerate((220.0, 277.2, 329.6, 440.0, 554.4), 1))  # fmt: skip
        chords = (chord + 1e-3 * rng.standard_normal((2, t.size))).astype(np.float32)
        bursts = Declick(clicks=tuple(Gap(c, c + 0.001) for c in clicks), burst_db=0.0)
        damaged = degrade(chords, rate, bursts)
        for start in dropouts:
            damaged[:, round(start * rate) : round((start + 0.01) * rate)] = 0.0
        write_audio(folder / name, damaged, rate, source_dtype="float32")
    chain = tmp_path / "chain.toml"
    chain.write_text(
        '[[steps]]\nrestore = "inpaint"\ngaps = "auto"\n\n'
        '[[steps]]\nrestore = "declick"\nchunk_seconds = 1.0\noverlap_seconds = 0.25\n'
    )
    argv = ["batch", str(folder), "-o", str(outdir), "--chain", str(chain), "--quiet"]
    reports, said = [], []
    for again in ([], ["--resume"]):
        assert main([*argv, *again]) == 0
        reports.append(json.loads((outdir / "batch-report.json").read_text()))
        said.append(capsys.readouterr().out.splitlines()[-1])
    for report, status in zip(reports, ("done", "skipped"), strict=True):
        for entry in report["files"]:
            clicks, dropouts = put_in[Path(entry["input"]).name]
            assert entry["status"] == status
            assert (entry["clicks_repaired"], entry["gaps_filled"]) == (len(clicks), len(dropouts))
        # the outputs hold them all, whether made by this run or skipped by it
        assert (report["summary"]["clicks_repaired"], report["summary"]["gaps_filled"]) == (9, 1)
    assert said[0].startswith("2 done, 0 skipped, 0 failed; clicks repaired 9; gaps filled 1; ")
    assert said[1].startswith("0 done, 2 skipped, 0 failed; clicks repaired 9; gaps filled 1; ")
