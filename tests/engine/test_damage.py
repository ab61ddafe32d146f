"""Damage descriptions: parsing, presets, validation against the audio."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import build_parser
from bridge.cli.common import damage_from_args
from diffmusic_engine.damage import (
    DAMAGE_TYPES,
    TASKS,
    Declick,
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
    damage_from_dict,
    damage_to_dict,
    gap_samples,
)
from diffmusic_engine.damage_check import check_damage
from diffmusic_engine.errors import DamageError
from diffmusic_engine.options import resolve_options
from diffmusic_engine.preset_files import load_preset

EXAMPLES = [
    Inpaint(gaps=(Gap(0.5, 0.52), Gap(1.0, 1.1)), crossfade=0.001),
    SuperResolution(cutoff=8000.0),
    SuperResolution(cutoff="auto"),
    PhaseRetrieval(n_fft=2048, hop=512),
    Separate(sources=3, weights=(0.5, 0.25, 0.25)),
    Dereverb(rir=Path("/tmp/room.wav")),
    Dereverb(rir=np.array([[1.0, 0.5, 0.25], [1.0, -0.5, 0.125]]), rir_rate=8000),
    Dereverb(),
]


@pytest.mark.parametrize("damage", EXAMPLES, ids=lambda d: d.task)
def test_dict_round_trip_through_json(damage):
    assert damage_from_dict(json.loads(json.dumps(damage_to_dict(damage)))) == damage


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "inpaint", "gaps": ["1.0:0.9"]}, "end must be after start"),
        ({"task": "inpaint", "gaps": ["-1:0.5"]}, "starts before 0"),
        ({"task": "inpaint", "gaps": ["1.0-2.0"]}, "expected START:END"),
        ({"task": "inpaint", "gaps": []}, "at least one gap"),
        ({"task": "inpaint", "gaps": ["1:2"], "crossfade": 0.05}, "crossfade"),
        ({"task": "super-resolution", "cutoff": -5}, "positive frequency"),
        ({"task": "phase-retrieval", "n_fft": 1000}, "power of two"),
        ({"task": "phase-retrieval", "n_fft": 1024, "hop": 1024}, "hop"),
        ({"task": "separate", "sources": 2, "weights": [0.7, 0.7]}, "sum to 1"),
        (
            {"task": "separate", "sources": 3, "weights": [0.5, 0.5]},
            "2 given for 3 sources; give one per",
        ),
        ({"task": "separate", "sources": 2, "weights": [1.5, -0.5]}, "> 0"),
        ({"task": "denoise"}, "task 'denoise'"),
        # a list had raised TypeError (unhashable), a traceback; a typo gets its nearest task
        ({"task": ["dereverb"]}, r"^task \['dereverb'\]: expected one of inpaint, super-res"),
        ({"task": "dereverbb"}, r"^task 'dereverbb' \(did you mean dereverb\?\): expected one of"),
        ({"task": "inpaint", "gaps": ["1:2"], "colour": "red"}, "unknown field"),
        (  # a given click longer than 50 ms came back as near-silence
            {"task": "declick", "clicks": ["1.0:1.3"]},
            r"300 ms, longer than a click \(at most 50 ms\); .* --task inpaint --gap 1:1.3",
        ),
    ],
)
def test_invalid_descriptions_name_the_problem(data, message):
    with pytest.raises(DamageError, match=message):
        damage_from_dict(data)


def test_a_mistyped_field_gets_its_nearest_name():
    """A preset's ``rirr`` had been "unknown field(s) rirr; known: ['rir', 'rir_rate']": no
    nearest name (options and batch chain keys had one) and the known ones as a Python list."""
    with pytest.raises(DamageError) as error:
        damage_from_dict({"task": "dereverb", "rirr": "blind", "colour": "red"})
    said = "dereverb: unknown field(s) colour, rirr (did you mean rir?); known: rir, rir_rate"
    assert str(error.value) == said


def test_a_presets_task_and_field_names_are_said_to_be_its(tmp_path):
    """A preset's mistyped field or task had named no file (its options' errors did)."""
    fields, task = tmp_path / "fields.toml", tmp_path / "task.toml"
    fields.write_text('task = "dereverb"\nrirr = "blind"\n')
    task.write_text('task = "dereverbb"\n')
    with pytest.raises(DamageError) as error:
        load_preset(fields)
    said = "dereverb: unknown field(s) rirr (did you mean rir?); known: rir, rir_rate"
    assert str(error.value) == f"{said} (in the preset {fields})"
    with pytest.raises(DamageError) as error:
        load_preset(task)
    assert str(error.value) == (
        f"task 'dereverbb' (did you mean dereverb?): expected one of {', '.join(TASKS)} "
        f"(in the preset {task})"
    )


def test_the_inputs_lossy_is_no_field_of_a_description():
    """declick's ``lossy`` is the input's (restore() sets it from the file or ``--lossy``): it
    is in no dict (a preset, a message, diagnose's preset) and one that gives it is refused with
    the flag that says it; it had been taken from a preset or a batch keyword as a field."""
    assert "lossy" not in damage_to_dict(Declick(lossy=True))
    with pytest.raises(DamageError, match=r"^declick: lossy is the input's.*--lossy"):
        damage_from_dict({"task": "declick", "lossy": True})


def test_impulse_response_as_samples():
    samples = np.array([1.0, 0.5, 0.25])
    damage = Dereverb(rir=samples)
    samples[0] = 0.0  # the description keeps its own copy
    assert damage.rir.dtype == np.float32 and damage.rir[0] == 1.0 and not damage.blind
    assert damage != Dereverb(rir=[1.0, 0.5, 0.25], rir_rate=8000) != Dereverb()
    assert damage_from_dict({"task": "dereverb", "rir": samples}).rir[0] == 0.0
    with pytest.raises(DamageError, match="finite samples"):
        Dereverb(rir=np.array([1.0, np.nan]))
    with pytest.raises(DamageError, match="rir_rate"):
        Dereverb(rir=Path("room.wav"), rir_rate=8000)


def test_equal_weights_by_default():
    assert Separate(sources=4).weights == (0.25, 0.25, 0.25, 0.25)


def test_checks_against_the_audio(tmp_path):
    with pytest.raises(DamageError) as info:
        check_damage(Inpaint(gaps=(Gap(1.0, 3.0),)), duration=2.0, sample_rate=44100)
    assert str(info.value) == (
        "gap 1:3: ends after the audio (2.000 s); give times within it, in seconds from the "
        "start of the file"
    )
    with pytest.raises(
        DamageError, match=r"click 1.99:2.01: ends after the audio \(2.000 s\); give"
    ):
        check_damage(Declick(clicks=(Gap(1.99, 2.01),)), duration=2.0, sample_rate=44100)
    with pytest.raises(DamageError, match="Nyquist"):
        check_damage(SuperResolution(cutoff=22050.0), duration=2.0, sample_rate=44100)
    with pytest.raises(DamageError, match="no such file"):
        check_damage(Dereverb(rir=tmp_path / "absent.wav"), duration=2.0, sample_rate=44100)
    check_damage(Inpaint(gaps=(Gap(1.0, 2.0),)), duration=2.0, sample_rate=44100)
    check_damage(SuperResolution(cutoff=22049.0), duration=2.0, sample_rate=44100)


@pytest.mark.parametrize("kind", ["gap", "click"])
def test_a_span_ends_after_the_audio_only_when_its_last_sample_does(kind):
    """A client rounding the audio's end to 6 decimals (REAPER's scripts: 54438 frames at
    44.1 kHz, 1.2344217... s, sent as 1.234422) was refused "ends after the audio" about half
    the time; half a sample over is the last sample, a whole one over is not."""
    rate, frames = 44100, 54438
    duration = frames / rate

    def damage(end):
        span = (Gap(end - 0.01, end),)
        return Inpaint(gaps=span) if kind == "gap" else Declick(clicks=span)

    check_damage(damage(float(f"{duration:.6f}")), duration, rate)
    check_damage(damage(duration + 0.49 / rate), duration, rate)
    with pytest.raises(DamageError, match="ends after the audio"):
        check_damage(damage(duration + 0.51 / rate), duration, rate)


def test_gaps_covering_the_whole_audio_are_refused():
    """Only the dropout sent (REAPER's context 0): nothing to fill it from; it came back as
    silence without a word. Touching gaps count as one stretch; overlapping ones are refused
    (the stretch given twice had been filled as one, and the second gap, starting inside the
    dropout, said to hold no dropout)."""
    rate = 1000
    whole = (Gap(0.0, 0.5), Gap(0.5, 1.0))
    with pytest.raises(DamageError, match="the gaps cover the whole audio"):
        check_damage(Inpaint(gaps=whole), duration=1.0, sample_rate=rate)
    check_damage(Inpaint(gaps=(Gap(0.0, 0.5), Gap(0.501, 1.0))), duration=1.0, sample_rate=rate)
    with pytest.raises(DamageError, match=r"^gaps 0:0.5 and 0.4:1 overlap: give them as one, 0:1$"):
        Inpaint(gaps=(Gap(0.4, 1.0), Gap(0.0, 0.5)))


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"task": "declip", "level": True}, "level True: expected a number"),
     ({"task": "inpaint", "gaps": ["1:2"], "crossfade": "x"}, "crossfade 'x': expected a number"),
     ({"task": "phase-retrieval", "n_fft": 1024.5}, "n_fft 1024.5: expected a whole number"),
     ({"task": "separate", "sources": 2, "weights": [True, 0.5]}, "weights True: expected")],
)  # fmt: skip
def test_number_fields_name_themselves_and_refuse_booleans(fields, message):
    """level = true had become 1.0; a conversion error had not named its field."""
    with pytest.raises(DamageError, match=f"^{re.escape(message)}"):
        damage_from_dict(fields)
    assert damage_from_dict({"task": "super-resolution", "cutoff": "8000"}).cutoff == 8000.0


def test_a_preset_for_another_task_contributes_nothing_not_even_options():
    """--task declick --preset phase-retrieval had failed on the preset's own option
    (iterations), one the user never gave."""
    args = build_parser().parse_args(
        ["restore", "in.wav", "-o", "out.wav", "--task", "declick", "--preset", "phase-retrieval"]
    )
    damage, options = damage_from_args(args)
    assert damage == Declick() and options == {}


def test_cli_spans_keep_every_digit():
    """``--gap`` was re-read through ``:g`` (6 significant digits): 0.5 ms off past 100 s."""
    args = build_parser().parse_args(
        ["restore", "in.wav", "-o", "out.wav", "--task", "inpaint", "--gap", "123.4567:123.4789"]
    )
    damage, _ = damage_from_args(args)
    assert damage.gaps == (Gap(123.4567, 123.4789),)


@pytest.mark.parametrize(
    "name", ["inpaint", "super-resolution", "phase-retrieval", "separate", "dereverb"]
)
def test_every_task_has_a_preset_that_loads(name):
    preset = load_preset(name)
    fields = dict(preset.damage)
    assert fields["task"] == name
    if name == "inpaint":
        fields["gaps"] = ["0.1:0.2"]
    assert damage_from_dict(fields).task == name
    assert preset.options["backend"] == "dsp"


def test_preset_options_per_backend(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'task = "phase-retrieval"\n[options]\nseed = 3\n[options.dsp]\niterations = 7\n'
        "[options.diffusion]\nsteps = 9\n"
    )
    options = load_preset(path).options
    assert resolve_options("dsp", options) == {"seed": 3, "iterations": 7}
    assert resolve_options("diffusion", options) == {"seed": 3, "steps": 9}


def test_preset_errors(tmp_path):
    with pytest.raises(DamageError, match="no such file or preset"):
        load_preset("no-such-preset")
    broken = tmp_path / "broken.toml"
    broken.write_text("task = ")
    with pytest.raises(DamageError, match="cannot parse as TOML"):
        load_preset(broken)
    audio = tmp_path / "take.wav"  # an audio file given as the preset: the remedy is said
    audio.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \xff\xfe")
    with pytest.raises(DamageError) as refused:
        load_preset(audio)
    assert str(refused.value).startswith(f"preset {audio}: cannot parse as JSON (")
    assert str(refused.value).endswith("; a preset file is TOML, named .toml, or JSON")


def test_a_preset_is_read_as_a_chain_is_whatever_the_case_of_its_suffix(tmp_path):
    """A preset named ``.TOML`` had been parsed as JSON ("cannot parse"), and a ``_doc`` in its
    options table had been taken for an option; a chain file reads both (one reader now)."""
    path = tmp_path / "P.TOML"
    path.write_text('task = "phase-retrieval"\n_doc = "x"\n[options]\n_doc = "y"\nseed = 3\n')
    preset = load_preset(path)
    assert preset.damage == {"task": "phase-retrieval"} and preset.options == {"seed": 3}


def test_relative_impulse_response_resolves_beside_the_preset(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"task": "dereverb", "rir": "room.wav"}))
    assert load_preset(tmp_path / "p.json").damage["rir"] == str(tmp_path / "room.wav")


@pytest.mark.parametrize(
    ("gaps", "said"),
    [
        ([[1]], "span [1]: expected [start, end] in seconds"),
        ([[1, "x"]], "span 'x': expected a number"),
        ([[True, 0.5]], "span True: expected a number"),  # had been read as 1.0
        (5, 'gaps 5: expected a list of [start, end] in seconds, or "START:END"'),
    ],
)
def test_a_malformed_gap_list_is_one_line_naming_the_span(gaps, said):
    """A protocol message or preset with a malformed span had got Python's own words ("not
    enough values to unpack (expected 2, got 1)")."""
    with pytest.raises(DamageError) as error:
        damage_from_dict({"task": "inpaint", "gaps": gaps})
    assert str(error.value) == said


def test_a_preset_may_give_one_gap_as_the_cli_writes_it():
    """``gaps = "1:2"`` had been read a character at a time ("gap '1': expected START:END")."""
    assert damage_from_dict({"task": "inpaint", "gaps": "1:2"}).gaps == (Gap(1.0, 2.0),)


def test_a_span_shorter_than_a_sample_is_the_sample_its_middle_lies_in():
    from diffmusic_engine.api import restore

    sr = 44100
    audio = (0.1 * np.random.default_rng(0).standard_normal((1, 2 * sr))).astype(np.float32)
    tiny = Gap(1.0, 1.000005)  # 0.2 of a sample
    assert gap_samples(tiny, sr) == (sr, sr + 1) and gap_samples(Gap(1.0, 1.5), 2) == (2, 3)
    last = Gap((2 * sr - 0.4) / sr, 2.0)  # in the last sample: it rounds to none past the end
    assert gap_samples(last, sr) == (2 * sr - 1, 2 * sr)
    assert restore(audio, sr, Inpaint(gaps=(last,))).audio[0, -1] != audio[0, -1]
    filled = restore(audio, sr, Inpaint(gaps=(tiny,))).audio  # it had filled no sample, unsaid
    assert np.flatnonzero(filled[0] != audio[0]).tolist() == [sr]
    declicked, removed = restore(audio, sr, Declick(clicks=(tiny,))).tracks  # it had refused
    assert np.flatnonzero(removed[0]).tolist() == [sr]
    assert np.array_equal(declicked + removed, audio)


def test_a_preset_without_a_task_has_its_field_names_checked_when_read(tmp_path):
    """Its mistyped field had been found only once a task was given, naming no file."""
    typo, fine = tmp_path / "typo.toml", tmp_path / "fine.toml"
    typo.write_text('rirr = "blind"\n')
    fine.write_text('rir = "blind"\ncrossfade = 0.01\n[options]\namount = 0.5\n')
    with pytest.raises(DamageError) as error:
        load_preset(typo)
    every_field = sorted({f.name for t in TASKS for f in dataclasses.fields(DAMAGE_TYPES[t])})
    assert str(error.value) == (
        f"unknown field(s) rirr (did you mean rir?); known: {', '.join(every_field)} "
        f"(in the preset {typo})"
    )
    assert load_preset(fine).damage == {"rir": "blind", "crossfade": 0.01}


def test_a_field_that_is_an_option_or_another_tasks_is_said_so_not_offered_a_near_field():
    """An inpaint preset's ``taps`` (dereverb's option) had been offered gaps, a declick
    preset's ``model`` (an option) mode."""
    for data, said in [
        ({"task": "inpaint", "taps": 3}, "taps (dereverb's, not inpaint's); known: crossfade"),
        ({"task": "declick", "model": "m"}, "model (declick's option, not a field: give it "),
    ]:
        with pytest.raises(DamageError) as error:
            damage_from_dict(data)
        assert f"unknown field(s) {said}" in str(error.value)


def test_a_preset_without_a_task_says_its_names_by_the_rule_a_tasks_preset_has(tmp_path):
    """A task-less preset's ``model`` had been offered mode, its ``taps`` gaps (the near names
    a task's preset no longer offers), and its ``lossy`` (the input's) had loaded."""
    under = "(an option, not a field: give it under options)"
    for text, said in [
        ('model = "m"\n', f"unknown field(s) model {under}; known: burst_db"),
        ('taps = 3\nrir = "blind"\n', f"unknown field(s) taps {under}; known: burst_db"),
        ("sensitivity = 0.5\n", f"unknown field(s) sensitivity {under}; known: burst_db"),
        ("lossy = true\n", "lossy is the input's, not a field to give; say it with --lossy"),
    ]:
        preset = tmp_path / "notask.toml"
        preset.write_text(text)
        with pytest.raises(DamageError) as error:
            load_preset(preset)
        assert str(error.value).startswith(said), str(error.value)
        assert str(error.value).endswith(f"(in the preset {preset})")
