"""diagnose: the detector registry, each detector on built audio, and ``diffmusic diagnose``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main
from diffmusic_engine.diagnose import DETECTORS, bandwidth, diagnose, dropouts
from diffmusic_engine.errors import Cancelled, InputError
from diffmusic_engine.progress import Progress
from diffmusic_engine.synth import music_excerpt

SR = 22050


@pytest.fixture(scope="module")
def music():
    return music_excerpt(3.0, SR, channels=2, seed=1)


def test_dropouts_are_interior_digital_silence_runs(music):
    audio = music.copy()
    audio[:, : int(0.1 * SR)] = 0.0  # a lead-in: not a dropout
    audio[:, int(1.2 * SR) : int(1.3 * SR)] = 0.0
    audio[0, int(2.0 * SR) : int(2.05 * SR)] = 0.0  # one channel only: a dropout of its own
    audio[:, int(2.5 * SR) : int(2.5 * SR) + 10] = 0.0  # 0.45 ms: a zero crossing, too short
    assert dropouts.detect(audio, SR) == [
        {"start": 1.2, "end": 1.3, "channels": [1, 2]},
        {"start": 2.0, "end": 2.05, "channels": [1]},
    ]
    assert dropouts.detect(music, SR) == []


def test_a_channel_silent_throughout_is_dead_where_another_plays(music, tmp_path, capsys):
    """A stereo take whose right channel is digital silence from first sample to last had
    read "none" on every line (the dropout rule reads runs inside the music, cut_ends silence
    beside music on its own channel). A sample just over the rule's SILENCE is no dead
    channel; neither is a mono file nor one silent on every channel."""
    from diffmusic_engine.diagnose import dead_channels

    lost = music.copy()
    lost[1] = 0.0
    assert dead_channels.detect(lost, SR) == [2] and dead_channels.detect(music, SR) == []
    lost[1, SR] = 2 * dropouts.SILENCE  # one sample over digital silence: it holds something
    assert dead_channels.detect(lost, SR) == []
    lost[1, SR] = dropouts.SILENCE  # at the rule's level: still silence
    assert dead_channels.detect(lost, SR) == [2]
    assert dead_channels.detect(lost[:1], SR) == [] and dead_channels.detect(0 * lost, SR) == []
    path = tmp_path / "lost.wav"
    sf.write(path, lost.T, SR, subtype="PCM_16")
    assert main(["diagnose", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dead_channels"] == [2]
    preset = tmp_path / "lost.toml"
    assert main(["diagnose", str(path), "--preset-out", str(preset)]) == 1
    captured = capsys.readouterr()
    assert "dead_channels channel 2: digital silence throughout (lost in" in captured.out
    assert "channel(s) 2 digital silence throughout" in captured.err and not preset.exists()


@pytest.mark.parametrize("cutoff", [4000, 8000])
def test_bandwidth_finds_a_low_pass(cutoff):
    noise = np.random.default_rng(0).standard_normal((1, 2 * SR))
    spectrum = np.fft.rfft(noise)
    spectrum[:, np.fft.rfftfreq(noise.shape[-1], 1 / SR) >= cutoff] = 0  # an MP3-like brick wall
    found = bandwidth.detect(np.fft.irfft(spectrum, noise.shape[-1]), SR)["cutoff_hz"]
    assert abs(found - cutoff) < 0.05 * cutoff
    assert bandwidth.detect(noise, SR) == {"cutoff_hz": None}


def test_a_gradual_roll_off_is_no_band_limit():
    """Noise falling 24 dB an octave above 1.5 kHz: 40 dB down (cutoff_of's edge) at
    1.5 kHz x 2^(40/24) = 4.76 kHz, well inside the band, but falling only 24/6 = 4 dB a sixth of
    an octave there: no wall. The same noise cut by a brick wall at 4 kHz (34 dB down the slope)
    is a band limit, and at 8 kHz, where dark music's resampling leaves it (58 dB down)."""
    from diffmusic_engine.band_limit import cutoff_of, long_term_level

    noise = np.random.default_rng(1).standard_normal((1, 4 * SR))
    freqs = np.fft.rfftfreq(noise.shape[-1], 1 / SR)
    slope_db = -24 * np.log2(np.maximum(freqs, 1500) / 1500)
    spectrum = np.fft.rfft(noise) * 10 ** (slope_db / 20)
    dark = np.fft.irfft(spectrum, noise.shape[-1])
    edge = cutoff_of(*long_term_level(dark, SR), SR)
    assert edge == pytest.approx(1500 * 2 ** (40 / 24), rel=0.02)
    assert bandwidth.wall_db(*long_term_level(dark, SR), edge) == pytest.approx(4, abs=1.5)
    assert bandwidth.detect(dark, SR) == {"cutoff_hz": None}
    for wall in (8000, 4000):  # 58 dB down the slope, past cutoff_of's 40 (it had read none)
        spectrum[:, freqs >= wall] = 0
        found = bandwidth.detect(np.fft.irfft(spectrum, noise.shape[-1]), SR)["cutoff_hz"]
        assert abs(found - wall) < 0.05 * wall


def test_a_guitar_stems_own_roll_off_is_no_band_limit():
    """A shipped clean guitar stem fades out above ~8.4 kHz (its cabinet): cutoff_of finds
    that edge, the diagnosis no band limit; low-passed at 6 kHz, it finds the wall."""
    from diffmusic_engine.api import degrade
    from diffmusic_engine.band_limit import cutoff_of, long_term_level
    from diffmusic_engine.damage import SuperResolution
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    audio, rate = sf.read(REAL_DIR / "chaos_god_guitar.flac", dtype="float32")
    audio = np.ascontiguousarray(audio.T)
    assert cutoff_of(*long_term_level(audio, rate), rate) < 10000
    assert bandwidth.detect(audio, rate) == {"cutoff_hz": None}
    lowpassed = degrade(audio, rate, SuperResolution(cutoff=6000))
    assert abs(bandwidth.detect(lowpassed, rate)["cutoff_hz"] - 6000) < 0.02 * 6000


def test_a_clip_shorter_than_the_spectrum_window_is_diagnosed_without_warnings():
    """100 samples (under Welch's 4096): no band limit, nothing else, and nothing on stderr."""
    short = np.random.default_rng(0).standard_normal((2, 100)).astype(np.float32) * 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = diagnose(short, SR)
    assert found["bandwidth"] == {"cutoff_hz": None} and found["reverb"] is None


def test_diagnose_runs_every_detector_with_progress(music):
    reports: list[Progress] = []
    findings = diagnose(music, SR, callback=reports.append)
    assert list(findings) == list(DETECTORS)
    assert reports[-1].fraction == 1.0 and len(reports) == len(DETECTORS) + 1
    json.dumps(findings)  # JSON-ready


def test_diagnose_cancels_between_detectors(music):
    def stop(progress: Progress) -> None:
        if progress.step == 1:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        diagnose(music, SR, callback=stop)


def test_diagnose_rejects_bad_audio():
    with pytest.raises(InputError, match="non-finite"):
        diagnose(np.full((1, 100), np.nan, np.float32), SR)


def test_cli_json_is_one_object(music, tmp_path, capsys):
    path = tmp_path / "take.wav"
    audio = music.copy()
    audio[:, int(1.0 * SR) : int(1.1 * SR)] = 0.0
    sf.write(path, audio.T, SR, subtype="FLOAT")
    assert main(["diagnose", str(path), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    found = json.loads(lines[0])
    assert found["event"] == "diagnosis"
    assert found["dropouts"] == [{"start": 1.0, "end": 1.1, "channels": [1, 2]}]
    assert set(found) == {"event", *DETECTORS}


def test_cli_stops_once_its_stop_file_exists(music, tmp_path, capsys):
    """How a REAPER action cancels the diagnosis it started (no signals in its Lua)."""
    path, stop = tmp_path / "take.wav", tmp_path / "diagnose.stop"
    sf.write(path, music.T, SR, subtype="FLOAT")
    argv = ["diagnose", str(path), "--json", "--stop-file", str(stop)]
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["event"] == "diagnosis"
    stop.write_text("cancelled\n")
    assert main(argv) == 130
    assert capsys.readouterr().out.splitlines() == ['{"event": "error", "message": "cancelled"}']


def test_cli_table_and_errors(music, tmp_path, capsys):
    path = tmp_path / "take.wav"
    sf.write(path, music.T, SR, subtype="PCM_16")
    assert main(["diagnose", str(path)]) == 0
    out = capsys.readouterr().out
    width = max(map(len, DETECTORS)) + 1  # the table's first column: the longest name's
    assert "dropouts".ljust(width) + "none" in out and "bandwidth" in out and "reverb" in out
    assert "gates".ljust(width) + "none" in out  # a WAV's even runs of digital silence too
    assert "dead_channels none" in out
    assert main(["diagnose", str(tmp_path / "missing.wav"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert json.loads(captured.out.splitlines()[-1])["event"] == "error"


def test_diagnose_reports_no_clicks_in_clean_drums_that_declick_would_mark():
    """1.5 s of a shipped clean backing stem (real drums): declick at its default sensitivity
    marks two drum attacks as clicks, the diagnosis (a stricter threshold) reports none."""
    from diffmusic_engine.diagnose import clicks
    from diffmusic_engine.dsp.declick import detect_clicks
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    path = REAL_DIR / "war_of_freedom_backing.flac"
    rate = sf.info(path).samplerate
    audio, _ = sf.read(path, start=int(3.5 * rate), stop=int(5.0 * rate), dtype="float32")
    audio = np.ascontiguousarray(audio.T)
    assert len(detect_clicks(audio, rate)) == 2
    assert clicks.detect(audio, rate) == []


def test_diagnose_reports_no_clicks_in_clean_jazz_that_the_detector_marks():
    """2.3 s of a clean jazz recording (tests/data, CC BY 3.0): declick's detector at the
    diagnosis' sensitivity marks two attacks, and the diagnosis listed them as clicks; neither
    stands out from the music's own prediction error, so the repair would leave both, and the
    diagnosis now reports none. Bursts at the music's level put in it are still listed: at
    least three quarters (the eight real recordings of other kinds: 0.925 or more each, over 3
    seeds; docs/results.md "Clicks in other kinds of music")."""
    from diffmusic_engine.api import degrade
    from diffmusic_engine.damage import Declick
    from diffmusic_engine.diagnose import clicks
    from diffmusic_engine.dsp.declick import detect_clicks
    from diffmusic_engine.operators.declick import burst_spans

    data = Path(__file__).parents[1] / "data"
    audio, rate = sf.read(data / "vibe_ace_excerpt.flac", dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(audio.T)
    marked = detect_clicks(audio, rate, options={"sensitivity": clicks.DIAGNOSE_SENSITIVITY})
    assert len(marked) == 2
    assert clicks.detect(audio, rate) == []
    damage = Declick(burst_db=0.0, seed=0)
    truth = burst_spans(damage, audio.shape[1], rate)
    found = clicks.detect(degrade(audio, rate, damage), rate)
    covered = [
        any(c["start"] <= first / rate + 0.003 and c["end"] >= stop / rate - 0.003 for c in found)
        for first, stop in truth
    ]
    assert len(truth) >= 8 and sum(covered) >= 0.75 * len(truth)


def test_a_dropouts_edges_are_no_clicks_and_its_preset_fills_it():
    """A shipped mix with 0.3 s cut to digital silence at 3 s: the cut's abrupt start predicts
    badly, and the diagnosis listed it as a click, so the preset (clicks before dropouts in
    repair order) proposed declick for a file whose one damage is the dropout. Spans by a
    dropout are its edges now: no click, and the preset fills the dropout."""
    from diffmusic_engine.diagnose.preset import preset_from_findings
    from diffmusic_engine.evaluation.corpus import real_stems

    rate = 44100
    stems = real_stems("internal_degeneration", 6.0)
    mix = stems["Backing"] + stems["Guitar"]
    mix[:, 3 * rate : int(3.3 * rate)] = 0.0
    findings = diagnose(mix, rate)
    assert [(d["start"], d["end"]) for d in findings["dropouts"]] == [(3.0, 3.3)]
    assert findings["clicks"] == []
    assert preset_from_findings(findings)["task"] == "inpaint"


def test_dropouts_do_not_hide_a_band_limit():
    """A shipped mix low-passed at 8 kHz with three 0.3 s dropouts read no band limit: their
    abrupt edges are broadband, and the long-term spectrum took them in. Segments touching
    them are left out now."""
    import soundfile as sf

    from diffmusic_engine.api import degrade
    from diffmusic_engine.damage import SuperResolution
    from diffmusic_engine.diagnose.bandwidth import band_limit
    from diffmusic_engine.evaluation.corpus import REAL_DIR

    rate = 44100
    mix = sum(sf.read(REAL_DIR / f"feelings_{s}.flac", dtype="float32")[0].T
              for s in ("backing", "guitar"))  # fmt: skip
    low_passed = degrade(mix, rate, SuperResolution(cutoff=8000.0))
    for start in (1.5, 3.0, 4.5):
        low_passed[:, round(start * rate) : round((start + 0.3) * rate)] = 0.0
    assert 7500 < band_limit(low_passed, rate) < 8000


def test_a_band_limit_too_dark_to_extend_is_said_and_no_preset_proposes_it(tmp_path, capsys):
    """Dark noise walled at 8 kHz, 58 dB down its slope: the dsp extension declines it (too
    little below the wall), so the finding says so and --preset-out proposes nothing."""
    noise = np.random.default_rng(1).standard_normal((1, 4 * SR))
    freqs = np.fft.rfftfreq(noise.shape[-1], 1 / SR)
    spectrum = np.fft.rfft(noise) * 10 ** (-24 * np.log2(np.maximum(freqs, 1500) / 1500) / 20)
    spectrum[:, freqs >= 8000] = 0
    dark = np.fft.irfft(spectrum, noise.shape[-1])
    found = bandwidth.detect(0.3 * dark / np.abs(dark).max(), SR)
    assert found["too_dark"] is True and abs(found["cutoff_hz"] - 8000) < 400
    path = tmp_path / "dark.wav"
    sf.write(path, (0.3 * dark / np.abs(dark).max()).T, SR, subtype="FLOAT")
    assert main(["diagnose", str(path), "--preset-out", str(tmp_path / "p.toml")]) != 0
    out, err = capsys.readouterr()
    assert "(too dark below it for the dsp extension)" in out
    assert "the band limit at" in err and "has too little below it to extend" in err


def _gated_chord(bursts: tuple[int, ...] = ()) -> np.ndarray:
    """3 s of a chord at 44.1 kHz gated 50 dB down for half of every 62.5 ms from 1 s to 2 s (a
    1/32 stutter at 120 bpm), with 40 samples of noise 20 dB under the chord before each on (a
    codec's pre-echo), and a 30-sample burst (0.3 RMS) at each of ``bursts``."""
    rate, rng = 44100, np.random.default_rng(0)
    time = np.arange(3 * rate) / rate
    tones = 0.1 * sum(np.sin(2 * np.pi * f * time + f) for f in (220.0, 277.18, 329.63, 440.0))
    audio, step = np.tile(tones, (2, 1)), round(0.0625 * rate)
    for first in range(rate, 2 * rate, step):
        audio[:, first + step // 2 : first + step] *= 10 ** (-50 / 20)
        audio[:, first + step - 40 : first + step] += 0.03 * rng.standard_normal((2, 40))
    for first in bursts:
        audio[:, first : first + 30] += 0.3 * rng.standard_normal((2, 30))
    return audio.astype(np.float32)


def test_a_gates_edges_in_lossy_input_are_no_clicks():
    """The gated chord read as lossy coded: the coded scan leaves the offs alone as a gate, and
    its edges, each a 50 dB step the detector marks (21 finds, a declick preset), are no clicks:
    none listed, no declick proposed. Bursts in an on (one ending 2 ms before an off, which a
    3 ms window each side had read as an edge), before and after the gate are listed; as uncoded
    (no gate read) the edges are listed as before."""
    from diffmusic_engine.diagnose.preset import preset_from_findings

    rate, step = 44100, round(0.0625 * 44100)
    near_off = rate + 2 * step + step // 2 - 88 - 30  # its last sample 88 (2 ms) before an off
    bursts = (rate // 2, rate + step // 4, near_off, 5 * rate // 2)
    findings = diagnose(_gated_chord(), rate, lossy=True)
    assert len(findings["gates"]) == 1 and findings["clicks"] == []
    assert (preset_from_findings(findings) or {}).get("task") != "declick"
    listed = diagnose(_gated_chord(bursts), rate, lossy=True)["clicks"]
    middles = [burst + 15 for burst in bursts]  # each listed over the middle of its burst
    assert [[c["start"] * rate <= m < c["end"] * rate for m in middles] for c in listed] == [
        [index == row for index in range(len(middles))] for row in range(len(middles))
    ]
    assert len(diagnose(_gated_chord(), rate)["clicks"]) >= 20


def test_declick_told_the_input_was_lossy_leaves_a_gates_edges_alone():
    """``restore --task declick`` on a lossy file (restore's ``lossy``): the gated chord's
    edges, which diagnose leaves out as a gate read through the codec, are left alone by the
    repair too (it had smoothed them: not told the input was lossy, declick read the gates of
    digital silence alone); the bursts in and around the gate are repaired as before."""
    from diffmusic_engine.api import restore
    from diffmusic_engine.backends import REPAIRED_CLICKS
    from diffmusic_engine.damage import Declick

    rate, step = 44100, round(0.0625 * 44100)
    bursts = (rate // 2, rate + step // 4, rate + 5 * step + step // 4, 5 * rate // 2)
    audio = _gated_chord(bursts)
    told = restore(audio, rate, Declick(), lossy=True)
    spans = [(round(a * rate), round(z * rate)) for a, z in told.details[REPAIRED_CLICKS]]
    assert [[a <= b + 15 < z for b in bursts] for a, z in spans] == [
        [index == row for index in range(len(bursts))] for row in range(len(bursts))
    ]
    changed = np.flatnonzero(np.any(told.tracks[0] != audio, axis=0))
    assert all(any(a <= i < z for a, z in spans) for i in changed)
    untold = restore(audio, rate, Declick())  # uncoded: no gate read, its edges repaired
    assert len(untold.details[REPAIRED_CLICKS]) >= 20
