"""A known room's impulse response may be given as samples as well as a file, with one result."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.api import degrade, restore
from diffmusic_engine.audio import write_audio
from diffmusic_engine.damage import Dereverb
from diffmusic_engine.impulse_response import synthetic_rir
from diffmusic_engine.synth import music_excerpt

SR = 16000


def test_samples_and_file_give_the_same_restoration(tmp_path):
    clean = music_excerpt(0.5, SR, channels=2, seed=4)
    ir = synthetic_rir(0.2, SR, seed=2)
    reverberant = degrade(clean, SR, Dereverb(rir=ir))
    np.testing.assert_array_equal(reverberant, degrade(clean, SR, Dereverb(), impulse_response=ir))
    path = write_audio(tmp_path / "room.wav", ir[None], SR)  # float32 WAV: the same samples
    from_file = restore(reverberant, SR, Dereverb(rir=path)).audio
    np.testing.assert_array_equal(restore(reverberant, SR, Dereverb(rir=ir)).audio, from_file)
    # at another rate, the samples are resampled as a file at that rate is
    ir_2x = synthetic_rir(0.2, 2 * SR, seed=2)
    path_2x = write_audio(tmp_path / "room_2x.wav", ir_2x[None], 2 * SR)
    np.testing.assert_array_equal(
        restore(reverberant, SR, Dereverb(rir=ir_2x, rir_rate=2 * SR)).audio,
        restore(reverberant, SR, Dereverb(rir=path_2x)).audio,
    )
