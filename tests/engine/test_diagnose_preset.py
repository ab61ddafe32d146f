"""diagnose --preset-out: which damage the preset repairs first, and what it says of the rest."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main

SR = 22050


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


def test_clipping_longer_than_the_clicks_on_its_ends_is_a_masters():
    """A chord clipped 77 % of the time in one region, from a click found at the file's start to
    one at its end (0.7 ms of clicks in 0.25 s): its regions begin and end on clicks, but a
    click's clipped top lies within it, and clipping that lasts longer than the clicks (0.77 x
    0.25 s against 0.0013 s) is a master's: declip first. Clipped 0.4 % of the time (1 ms), it
    may be their tops: declick first."""
    from diffmusic_engine.diagnose.preset import preset_from_findings

    clicks = [{"start": 0.0, "end": 0.0006}, {"start": 0.2492, "end": 0.2499}]
    for fraction, first in ((0.77, "declip"), (0.004, "declick")):
        clipping = {"level": 0.4, "fraction": fraction, "regions": [{"start": 0.0, "end": 0.25}]}
        assert preset_from_findings({"clipping": clipping, "clicks": clicks})["task"] == first


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
