"""One resolution of options (one precedence) and one check per backend and task."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import soundfile as sf

from bridge.batch import Restorer
from bridge.cli.restore import backend_from_args
from diffmusic_engine.damage import Dereverb, PhaseRetrieval
from diffmusic_engine.errors import DamageError
from diffmusic_engine.options import (
    Option,
    check_options,
    did_you_mean,
    option_spec,
    resolve_backend,
    resolve_options,
)
from diffmusic_engine.preset_files import load_preset

NESTED = {"steps": 100, "diffusion": {"steps": 50}, "dsp": {"iterations": 7}, "model": "m"}


def test_the_backend_table_wins_within_a_layer_and_later_layers_win_whole():
    assert resolve_options("diffusion", NESTED) == {"steps": 50, "model": "m"}
    assert resolve_options("dsp", NESTED) == {"steps": 100, "iterations": 7, "model": "m"}
    preset = {"backend": "diffusion", "seed": 1, "diffusion": {"steps": 200, "sampler": "dps"}}
    flags = {"steps": 10}
    assert resolve_options("diffusion", preset, flags) == {"seed": 1, "steps": 10, "sampler": "dps"}
    assert resolve_options("diffusion", preset, None, {}) == {
        "seed": 1,
        "steps": 200,
        "sampler": "dps",
    }
    with pytest.raises(DamageError, match="options.dsp must be a table"):
        resolve_options("diffusion", {"dsp": 3})


def test_the_backend_comes_from_the_caller_then_the_last_layer_naming_one():
    assert resolve_backend(None) == "dsp"
    assert resolve_backend(None, {"backend": "diffusion"}, {}) == "diffusion"
    assert resolve_backend("dsp", {"backend": "diffusion"}) == "dsp"
    with pytest.raises(DamageError, match="backend 'magic'"):
        resolve_backend("magic")


def test_same_precedence_in_the_cli_and_the_restorer(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(
        'task = "phase-retrieval"\n[options]\nsteps = 100\nmodel = "m"\n'
        "[options.diffusion]\nsteps = 50\n[options.dsp]\niterations = 7\n"
    )
    flags = argparse.Namespace(backend="diffusion", **dict.fromkeys(
        ("model", "sampler", "vmc", "steps", "gamma", "seed", "prompt", "device", "guidance_dtype")
    ))  # fmt: skip
    _, cli = backend_from_args(flags, load_preset(preset).options)
    restorer = Restorer(preset=str(preset), backend="diffusion")
    keywords = Restorer(task="phase-retrieval", backend="diffusion", **NESTED)
    assert cli == restorer.options == keywords.options == {"steps": 50, "model": "m"}


def taken_by(backend: str) -> str:
    """The words an unknown option taken by ``backend`` gets: which backend it belongs to, and
    what to do (one preset serves every backend: each reads its own [options.BACKEND])."""
    return (
        f"is an option of the {backend} backend: leave it out, run that backend, or keep it in "
        f"a preset under [options.{backend}], which only that backend reads)"
    )


def test_checks_name_the_option_and_fill_in_defaults():
    checked = check_options("dsp", PhaseRetrieval(), {"iterations": 2.0})
    assert checked == {"seed": 0, "iterations": 2, "momentum": 0.99}
    assert type(checked["iterations"]) is int
    both = (
        "are options of the diffusion backend: leave them out, run that backend, or keep them in "
        "a preset under [options.diffusion], which only that backend reads)"
    )
    cases = [
        ("dsp", {"bogus": 1}, "phase-retrieval: unknown option(s) bogus; known: iterations, mom"),
        ("dsp", {"momentun": 1}, "unknown option(s) momentun (did you mean momentum?); known: "),
        # each its own nearest name: "momentun, zzz (did you mean momentum?)" had read as zzz's
        ("dsp", {"zzz": 1, "momentun": 1}, "s) momentun (did you mean momentum?), zzz; known: "),
        # another backend's option for the task says which backend takes it
        ("dsp", {"steps": 5}, f"unknown option(s) steps (steps {taken_by('diffusion')}; known: i"),
        # two of one backend: its remedy said once (each had said it all: 137 characters more)
        ("dsp", {"steps": 5, "eta": 0}, f"s) eta, steps (eta, steps {both}; known: i"),
        ("diffusion", {"model": "m", "momentum": 0.9}, f"momentum {taken_by('dsp')}; known: b"),
        ("diffusion", {"model": "m", "bogus": 1}, "phase-retrieval: unknown option(s) bogus; kn"),
        ("diffusion", {"model": "m", "sampler": "ddim"}, "expected one of irs, dps, dsg"),
        ("diffusion", {"model": "m", "seed": 2**32}, "seed=4294967296 out of range"),
        ("diffusion", {"steps": 5}, "no model given"),
    ]
    for backend, options, message in cases:
        with pytest.raises(DamageError) as error:
            check_options(backend, PhaseRetrieval(), options)
        assert message in str(error.value), (options, str(error.value))


def test_dereverb_options_depend_on_a_known_room():
    assert "taps" in option_spec("dsp", Dereverb())
    known = Dereverb(rir=[1.0, 0.5])  # blind's options taken, left out: filled in only where given
    blind = set(option_spec("dsp", Dereverb()))
    assert set(option_spec("dsp", known)) == blind | {"regularization"}
    assert check_options("dsp", known, {}) == {"seed": 0, "amount": 1.0, "regularization": 0.01}
    # the diffusion backend's steps is no typo of taps (it had been asked "did you mean taps?")
    with pytest.raises(DamageError) as error:
        check_options("dsp", Dereverb(), {"steps": 5})
    assert str(error.value).startswith(
        f"dsp dereverb: unknown option(s) steps (steps {taken_by('diffusion')}; known: a"
    )


def test_a_dereverb_presets_amount_says_what_to_do_on_the_diffusion_backend(tmp_path):
    """dsp's amount (a share of a linear filter's change: the diffusion backend's output is
    regenerated, not the input filtered) had stopped a diffusion run without a remedy (a user
    trial); the remedy given, [options.dsp], serves both backends."""
    plain, table = tmp_path / "half.toml", tmp_path / "half_dsp.toml"
    plain.write_text('task = "dereverb"\nrir = "blind"\n[options]\namount = 0.5\n')
    table.write_text('task = "dereverb"\nrir = "blind"\n[options.dsp]\namount = 0.5\n')
    with pytest.raises(DamageError) as error:
        Restorer(preset=plain, backend="diffusion", model="m")
    assert str(error.value).startswith(f"diffusion dereverb: unknown option(s) amount (amount "
                                       f"{taken_by('dsp')}; known: batch_size")  # fmt: skip
    assert str(error.value).endswith(f"(in the preset {plain})")
    assert "amount" not in Restorer(preset=table, backend="diffusion", model="m").options
    assert Restorer(preset=table).options["amount"] == 0.5
    # a model not given is no error of the preset's, though the preset alone makes it too
    with pytest.raises(DamageError) as no_model:
        Restorer(preset=table, backend="diffusion")
    assert str(no_model.value).startswith("diffusion dereverb: no model given; pass --model ")
    assert str(no_model.value).endswith("or a local diffusers folder)"), str(no_model.value)


def test_an_option_accepts_only_its_kind():
    where = "x"
    assert Option(kind=str).check(where, "p", "text") == "text"
    assert Option(kind=str, pattern=r"cpu|cuda(:\d+)?").check(where, "d", "cuda:1") == "cuda:1"
    assert Option(low=0.0, above=True).check(where, "g", 1e-9) == 1e-9
    for option, value, message in [
        (Option(kind=bool), 1, "expected true or false"),
        (Option(kind=str), 3, "expected text"),
        (Option(kind=str, pattern="cpu"), "gpu", "expected cpu"),
        (Option(low=0.0, above=True), 0, "must be > 0"),
        (Option(low=1, high=3, integer=True), 2.5, "must be a whole number"),
        (Option(low=1, high=3), True, "is not a number"),
        (Option(low=1, high=3), float("inf"), "is not a number"),
    ]:
        with pytest.raises(DamageError, match=message):
            option.check(where, "o", value)


def test_a_local_model_folder_has_one_name_wherever_it_is_named_from(tmp_path, monkeypatch):
    """A client names a folder from its own folder; the daemon, elsewhere, keys its caches by
    the absolute path: ``tiny/`` and the absolute path must be one model."""
    import numpy as np

    from bridge.client import submit_message
    from diffmusic_engine.damage import Gap, Inpaint
    from diffmusic_engine.diffusion.options import model_key

    (tmp_path / "tiny").mkdir()
    monkeypatch.chdir(tmp_path)
    absolute = str(tmp_path.resolve() / "tiny")
    for name in ("tiny", "tiny/", "./tiny", f"{absolute}/"):
        assert model_key(name) == absolute
    assert model_key("cvssp/audioldm2-music") == "cvssp/audioldm2-music"  # a hub id as given
    options = {"model": "tiny/", "diffusion": {"model": "./tiny"}, "steps": 3}
    content, _ = submit_message(
        np.zeros((1, 1600), np.float32), 16000, Inpaint((Gap(0.02, 0.03),)), options=options
    )
    assert content["options"] == {"model": absolute, "diffusion": {"model": absolute}, "steps": 3}


KNOWN = "amount, chunk, delay, iterations, late_mask, min_rt60, n_fft, psd_context, seed, taps"


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("amonut = 0.5", f"unknown option(s) amonut (did you mean amount?); known: {KNOWN}"),
        ("amount = 1.5", "option amount=1.5 out of range 0..1"),
    ],
)
def test_an_option_error_the_preset_makes_names_it(tmp_path, capsys, given, error):
    from bridge.cli import main

    preset = tmp_path / "half.toml"
    preset.write_text(f'task = "dereverb"\nrir = "blind"\n[options]\n{given}\n')
    audio = tmp_path / "in.wav"
    sf.write(audio, np.zeros((4410, 2), np.float32), 44100)
    restore = ["restore", str(audio), "-o", str(tmp_path / "out.wav"), "--preset", str(preset)]
    # submit's check is the daemon's but for a preset's options, checked before connecting
    submit = ["submit", str(audio), "--preset", str(preset), "--connection-file", str(tmp_path)]
    for argv in (restore, submit):
        assert main(argv) == 1
        assert capsys.readouterr().err == f"error: dsp dereverb: {error} (in the preset {preset})\n"
    with pytest.raises(DamageError) as error_of_step:  # a batch chain's step names it too
        Restorer(preset=preset)
    assert str(error_of_step.value) == f"dsp dereverb: {error} (in the preset {preset})"


def test_an_option_error_the_flags_make_is_not_said_to_be_the_presets(tmp_path, capsys):
    """The preset's own error (amount 1.5) is not the one said: --seed -1's is, without the
    preset (it had been said to be "in the preset")."""
    from bridge.cli import main

    preset = tmp_path / "half.toml"
    preset.write_text('task = "dereverb"\nrir = "blind"\n[options]\namount = 1.5\n')
    audio = tmp_path / "in.wav"
    sf.write(audio, np.zeros((4410, 2), np.float32), 44100)
    argv = ["restore", str(audio), "-o", str(tmp_path / "out.wav"), "--preset", str(preset)]
    assert main([*argv, "--seed", "-1"]) == 1
    assert capsys.readouterr().err == (
        f"error: dsp dereverb: option seed=-1 out of range 0..{2**32 - 1}\n"
    )


def test_unknown_options_of_a_preset_and_a_flag_each_say_where_they_came_from(tmp_path, capsys):
    """``amonut`` in the preset and ``--sensitivity`` (declick's) on the command line had been
    listed together, naming neither source (a user trial)."""
    from bridge.cli import main

    preset = tmp_path / "typo.toml"
    preset.write_text('task = "dereverb"\nrir = "blind"\n[options]\namonut = 0.5\n')
    audio = tmp_path / "in.wav"
    sf.write(audio, np.zeros((4410, 2), np.float32), 44100)
    restore = ["restore", str(audio), "-o", str(tmp_path / "out.wav"), "--preset", str(preset)]
    submit = ["submit", str(audio), "--preset", str(preset), "--connection-file", str(tmp_path)]
    whose = "(declick's, not dereverb's)"  # another task's: said so, no near name offered
    named = f"amonut (did you mean amount?) in the preset {preset}, sensitivity {whose}"
    for argv in (restore, submit):
        assert main([*argv, "--sensitivity", "0.5"]) == 1
        assert capsys.readouterr().err == (
            f"error: dsp dereverb: unknown option(s) {named} on the command line; known: {KNOWN}\n"
        )
    with pytest.raises(DamageError) as error_of_step:  # the Restorer's keywords: not a flag
        Restorer(preset=preset, sensitivity=0.5)
    given = f"{named} given to the Restorer"
    assert str(error_of_step.value) == f"dsp dereverb: unknown option(s) {given}; known: {KNOWN}"


def test_a_presets_typo_nearest_a_step_key_still_names_the_preset(tmp_path):
    """``chunk_second`` in a chain step's preset: its nearest name is the step's chunk_seconds
    (``also_known``), and the preset alone had been checked without it, so the two lines differed
    and the preset went unnamed (the parent named it, with no nearest name)."""
    preset = tmp_path / "p.toml"
    preset.write_text('task = "dereverb"\nrir = "blind"\n[options]\nchunk_second = 10\n')
    with pytest.raises(DamageError) as error:
        Restorer(preset=preset)
    assert str(error.value) == (
        "dsp dereverb: unknown option(s) chunk_second (did you mean chunk_seconds?); known: "
        f"{KNOWN} (in the preset {preset})"
    )


def test_a_near_name_is_offered_by_case_then_word_then_a_ratio_of_0_7():
    """difflib's default 0.6 had offered Gain for a chain's plugin "Chain" (ratio 2 x 3 / 9 =
    0.67) and nothing for "DSP" (no letter in common with dsp but for case)."""
    plugins = ["Chorus", "Gain", "PitchShift", "Reverb"]
    assert did_you_mean("Chain", plugins) == ""
    assert did_you_mean("Pitchshift", plugins) == " (did you mean PitchShift?)"
    assert did_you_mean("DSP", ["dsp", "diffusion"]) == " (did you mean dsp?)"
    # a word the name begins (ratio 2 x 6 / 25), unless it begins two
    assert did_you_mean("cutoff", ["cutoff_frequency_hz"]) == " (did you mean cutoff_frequency_hz?)"
    assert did_you_mean("dropout", ["dropout_max_seconds", "dropout_min_seconds"]) == ""
    # 7 of 10 letters in common: 2 x 7 / 20 = 0.7 is near, 2 x 6 / 20 = 0.6 is not
    assert did_you_mean("abcdefghij", ["abcdefgxyz"]) == " (did you mean abcdefgxyz?)"
    assert did_you_mean("abcdefghij", ["abcdefwxyz"]) == ""


def test_a_name_it_abbreviates_is_offered_where_only_one_fits():
    """``iters`` had lost iterations when the ratio went to 0.7 (2 x 5 / 15 = 0.67)."""
    dereverb = ["amount", "chunk", "delay", "iterations", "late_mask", "min_rt60", "taps"]
    assert did_you_mean("iters", dereverb) == " (did you mean iterations?)"
    assert did_you_mean("cutoff_hz", ["cutoff_frequency_hz"]) == (
        " (did you mean cutoff_frequency_hz?)"
    )
    assert did_you_mean("mint", ["min_similarity", "min_tilt"]) == ""  # both fit: none
    assert did_you_mean("itres", dereverb) == ""  # its first three letters are not iterations'
    assert did_you_mean("its", dereverb) == ""  # three letters: too short to say


def test_another_tasks_name_is_said_to_be_its_and_offered_no_near_name():
    """An inpaint step's ``level`` (declip's field) had been offered level_context, an option
    in seconds that would take 0.5; a name valid elsewhere is no typo."""
    with pytest.raises(DamageError) as error:
        Restorer(task="inpaint", gaps=[[1.0, 1.05]], level=0.5)
    assert "unknown option(s) level (declip's, not inpaint's); known: " in str(error.value)
    with pytest.raises(DamageError) as error:
        Restorer(task="declick", iterations=3)
    takers = "inpaint's, phase-retrieval's, separate's, dereverb's, declip's"
    assert f"unknown option(s) iterations ({takers}, not declick's); known: " in str(error.value)
    with pytest.raises(DamageError) as error:  # the step's own setting is still offered
        Restorer(task="declick", chunk=10)
    said = "chunk (dereverb's, not declick's; did you mean chunk_seconds?); known: "
    assert f"unknown option(s) {said}" in str(error.value)
    with pytest.raises(DamageError) as error:  # another backend's: its own line, as before
        Restorer(task="dereverb", rir="blind", steps=3)
    assert "steps is an option of the diffusion backend" in str(error.value)
