"""dsp separation: declined unless named (its masks lose to the mix itself on real music); when
named, the exact mixing identity holds and HPSS finds the drums."""

from __future__ import annotations

import numpy as np
import pytest

from diffmusic_engine import metrics
from diffmusic_engine.api import degrade, restore
from diffmusic_engine.damage import Separate
from diffmusic_engine.dsp.separate import DECLINED
from diffmusic_engine.errors import Cancelled, DamageError
from diffmusic_engine.evaluation.corpus import real_stems

SR = 44100
HPSS = {"masks": "harmonic-percussive"}
NMF = {"masks": "nmf"}


def test_plain_separation_declines_and_points_to_the_diffusion_backend(excerpt):
    with pytest.raises(DamageError) as caught:
        restore(excerpt, SR, Separate(2))
    assert str(caught.value) == DECLINED and "\n" not in DECLINED
    assert "--backend diffusion" in DECLINED and "--preset harmonic-percussive" in DECLINED
    with pytest.raises(DamageError, match="2 sources, not 3; use masks='nmf'"):
        restore(excerpt, SR, Separate(3), options=HPSS)
    with pytest.raises(DamageError, match="masks='kmeans'"):
        restore(excerpt, SR, Separate(2), options={"masks": "kmeans"})


@pytest.mark.parametrize("options", [HPSS, NMF], ids=["hpss", "nmf"])
def test_why_it_declines_masks_lose_to_the_mixture_on_real_music(options):
    """A shipped real excerpt (guitar + backing): each mask split scores below 'the mixture as
    every source' (mean SI-SDR over the two stems), the reason plain separation is declined."""
    stems = list(real_stems("feelings", 3.0).values())
    mix = np.sum(stems, axis=0)
    damage = Separate(2)  # weights 1/2: x_i = s_i / w_i, and SI-SDR ignores the scale
    tracks = restore(mix, SR, damage, options=options).tracks
    separated = np.mean([metrics.si_sdr(s, x) for s, x in zip(stems, tracks, strict=True)])
    mixture = np.mean([metrics.si_sdr(s, mix) for s in stems])
    assert separated < mixture


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.2, 0.3, 0.5)])
def test_mixing_identity(stems, weights):
    damage = Separate(sources=len(weights), weights=weights)
    names = list(stems)
    groups = np.array_split(np.arange(len(names)), len(weights))
    sources = np.stack([sum(stems[names[i]] for i in group) for group in groups])
    mix = degrade(sources, SR, damage)
    result = restore(mix, SR, damage, options=HPSS if len(weights) == 2 else NMF)
    assert len(result.tracks) == len(weights)
    remix = sum(w * x.astype(np.float64) for w, x in zip(weights, result.tracks, strict=True))
    assert np.abs(remix - mix).max() < 1e-6
    for track in result.tracks:
        assert track.shape == mix.shape and track.dtype == np.float32
        assert np.abs(track).max() > 1e-3  # no empty source


def test_hpss_puts_the_drums_in_the_percussive_source(stems):
    damage = Separate(sources=2, weights=(0.5, 0.5))
    drums = stems["drums"]
    tonal = stems["bass"] + stems["keys"] + stems["lead"]
    mix = degrade(np.stack([tonal, drums]), SR, damage)
    harmonic, percussive = restore(mix, SR, damage, options=HPSS).tracks
    assert metrics.si_sdr(drums, percussive) > metrics.si_sdr(drums, harmonic) + 3.0
    assert metrics.si_sdr(tonal, harmonic) > metrics.si_sdr(tonal, percussive) + 3.0


def test_progress_and_cancel(excerpt, recorder):
    damage = Separate(sources=3)
    callback = recorder()
    restore(excerpt, SR, damage, options=NMF, callback=callback)
    assert callback.fractions[-1] == 1.0
    stopper = recorder(cancel_at=2)
    with pytest.raises(Cancelled):
        restore(excerpt, SR, damage, options=NMF, callback=stopper)
    assert len(stopper.reports) == 2


@pytest.mark.filterwarnings("error::UserWarning")  # librosa's "n_fft too large" had reached stderr
@pytest.mark.parametrize("options", [HPSS, NMF])
def test_a_clip_shorter_than_one_frame_keeps_the_mixing_identity_without_warnings(excerpt, options):
    mix = excerpt[:, :441]  # 10 ms: under the 2048-sample frame
    damage = Separate(sources=2)
    result = restore(mix, SR, damage, options=options)
    remix = sum(0.5 * x.astype(np.float64) for x in result.tracks)
    assert all(track.shape == mix.shape for track in result.tracks)
    assert np.abs(remix - mix).max() < 1e-6
