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
    assert "dropouts   none" in out and "bandwidth" in out and "reverb" in out
    assert "gates      none" in out  # a WAV's even runs of digital silence are read too
    assert main(["diagnose", str(tmp_path / "missing.wav"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert json.loads(captured.out.splitlines()[-1])["event"] == "error"


def test_clicks_and_clipping_are_found_and_become_a_preset(tmp_path):
    """Bursts in a tone are listed as clicks; a clipped tone gives its level, fraction and a
    preset that restore accepts; a clean tone shows neither."""
    from diffmusic_engine.api import degrade
    from diffmusic_engine.damage import Declick, damage_from_dict
    from diffmusic_engine.diagnose import clicks, clipping
    from diffmusic_engine.diagnose.preset import preset_from_findings, write_preset
    from diffmusic_engine.operators.declick import burst_spans
    from diffmusic_engine.preset_files import load_preset

    rate = 44100
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 330 * t) + 1e-3 * np.random.default_rng(0).standard_normal(rate)
    tone = tone[None].astype(np.float32)
    damage = Declick(rate=3.0, seed=4)
    found = clicks.detect(degrade(tone, rate, damage), rate)
    truth = burst_spans(damage, rate, rate)
    assert len(found) == len(truth) == 3
    for click, (first, stop) in zip(found, truth, strict=True):
        assert click["start"] <= first / rate + 0.003 and click["end"] >= stop / rate - 0.003
    assert clicks.detect(tone, rate) == [] and clipping.detect(tone, rate) is None
    clipped = np.clip(tone, -0.3, 0.3)
    finding = clipping.detect(clipped, rate)
    assert finding["level"] == pytest.approx(0.3, rel=1e-6)
    assert finding["fraction"] == pytest.approx(np.mean(np.abs(tone) >= 0.3), abs=1e-4)
    (region,) = finding["regions"]  # every half period clips: one region, first to last peak
    assert region["start"] < 1 / 330 and region["end"] > 1 - 1 / 330
    preset = preset_from_findings({"clipping": finding, "clicks": found, "reverb": None})
    path = tmp_path / "found.toml"
    write_preset(preset, path)
    loaded = load_preset(path)
    # the level as the samples hold it (float32's 0.3): rounded to 6 decimals, a preset's
    # restore had differed from --level auto's in 5.5 % of a real mix's samples
    level = float(np.float32(0.3))
    assert damage_from_dict(loaded.damage) == damage_from_dict({"task": "declip", "level": level})
    from diffmusic_engine.api import restore

    by_preset = restore(clipped, rate, damage_from_dict(loaded.damage)).audio
    by_auto = restore(clipped, rate, damage_from_dict({"task": "declip", "level": "auto"})).audio
    np.testing.assert_array_equal(by_preset, by_auto)
    assert preset["_also_found"] == ["declick"]
    clicks_only = preset_from_findings({"clicks": found, "clipping": None})
    assert damage_from_dict(clicks_only) == Declick()  # no spans: the repair looks again


def test_dropouts_come_before_clicks_in_the_preset():
    """Clicks listed beside a dropout may be its smeared edges (after MP3, on one channel):
    a declick preset, ahead of the dropouts, had left 1 s dropouts unfilled in a user trial
    and re-estimated a trumpet's attacks. A clipped master is still declipped first."""
    from diffmusic_engine.diagnose.preset import preset_from_findings

    dropouts = [{"start": 1.0, "end": 2.0, "channels": [1, 2]}]
    clicks = [{"start": 0.9990, "end": 0.9995}]
    preset = preset_from_findings({"dropouts": dropouts, "clicks": clicks})
    assert (preset["task"], preset["_also_found"]) == ("inpaint", ["declick"])
    clipped = {"level": 0.9, "fraction": 0.1, "regions": []}
    preset = preset_from_findings({"dropouts": dropouts, "clicks": clicks, "clipping": clipped})
    assert (preset["task"], preset["_also_found"]) == ("declip", ["inpaint", "declick"])


def test_clipping_as_slight_as_a_few_clicks_tops_comes_after_the_clicks():
    """20 clicks of 0.6 in a mix peaking at 0.9, clipped: two clicks' tops (2e-5 of the time)
    made a declip preset, which left every click and lowered the file 0.4 dB."""
    from diffmusic_engine.diagnose.preset import SLIGHT_CLIPPING, preset_from_findings

    clicks = [{"start": 1.0, "end": 1.001}]
    for fraction, first, then in (
        (2e-5, "declick", "declip"),
        (SLIGHT_CLIPPING, "declip", "declick"),
    ):  # a region away from the click: the fraction decides
        clipping = {"level": 1.0, "fraction": fraction, "regions": [{"start": 2.0, "end": 2.0}]}
        preset = preset_from_findings({"clipping": clipping, "clicks": clicks})
        assert (preset["task"], preset["_also_found"]) == (first, [then])
    alone = {"level": 1.0, "fraction": 2e-5, "regions": []}  # no clicks: declip it is
    assert preset_from_findings({"clipping": alone, "clicks": []})["task"] == "declip"


def test_clipping_on_the_clicks_alone_comes_after_the_clicks(rng):
    """Hot clicks clipped at full scale in a mix that never reaches it (a user trial: 7.4e-4 of
    the time) made a declip preset, which rebuilt their tops and wrote the file 10.7 dB lower.
    Every clipped region begins and ends on a click found: declick first. Built: a tone at 0.5
    with 12 bursts pushed past full scale; the same tone clipped at 0.45 with them is a clipped
    master, declipped first."""
    from diffmusic_engine.diagnose import clicks, clipping
    from diffmusic_engine.diagnose.preset import SLIGHT_CLIPPING, preset_from_findings

    rate = 16000
    t = np.arange(4 * rate) / rate
    tone = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 330 * t)])
    hot = tone.copy()
    for start in (0.3 + 0.3 * np.arange(12)) * rate:
        hot[:, int(start) : int(start) + 12] += 1.2 * rng.choice([-1.0, 1.0], (2, 12))
    for audio, first in ((hot, "declick"), (np.clip(hot, -0.45, 0.45), "declip")):
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
        findings = {"clipping": clipping.detect(audio, rate), "clicks": clicks.detect(audio, rate)}
        assert findings["clicks"] and findings["clipping"]["fraction"] > SLIGHT_CLIPPING
        assert preset_from_findings(findings)["task"] == first


def test_channels_clipped_apart_give_a_level_each_and_a_preset_with_them(tmp_path):
    """A tone clipped at 0.3 on the left and at 0.2 on the right: the diagnosis had given 0.3
    alone, so its preset left the right clipped; it gives each channel's level now, and the
    preset declips each at its own, as ``--level auto`` does."""
    from diffmusic_engine.clipping import SideLevels
    from diffmusic_engine.damage import Declip, damage_from_dict
    from diffmusic_engine.diagnose import clipping
    from diffmusic_engine.diagnose.preset import preset_from_findings, write_preset
    from diffmusic_engine.preset_files import load_preset

    rate = 44100
    tone = 0.5 * np.sin(2 * np.pi * 330 * np.arange(rate) / rate).astype(np.float32)
    clipped = np.stack([np.clip(tone, -0.3, 0.3), np.clip(tone, -0.2, 0.2)])
    finding = clipping.detect(clipped, rate)
    assert finding["level"] == pytest.approx(0.3, rel=1e-6)
    assert finding["channel_levels"] == pytest.approx([0.3, 0.2], rel=1e-6)
    assert finding["fraction"] == pytest.approx(np.mean(np.abs(tone) >= 0.2), abs=1e-4)
    path = tmp_path / "found.toml"
    write_preset(preset_from_findings({"clipping": finding}), path)
    assert damage_from_dict(load_preset(path).damage) == Declip(
        level=finding["level"], channel_levels=tuple(finding["channel_levels"])
    )
    assert "channel_levels" not in clipping.detect(clipped[:1], rate)  # one level: as before
    sides = np.stack([np.clip(tone, -0.2, 0.3), np.clip(tone, -0.2, 0.2)])  # left: +0.3 / -0.2
    finding = clipping.detect(sides, rate)
    assert finding["channel_levels"] == pytest.approx([0.3, 0.2], rel=1e-6)
    assert finding["negative_levels"] == pytest.approx([0.2, 0.2], rel=1e-6)
    write_preset(preset_from_findings({"clipping": finding}), path)
    assert damage_from_dict(load_preset(path).damage).levels == SideLevels(
        tuple(finding["channel_levels"]), tuple(finding["negative_levels"])
    )


def test_a_room_blind_dereverb_would_leave_alone_becomes_no_preset():
    """The preset proposes blind dereverb only where it would act (dsp.dereverb's rule):
    a clean recording's guess at confidence 0.00 once became a dereverb preset."""
    from diffmusic_engine.damage import Dereverb, damage_from_dict
    from diffmusic_engine.diagnose.preset import preset_from_findings
    from diffmusic_engine.dsp.dereverb import MIN_CONFIDENCE

    bands = {str(f): 1.5 for f in (125, 250, 500, 1000, 2000, 4000)}
    room = {"rt60_s": 1.5, "rt60_bands": bands, "drr_db": -3.0, "confidence": 0.8}
    assert damage_from_dict(preset_from_findings({"reverb": room})) == Dereverb()
    uncertain = {**room, "confidence": MIN_CONFIDENCE - 0.01}
    dry = {**room, "drr_db": 12.0}  # reverberation 0.27 dB of the energy: nothing to remove
    for finding in (uncertain, dry, None):
        assert preset_from_findings({"reverb": finding}) is None


def test_a_clean_recordings_own_reverberation_becomes_no_preset():
    """A shipped clean mix reads a room blind dereverb acted on (0.5 s, confidence 0.6):
    its preset was dereverb, which took a production's own reverberation away. A room read
    under PRODUCED_RT60_S is none; at it, it is proposed."""
    import soundfile as sf

    from diffmusic_engine.diagnose import reverb
    from diffmusic_engine.diagnose.preset import no_preset_reason, preset_from_findings
    from diffmusic_engine.dsp.dereverb import PRODUCED_RT60_S, reason_to_skip
    from diffmusic_engine.evaluation.corpus import REAL_DIR
    from diffmusic_engine.room import RoomEstimate

    mix = sum(sf.read(REAL_DIR / f"chaos_god_{s}.flac", dtype="float32")[0].T
              for s in ("backing", "guitar"))  # fmt: skip
    room = reverb.detect(mix, 44100)
    told = RoomEstimate.from_dict(room)
    assert reason_to_skip(told, 1.0, shortest=0) is None  # with min_rt60 0 it would act
    assert "a production's own" in reason_to_skip(told, amount=1.0)  # as it is, it leaves it
    assert 0.25 < room["rt60_s"] < PRODUCED_RT60_S
    assert preset_from_findings({"reverb": room}) is None
    said = no_preset_reason({"reverb": room})  # says why, and what removes it all the same
    assert f"a room of {room['rt60_s']:.2f} s" in said and "min_rt60 = 0" in said
    dry = {**room, "rt60_s": 0.12}  # one blind dereverb leaves alone: no advice to run it
    assert no_preset_reason({"reverb": dry}) == "no damage found"
    gate = {"start": 2.0, "end": 2.5, "dips": [{"start": 2.0, "end": 2.01}]}  # a gate's offs
    assert "1 train(s) of dips" in no_preset_reason({"reverb": dry, "gates": [gate]})
    longer = {**room, "rt60_s": PRODUCED_RT60_S}
    assert preset_from_findings({"reverb": longer})["task"] == "dereverb"


def test_a_band_limit_super_resolution_leaves_alone_is_not_the_preset(tmp_path, capsys):
    """A reverberant recording read a 17.2 kHz limit: the preset was super-resolution, which
    leaves the input unchanged from HIGHEST_CUTOFF_HZ, and dereverb was only "also found". The
    room is the preset now, and the CLI warns that it may be the recording's own hall."""
    from diffmusic_engine.diagnose.preset import caution, preset_from_findings
    from diffmusic_engine.dsp.super_resolution import HIGHEST_CUTOFF_HZ

    bands = {str(f): 1.5 for f in (125, 250, 500, 1000, 2000, 4000)}
    room = {"rt60_s": 1.5, "rt60_bands": bands, "drr_db": -3.0, "confidence": 0.8}
    found = {"bandwidth": {"cutoff_hz": HIGHEST_CUTOFF_HZ + 200}, "reverb": room}
    preset = preset_from_findings(found)
    assert preset["task"] == "dereverb" and "_also_found" not in preset
    assert "a room read as 1.50 s" in caution(preset, found)
    lower = {**found, "bandwidth": {"cutoff_hz": HIGHEST_CUTOFF_HZ - 200}}
    assert preset_from_findings(lower)["task"] == "super-resolution"
    assert caution(preset_from_findings(lower), lower) is None


def test_the_preset_reads_the_room_blind_dereverb_is_told():
    """Where the free decays read the room shorter (0.60 s, drums and bass) than the regression
    (1.20 s), blind dereverb is told the regression's reading: the preset says what dereverb
    would do, so it proposes dereverb (1.20 s >= PRODUCED_RT60_S) and names that room; without
    the regression's reading, 0.60 s is a production's own reverberation: no preset."""
    from diffmusic_engine.diagnose.preset import caution, no_preset_reason, preset_from_findings

    room = {"rt60_s": 0.6, "rt60_bands": {"500": 0.6, "1000": 0.6}, "drr_db": -3.0,
            "confidence": 0.8, "regression_rt60_s": 1.2,
            "regression_rt60_bands": {"500": 1.2, "1000": 1.2}}  # fmt: skip
    found = {"reverb": room}
    preset = preset_from_findings(found)
    assert preset["task"] == "dereverb"
    assert "a room read as 1.20 s" in caution(preset, found)
    shorter = {"reverb": {k: v for k, v in room.items() if not k.startswith("regression")}}
    assert preset_from_findings(shorter) is None
    assert "a room of 0.60 s" in no_preset_reason(shorter)


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


def test_a_declick_preset_holds_no_field_only_degrade_reads():
    """A user trial: diagnose's declick preset carried rate, burst_db and seed, which shape only
    what degrade injects."""
    from diffmusic_engine.damage import Declick, damage_from_dict
    from diffmusic_engine.diagnose.preset import preset_from_findings

    preset = preset_from_findings({"clicks": [{"start": 1.0, "end": 1.001}]})
    assert preset == {"task": "declick", "mode": "click", "clicks": []}
    assert damage_from_dict(preset) == Declick()


def test_a_preset_of_one_task_names_the_damage_it_leaves(tmp_path, capsys):
    """A preset holds one task: a clipped tone with a dropout makes a declip preset, which
    leaves the dropout, and a note says so and how to go on (a user trial: a preset from a
    file with dropouts, clicks and clipping declipped it alone, and nothing said so)."""
    t = np.arange(2 * SR) / SR
    clipped = np.clip(np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 550 * t), -0.6, 0.6)
    alone, both = tmp_path / "clipped.wav", tmp_path / "clipped_dropout.wav"
    sf.write(alone, clipped, SR, subtype="FLOAT")
    clipped[SR : SR + SR // 20] = 0.0  # 50 ms of digital silence
    sf.write(both, clipped, SR, subtype="FLOAT")
    for path, told in ((both, True), (alone, False)):
        preset = tmp_path / f"{path.stem}.toml"
        assert main(["diagnose", str(path), "--preset-out", str(preset), "--quiet"]) == 0
        err = capsys.readouterr().err
        assert 'task = "declip"' in preset.read_text()
        note = f"note: {preset}: the preset repairs declip alone (a preset holds one task); "
        assert (note + "also found: inpaint: run diagnose") in err if told else note not in err


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
