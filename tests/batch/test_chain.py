"""Chain files: every kind of mistake is caught before audio, with a message naming it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pedalboard
import pytest

from bridge.batch import ChainError, Restorer, chain_from_dict, load_chain
from bridge.batch.chain import PluginStep, RestoreStep, StepRestorer, VST3Step
from diffmusic_engine.errors import DamageError

CHAINS = Path(__file__).resolve().parents[2] / "presets" / "chains"


def error(data: dict, base: Path = Path(".")) -> str:
    with pytest.raises(ChainError) as info:
        chain_from_dict(data, base=base)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_toml_and_json_give_the_same_chain(tmp_path: Path) -> None:
    data = {"_doc": "comment", "sample_rate": 44100, "steps": [
        {"plugin": "Compressor", "threshold_db": -18, "ratio": 3, "_note": "ignored"},
        {"restore": "dereverb", "rir": "blind"},
        {"plugin": "LadderFilter", "mode": "HPF12", "cutoff_hz": 80},
    ]}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.toml").write_text(
        '_doc = "comment"\nsample_rate = 44100\n'
        '[[steps]]\nplugin = "Compressor"\nthreshold_db = -18\nratio = 3\n_note = "ignored"\n'
        '[[steps]]\nrestore = "dereverb"\nrir = "blind"\n'
        '[[steps]]\nplugin = "LadderFilter"\nmode = "HPF12"\ncutoff_hz = 80\n'
    )
    a, b = load_chain(tmp_path / "c.json"), load_chain(tmp_path / "c.toml")
    assert a.steps == b.steps and a.digest == b.digest and a.sample_rate == 44100
    assert isinstance(a.steps[0], PluginStep) and isinstance(a.steps[1], RestoreStep)
    segments = a.segments()  # plugins / restorer / plugins
    kinds = [pedalboard.Pedalboard, StepRestorer, pedalboard.Pedalboard]
    assert [type(s) for s in segments] == kinds
    assert segments[0][0].threshold_db == -18 and segments[0][0].ratio == 3
    assert segments[2][0].mode == pedalboard.LadderFilter.Mode.HPF12


def test_unknown_plugin() -> None:
    message = error({"steps": [{"plugin": "Gain"}, {"plugin": "Compresor", "ratio": 2}]})
    assert "step 2" in message and "unknown plugin 'Compresor'" in message
    assert "Compressor" in message  # the list of built-in plugins
    assert "unknown plugin 'Pedalboard'" in error({"steps": [{"plugin": "Pedalboard"}]})
    assert "_klass" not in message and "PitchShift" not in message  # not offered
    assert "unknown plugin 'Compresor' (did you mean Compressor?); built-in" in message


def test_a_plugin_that_streams_silence_is_refused_when_the_chain_is_read() -> None:
    """pedalboard's PitchShift fed block by block (as a batch streams) returns only zeros: a
    file came back 70 % silent and was reported done."""
    blocks = [np.full((1, 4096), 0.1, np.float32)] * 40
    shifter = pedalboard.PitchShift(semitones=0.0)
    streamed = [shifter.process(b, 44100, reset=False) for b in blocks]
    assert not np.any(np.concatenate(streamed, axis=1))  # why: if pedalboard fixes it, revisit
    message = error({"steps": [{"plugin": "PitchShift", "semitones": 2}]})
    assert "step 1: PitchShift: pedalboard's PitchShift returns silence when fed block" in message


def test_bad_parameter_name_lists_the_known_ones() -> None:
    message = error({"steps": [{"plugin": "Compressor", "treshold_db": -20}]})
    assert "step 1" in message and "treshold_db" in message
    assert "known: attack_ms, ratio, release_ms, threshold_db" in message


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"plugin": "Compressor", "ratio": 0.5}, "ratio must be a value >= 1.0"),
        ({"plugin": "Gain", "gain_db": "loud"}, "expected Gain(gain_db: float"),
        ({"plugin": "LadderFilter", "mode": "HPF13"}, "expected LadderFilter(mode"),
    ],
)
def test_bad_parameter_value(parameters: dict, expected: str) -> None:
    message = error({"steps": [parameters]})
    assert "bad parameter value" in message and expected in message


def test_missing_files(tmp_path: Path) -> None:
    assert "no such file" in error({"steps": [{"vst3": "nowhere/Plug.vst3"}]}, tmp_path)
    message = error({"steps": [{"plugin": "Convolution", "impulse_response_filename": "ir.wav"}]},
                    tmp_path)  # fmt: skip
    assert "impulse_response_filename" in message and str(tmp_path / "ir.wav") in message
    message = error({"steps": [{"restore": "dereverb", "rir": "room.wav"}]}, tmp_path)
    room = tmp_path / "room.wav"  # the line restore gives for --rir, after the key
    assert message.endswith(
        f"step 1: restore: rir: impulse response {room}: no such file; give the room's "
        'impulse-response file, or "blind" to estimate the room'
    )
    message = error({"steps": [{"restore": "dereverb", "rir": "."}]}, tmp_path)
    assert f"impulse response {tmp_path / '.'}: a folder, not a file; give" in message
    message = error({"steps": [{"preset": "no-such-preset"}]}, tmp_path)
    assert "preset no-such-preset" in message
    message = error({"steps": [{"preset": 5}]}, tmp_path)  # a TypeError traceback before
    assert "preset 5: expected a preset name or a file path" in message
    # an impulse response given inline, as samples, is no file to look for ("no such file")
    chain_from_dict({"steps": [{"restore": "dereverb", "rir": [1.0, 0.5], "rir_rate": 8000}]})
    with pytest.raises(ChainError, match="no such file"):
        load_chain(tmp_path / "absent.toml")


def test_vst3_keys_and_raw_state(tmp_path: Path) -> None:
    bundle = tmp_path / "Plug.vst3"
    bundle.mkdir()  # a VST3 is a folder (bundle); this one holds no plugin
    assert "raw_state is not valid base64" in error(
        {"steps": [{"vst3": "Plug.vst3", "raw_state": "not base64!"}]}, tmp_path
    )
    assert error({"steps": [{"vst3": "Plug.vst3", "gain": 1, "rawstate": ""}]}, tmp_path) == (
        "chain: step 1: VST3 Plug.vst3: unknown key(s) gain, rawstate (did you mean raw_state?); "
        "known: vst3, plugin_name, parameters, raw_state"
    )
    # a valid state reaches the loader, whose refusal is reported for the step
    state = base64.b64encode(b"state").decode()
    message = error({"steps": [{"vst3": "Plug.vst3", "raw_state": state}]}, tmp_path)
    assert message.startswith("chain: step 1: VST3 Plug.vst3: ")


def test_vst3_step_applies_state_then_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """No VST3 exists here, so pedalboard.load_plugin is replaced by a strict stand-in."""

    class FakePlugin:
        parameters = {"mix": None, "drive": None}

        def __setattr__(self, name: str, value: object) -> None:
            calls.append((name, value))

    calls: list = []
    monkeypatch.setattr(pedalboard, "load_plugin", lambda path, plugin_name=None: FakePlugin())
    step = VST3Step(Path("x.vst3"), "X", {"mix": 0.5}, b"state")
    step.build()
    assert calls == [("raw_state", b"state"), ("mix", 0.5)]
    with pytest.raises(ValueError) as unknown:
        VST3Step(Path("x.vst3"), None, {"wet": 1, "drve": 1}).build()
    said = "unknown parameter(s) drve (did you mean drive?), wet; known: drive, mix"
    assert str(unknown.value) == said


def test_restoration_fields_are_checked() -> None:
    assert "gap 'a:b'" in error({"steps": [{"restore": "inpaint", "gaps": ["a:b"]}]})
    keep = "give which source to keep, source = 1..2"
    message = error({"steps": [{"restore": "separate", "sources": 2}]})
    assert message.endswith(f"step 1: separate: no source given; {keep}")
    message = error({"steps": [{"restore": "separate", "sources": 2, "source": 3}]})
    assert message.endswith(f"step 1: separate: source 3 out of range; {keep}")
    message = error({"steps": [{"restore": "separate", "sources": 2, "source": "a"}]})
    assert message.endswith(f"step 1: separate: source 'a' is no whole number; {keep}")
    assert "task 'denoise'" in error({"steps": [{"restore": "denoise"}]})
    listed = error({"steps": [{"restore": ["dereverb"]}]})  # TypeError: unhashable, had been
    assert listed.startswith("chain: step 1: task ['dereverb']: expected one of inpaint, "), listed
    assert "backend 'gpu'" in error({"steps": [{"restore": "dereverb", "backend": "gpu"}]})
    # a mistyped key of the step, not only of an option, gets its nearest name (a user trial)
    assert error({"steps": [{"restore": "dereverb", "backnd": "dsp"}]}).startswith(
        "chain: step 1: dsp dereverb: unknown option(s) backnd (did you mean backend?); known: am"
    )


def test_chain_shape_errors() -> None:
    assert "non-empty list of steps" in error({"steps": []})
    # each mistyped key with its nearest name, as an unknown option has it (a user trial)
    assert error({"step": [{"plugin": "Gain"}], "tail": 0}) == (
        "chain: unknown key(s) step (did you mean steps?); known: sample_rate, steps, tail"
    )
    assert error({"steps": [{"plugin": "Gain", "gain_bd": 3}]}) == (
        "chain: step 1: Gain: unknown parameter(s) gain_bd (did you mean gain_db?); known: gain_db"
    )
    assert error({"steps": [{"gain_db": 3}]}).endswith("nor preset = NAME")
    assert error({"steps": [{"plugn": "Gain"}]}).endswith("NAME; plugn (did you mean plugin?)")
    assert "sample_rate" in error({"sample_rate": "fast", "steps": [{"plugin": "Gain"}]})


def test_parse_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[steps]\nplugin = ")
    with pytest.raises(ChainError, match="broken.toml: cannot parse"):
        load_chain(path)


@pytest.mark.parametrize("path", sorted(CHAINS.glob("*.*")), ids=lambda p: p.name)
def test_example_chains_are_valid(path: Path) -> None:
    chain = load_chain(path)
    segments = chain.segments()
    assert isinstance(segments[0], Restorer)  # each example restores, then finishes with effects
    assert isinstance(segments[-1], pedalboard.Pedalboard)  # vinyl-declick: 2 restorers first


def test_there_are_five_example_chains() -> None:
    names = sorted(p.stem for p in CHAINS.glob("*.*"))
    assert names == [
        "archival-dropout-repair", "bandwidth-extension", "dereverb-eq-limiter", "dry-take-room",
        "vinyl-declick",
    ]  # fmt: skip


def test_a_chain_in_a_folder_named_relatively_finds_its_impulse_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--chain chains/c.toml`` whose step (or the step's preset) gives ``rir = "room.wav"``,
    beside it: "restore: rir: chains/chains/room.wav: no such file" (resolved twice)."""
    import soundfile as sf

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "chains"
    folder.mkdir()
    sf.write(folder / "room.wav", np.r_[1.0, 0.5, np.zeros(98)], 44100)
    (folder / "p.toml").write_text('task = "dereverb"\nrir = "room.wav"\n')
    (folder / "c.toml").write_text('[[steps]]\nrestore = "dereverb"\nrir = "room.wav"\n')
    (folder / "cp.toml").write_text('[[steps]]\npreset = "p.toml"\n')
    for chain in ("c.toml", "cp.toml"):
        (step,) = load_chain(Path("chains", chain)).steps
        assert Path("chains", "room.wav") in step.files, step.files


def test_the_digest_follows_the_files_a_chain_reads(tmp_path: Path) -> None:
    """--resume skips files rendered with the same chain digest: one of the chain's text only
    kept outputs made with an impulse response since replaced."""
    import soundfile as sf

    ir = tmp_path / "room.wav"
    sf.write(ir, np.r_[1.0, np.zeros(99)], 44100)
    chain = tmp_path / "c.toml"
    chain.write_text('[[steps]]\nplugin = "Convolution"\nimpulse_response_filename = "room.wav"\n')
    before = load_chain(chain).digest
    assert load_chain(chain).digest == before  # the same files: the same digest
    sf.write(ir, np.r_[1.0, 0.5, np.zeros(98)], 44100)  # the same name, another room
    assert load_chain(chain).digest != before


def test_a_near_plugin_name_that_is_refused_says_why_and_a_far_one_gets_no_hint() -> None:
    """``Pitchshift`` had had no hint that PitchShift exists and is refused; ``Chain`` (a
    container) had been offered Gain: difflib's ratio 2 x 3 / 9 = 0.67 is under 0.7."""
    assert error({"steps": [{"plugin": "Pitchshift", "semitones": 2}]}).startswith(
        "chain: step 1: unknown plugin 'Pitchshift' (did you mean PitchShift?); PitchShift: "
        "pedalboard's PitchShift returns silence when fed block by block"
    )
    assert error({"steps": [{"plugin": "Chain"}]}).startswith(
        "chain: step 1: unknown plugin 'Chain'; built-in plugins: Bitcrush, "
    )
    assert error({"steps": [{"restore": "dereverb", "backend": "difusion"}]}) == (
        "chain: step 1: backend 'difusion' (did you mean diffusion?): expected one of dsp, "
        "diffusion"
    )


def test_a_steps_unknown_key_is_offered_and_labelled_as_a_chain_writes_it(tmp_path: Path) -> None:
    """The Restorer had offered ``callback`` (a chain refuses it) and ``task`` (a chain says
    ``restore``), and left a step's own key unlabelled beside its preset's, as if the preset's."""
    known = "known: amount, chunk, delay, iterations, late_mask, min_rt60, n_fft, psd_context, seed"
    step = {"restore": "dereverb", "rir": "blind"}
    assert error({"steps": [{**step, "callbak": 1}]}).startswith(
        f"chain: step 1: dsp dereverb: unknown option(s) callbak; {known}"
    )
    assert error({"steps": [{"preset": "dereverb", "restor": "dereverb"}]}).startswith(
        "chain: step 1: dsp dereverb: unknown option(s) restor (did you mean restore?); known: "
    )
    assert error({"steps": [{**step, "task": "declick"}]}) == (  # the task had been dropped
        "chain: step 1: restore and task both name the step's task: keep restore = TASK"
    )
    preset = tmp_path / "p.toml"
    preset.write_text('task = "dereverb"\nrir = "blind"\n[options]\namonut = 0.5\n')
    both = "amonut (did you mean amount?) in the preset {}, taps2 (did you mean taps?) {}"
    assert error({"steps": [{"preset": str(preset), "taps2": 3}]}).startswith(
        f"chain: step 1: dsp dereverb: unknown option(s) {both.format(preset, 'in the step')}; "
    )
    with pytest.raises(DamageError) as made:  # the Restorer's keywords, made in Python
        Restorer(preset=preset, taps2=3, callbak=1)
    given = "given to the Restorer"
    assert str(made.value).startswith(
        f"dsp dereverb: unknown option(s) amonut (did you mean amount?) in the preset {preset}, "
        f"callbak (did you mean callback?) {given}, taps2 (did you mean taps?) {given}; {known}"
    )


def test_a_steps_preset_without_a_task_is_told_as_a_chain_gives_one(tmp_path: Path) -> None:
    """A step's preset naming no task had been told "give task=... or a preset": a chain says
    restore, and the preset was given."""
    preset = tmp_path / "notask.toml"
    preset.write_text('rir = "blind"\n[options]\namount = 0.5\n')
    remedy = 'names none; give {} = "TASK", or set task = "..." in the preset'
    assert error({"steps": [{"preset": str(preset)}]}) == (
        f"chain: step 1: restorer: no task: the preset {preset} {remedy.format('restore')}"
    )
    with pytest.raises(DamageError) as made:
        Restorer(preset=preset)
    assert str(made.value) == f"restorer: no task: the preset {preset} {remedy.format('task')}"


def test_an_impulse_response_that_cannot_be_read_is_said_when_the_chain_is_read(
    tmp_path: Path,
) -> None:
    """A NaN impulse response, the step's or its preset's, had been found only as the first
    file ran (that file failed, and the next, each with the same line)."""
    import soundfile as sf

    room = np.r_[1.0, 0.5, np.nan, np.zeros(97)]
    sf.write(tmp_path / "room.wav", room, 44100, subtype="FLOAT")
    (tmp_path / "p.toml").write_text('task = "dereverb"\nrir = "room.wav"\n')
    said = (
        f"step 1: restore: rir: impulse response {tmp_path / 'room.wav'}: 1 non-finite samples "
        "(NaN/Inf), the first in channel 1 of 1 at sample 2; render or export the file again"
    )
    for step in ({"restore": "dereverb", "rir": "room.wav"}, {"preset": "p.toml"}):
        assert said in error({"steps": [step]}, base=tmp_path), step


def test_a_silent_impulse_response_is_said_when_the_chain_is_read(tmp_path: Path) -> None:
    """A silent impulse response, a file (the step's or its preset's) or samples in the step,
    had passed the chain's reading and failed each file as it ran, each with the same line."""
    import soundfile as sf

    sf.write(tmp_path / "room.wav", np.zeros((100, 2)), 44100, subtype="FLOAT")
    (tmp_path / "p.toml").write_text('task = "dereverb"\nrir = "room.wav"\n')
    said = "step 1: restore: rir: dereverb: the impulse response is silent (all zeros)"
    inline = {"restore": "dereverb", "rir": [0.0, 0.0, 0.0], "rir_rate": 44100}
    for step in ({"restore": "dereverb", "rir": "room.wav"}, {"preset": "p.toml"}, inline):
        assert said in error({"steps": [step]}, base=tmp_path), step
    sf.write(tmp_path / "room.wav", np.r_[np.zeros(99), 0.5], 44100, subtype="FLOAT")
    assert len(chain_from_dict({"steps": [inline | {"rir": [0.0, 0.5]}]}).steps) == 1
    assert len(chain_from_dict({"steps": [{"preset": "p.toml"}]}, base=tmp_path).steps) == 1
