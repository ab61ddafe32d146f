"""What the Python API says of arrays and arguments given the wrong way (user trial 10): each a
project error in one line that names the fix, where Python's own error, or a silent misreading,
had been."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.batch import chain_from_dict
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Declick, Dereverb, Gap, Inpaint
from diffmusic_engine.diagnose import diagnose
from diffmusic_engine.errors import DamageError, InputError

RATE = 8000
STEREO = np.zeros((2, RATE), np.float32)
GAP = Inpaint(gaps=(Gap(0.5, 0.51),))
SAMPLES_FIRST = (
    "audio: shape (8000, 2) has more channels than samples: give (channels, samples); "
    "soundfile.read's (samples, channels) is audio.T"
)


@pytest.mark.parametrize(
    ("call", "said"),
    [
        # soundfile.read's layout had been read as 8000 channels of 2 samples: "nothing found"
        (lambda: restore(STEREO.T, RATE, Declick()), SAMPLES_FIRST),
        (lambda: diagnose(STEREO.T, RATE), SAMPLES_FIRST),
        (lambda: degrade(STEREO.T, RATE, Declick()), "clean " + SAMPLES_FIRST),
        (lambda: chain_from_dict({"tail": 1.0, "steps": [{"plugin": "Gain"}]}).process(
            STEREO.T, RATE),
         "chain" + SAMPLES_FIRST.removeprefix("audio")),  # it had asked 11.6 GB
        # int16 had been restored as amplitudes of thousands
        (lambda: restore((STEREO * 3000).astype(np.int16), RATE, GAP),
         "audio: int16 samples: give float audio in -1..1 (int16: divide by 32768)"),
        (lambda: restore(STEREO[0], RATE, GAP),
         "audio: one dimension (8000,): give (channels, samples), mono as audio[None]"),
        (lambda: restore(STEREO, "8000", GAP), "sample_rate '8000': expected a number of Hz"),
        (lambda: restore(STEREO, 0, GAP), "sample_rate 0: expected a number of Hz"),
        (lambda: restore(STEREO, RATE, GAP, options=[("seed", 1)]),
         "options [('seed', 1)]: expected a mapping of names to values"),
        # a backend's typo had had no nearest name here (the CLI's, a chain's, a message's had)
        (lambda: restore(STEREO, RATE, GAP, backend="difusion"),
         "backend 'difusion' (did you mean diffusion?): expected one of dsp, diffusion"),
    ],
)  # fmt: skip
def test_an_array_or_argument_given_the_wrong_way_is_one_line_saying_how(call, said):
    with pytest.raises((InputError, DamageError)) as error:
        call()
    assert str(error.value) == said


def test_a_task_name_for_the_damage_names_the_classes():
    with pytest.raises(DamageError, match=r"^damage 'inpaint': expected one of Inpaint, "):
        restore(STEREO, RATE, "inpaint")


def test_spans_and_a_blind_room_are_taken_as_the_cli_and_the_restorer_take_them():
    """``Inpaint(gaps=("2.0:2.01",))`` had been built and then failed inside the engine
    ("'str' object has no attribute 'start'"); ``Dereverb(rir="blind")`` had looked for a file
    named blind."""
    assert Inpaint(gaps=("0.5:0.51",)).gaps == Inpaint(gaps=((0.5, 0.51),)).gaps == GAP.gaps
    assert Declick(clicks=[[0.1, 0.101]]).clicks == (Gap(0.1, 0.101),)
    assert Dereverb(rir="blind").rir is None


@pytest.mark.parametrize("damage", [GAP, Declick(), Dereverb()])
def test_digital_silence_is_said_to_be_nothing_to_restore(damage):
    """An all-zero file had been "restored" to silence without a note (trial 9)."""
    restored = restore(STEREO, RATE, damage)
    assert restored.unchanged == "the audio is digital silence (every sample 0): nothing to restore"
    assert not any(track.any() for track in restored.tracks)
    # declick's two outputs, the removed clicks silent too (one had broken --spectrogram)
    assert len(restored.tracks) == (2 if isinstance(damage, Declick) else 1)


def test_the_layout_rule_leaves_a_short_many_channel_clip_alone_and_degrade_refuses_int16():
    """Six channels of four frames are a file's channels (the CLI reads its layout); an int16
    array had been degraded as amplitudes of thousands."""
    from diffmusic_engine.audio_arrays import given_audio

    assert given_audio(np.zeros((6, 4), np.float32)).shape == (6, 4)
    with pytest.raises(InputError, match="^clean audio: int16 samples"):
        degrade((STEREO * 3000).astype(np.int16), RATE, Declick())
    assert Inpaint(gaps=np.array([[0.5, 0.51]])).gaps == GAP.gaps
