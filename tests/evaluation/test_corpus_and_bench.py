"""The corpus rebuilds identically from wheels alone (no system synthesiser); bench-quality writes
its table, JSON and pictures and reports real and synthetic material apart."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bridge.cli import main
from diffmusic_engine.audio import read_audio
from diffmusic_engine.damage import Gap
from diffmusic_engine.evaluation import baselines
from diffmusic_engine.evaluation.corpus import CorpusSpec, build_corpus
from diffmusic_engine.evaluation.rooms import t30

TINY = CorpusSpec(real_songs=("feelings",), chorales=("bach/bwv66.6",), synth_clips=1, duration=1.5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("corpus")
    manifest = build_corpus(outdir, TINY)
    assert "fluidsynth" not in sys.modules  # rendered by a wheel: no system synthesiser library
    return outdir, manifest


def test_corpus_is_reproducible_and_stems_sum_to_the_mix(corpus, tmp_path, cli_command):
    outdir, manifest = corpus
    build = ["corpus", "build", str(tmp_path), "--chorales", "1", "--duration", "1.5", "--quiet"]
    build += ["--real-songs", "feelings"]
    subprocess.run([*cli_command, *build], check=True)  # another process: the same bytes
    again = json.loads((tmp_path / "manifest.json").read_text())
    assert [c["sha256"] for c in again["clips"]] == [c["sha256"] for c in manifest["clips"]]
    assert [r["sha256"] for r in again["rooms"]] == [r["sha256"] for r in manifest["rooms"]]
    for clip in manifest["clips"]:
        mix, info = read_audio(outdir / clip["mix"])
        stems = [read_audio(outdir / path)[0] for path in clip["stems"].values()]
        assert info.sample_rate == 44100 and mix.shape == (2, int(1.5 * 44100))
        assert len(stems) == {"real": 2, "synthetic": 4}[clip["material"]]
        np.testing.assert_allclose(np.sum(stems, axis=0), mix, atol=1e-6)
        assert all(np.max(np.abs(s)) > 0.01 for s in stems)  # every voice actually sounds


def test_room_decays_at_its_rt60(corpus):
    """The rooms written decay at the RT60 the manifest gives them: T30 (ISO 3382) in the
    octave bands 500 Hz-2 kHz. The 1 s room is left out: cut at 1.2 x its RT60 by
    ``image_source_rir``, it measures about 0.75 s."""
    outdir, manifest = corpus
    for room in manifest["rooms"][:2]:  # 0.3 s and 0.6 s
        ir, info = read_audio(outdir / room["path"])
        for centre in (500, 1000, 2000):
            assert abs(t30(ir, info.sample_rate, centre) - room["rt60"]) < 0.15 * room["rt60"]


def test_bench_quality_writes_table_json_and_pictures(corpus, tmp_path, capsys):
    outdir, _ = corpus
    out = tmp_path / "quality"
    argv = ["bench-quality", str(outdir), "-o", str(out), "--tasks", "inpaint", "separate"]
    argv += ["--quiet"]
    assert main([*argv, "--limit", "2"]) == 0
    assert f"writing results.json, results.md and PNGs to {out}/" in capsys.readouterr().out
    result = json.loads((out / "results.json").read_text())
    # dsp declines separation: the mixture baseline is reported, the reason is kept
    assert "does not separate" in result["declined"]["separate"]
    assert not any(r["task"] == "separate" and r["method"] == "dsp" for r in result["rows"])
    methods = {(r["material"], r["severity"], r["method"]) for r in result["summary"]}
    for material in ("real", "synthetic"):  # reported apart
        assert {(material, "gap 10 ms", m) for m in ("damaged", "linear", "dsp")} <= methods
    assert (out / "best.png").stat().st_size > 1000 and (out / "worst.png").stat().st_size > 1000
    table = (out / "results.md").read_text()
    assert "| real | inpaint | gap 200 ms | dsp | 1 |" in table
    assert "| synthetic | inpaint | gap 200 ms | dsp | 1 |" in table
    for material in ("real", "synthetic"):
        gap_200 = {
            r["method"]: r
            for r in result["summary"]
            if r["severity"] == "gap 200 ms" and r["material"] == material
        }
        assert gap_200["damaged"]["lsd_region"] > gap_200["dsp"]["lsd_region"]


def test_bench_quality_refuses_a_bad_option_before_any_case(corpus, tmp_path, capsys):
    """Each case's error had been caught as the backend declining its task: a baseline-only
    report, for every task, of a run whose option was out of range."""
    outdir, _ = corpus
    argv = ["bench-quality", str(outdir), "-o", str(tmp_path / "q"), "--tasks", "inpaint"]
    assert main([*argv, "--quiet", "--backend", "diffusion", "--model", "m", "--sampler", "dsg",
                 "--eta", "0"]) != 0  # fmt: skip
    assert "the dsg sampler needs eta > 0" in capsys.readouterr().err
    assert not (tmp_path / "q" / "results.json").exists()


def test_room_steps_go_to_the_blind_dereverb_cases_alone():
    """Each blind dereverb case is paired with an informed one, which refuses room_steps: the
    up-front check had refused the whole run of an option only blind cases take."""
    from diffmusic_engine.damage import Dereverb
    from diffmusic_engine.evaluation.quality import case_options
    from diffmusic_engine.options import check_options

    options = {"model": "m", "room_steps": 5}
    assert case_options(Dereverb(), options) == options
    informed = Dereverb(rir=np.r_[1.0, np.zeros(99)].astype(np.float32))
    assert case_options(informed, options) == {"model": "m"}
    check_options("diffusion", informed, case_options(informed, options))  # no refusal


def test_linear_interpolation_is_exact_on_a_ramp():
    ramp = np.linspace(-1, 1, 1000, dtype=np.float64)[None]
    damaged = ramp.copy()
    damaged[:, 400:600] = 0
    filled = baselines.linear_interpolation(damaged, (Gap(0.4, 0.6),), 1000)
    np.testing.assert_allclose(filled, ramp, atol=1e-12)


def test_plain_resampling_keeps_the_band_below():
    t = np.arange(44100) / 44100
    low = (0.5 * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32)
    back = baselines.plain_resampling(low, 4000, 44100)
    assert back.shape == low.shape
    assert np.max(np.abs(back - low)[:, 2000:-2000]) < 1e-3
