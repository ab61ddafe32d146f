"""How much WPE may take from each frequency bin (:mod:`diffmusic_engine.dsp.dereverb`'s bound):
the limit a room's late reverberation sets, the share of WPE's change that keeps to it, and the
highs held to what WPE took from the mids."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.dsp import late_mask
from diffmusic_engine.room import RoomEstimate

MAX_REMOVED_DB = 5.0  # WPE never takes away more than this in a frequency bin
# The highs (HIGHS_HZ up) lose no more than WPE took from the mids (MIDS_HZ to HIGHS_HZ). 4 kHz:
# the pool hall's harm lay at 4.8-13 kHz, and from 2 kHz the chapel and the 2.5 s shared hall
# came out worse (+0.0002, +0.0003; one recording +0.0030). 250 Hz, the lows left out of the
# measure, was not tried against other edges (docs/results.md "What the wetter DRR's extra removal
# is made of")
MIDS_HZ, HIGHS_HZ = 250.0, 4000.0


def removal_limit_db(
    room: RoomEstimate, reach_s: float, freqs_hz: np.ndarray | None = None
) -> float | np.ndarray:
    """The most energy (dB) WPE may take from a frequency bin of a recording in ``room``; with
    ``freqs_hz``, one per frequency, from the shorter of ``room.rt60`` and the RT60 its octave
    bands read there (:func:`late_mask.log_rt60_at`; a longer band never raises it): less where
    the highs decay faster, as in measured rooms (:mod:`diffmusic_engine.dsp.dereverb`).

    With ``r = 10^(-DRR/10)`` the reverberation's energy relative to the direct sound, a share
    ``q = 10^(-6 reach_s / RT60)`` of it arrives after WPE's delay ``reach_s`` (the energy decays
    60 dB per RT60); removing all that leaves ``(1 + r (1 - q)) / (1 + r)`` of the energy, so the
    limit is ``10 log10((1 + r) / (1 + r (1 - q)))`` dB, never more than ``MAX_REMOVED_DB``.
    More is the music's own sustain: on feelings WPE removed 7.6-11.5 dB in 0.5-2.5 s rooms and
    did harm; the DRR alone (all the reverberation, ``q = 1``) let WPE take 4.2-4.7 dB from a 0.5 s
    room whose DRR the estimate read 5-6 dB too wet, which did harm (1.04-1.10x).
    """
    rt60 = room.rt60 if freqs_hz is None else np.full(np.shape(freqs_hz), room.rt60)
    if freqs_hz is not None and room.rt60_bands:
        # fmin: where a band reads NaN (or a negative RT60, whose log is NaN) the broadband
        # RT60 stands; np.minimum would carry the NaN to the limit, and a NaN floor lets WPE
        # take all it would (bounded_share's comparisons all false)
        rt60 = np.fmin(rt60, np.exp(late_mask.log_rt60_at(room.rt60_bands, freqs_hz)))
    r = 10 ** (-room.drr_db / 10)
    q = 10 ** (-6 * reach_s / np.maximum(rt60, 1e-3))
    limit = np.minimum(MAX_REMOVED_DB, 10 * np.log10((1 + r) / (1 + r * (1 - q))))
    return limit if freqs_hz is not None else float(limit)


def bounded_share(
    observed: np.ndarray, change: np.ndarray, limit_db: float | np.ndarray
) -> np.ndarray:
    """Per frequency bin, the largest share ``a`` in [0, 1] of ``change`` that keeps the bin's
    energy between ``|Y|^2 10^(-limit_db/10)`` and ``|Y|^2`` (sums over channels and frames;
    ``limit_db`` one for every bin or one per bin).

    ``observed`` ``Y`` and ``change`` ``C`` are ``(bins, channels, frames)`` STFTs. The energy
    ``e(a) = |Y|^2 + 2a Re<Y, C> + a^2 |C|^2`` is a convex quadratic with ``e(0) = |Y|^2``: where
    ``e(1)`` is below the floor the answer is its smaller root; where it is above ``|Y|^2``
    (dereverberation adding energy: WPE failing) it is ``-2 Re<Y, C> / |C|^2``, at least 0.
    """
    e_y = np.sum(np.abs(observed) ** 2, axis=(1, 2))  # |Y|^2
    e_c = np.sum(np.abs(change) ** 2, axis=(1, 2))  # |C|^2
    cross = np.sum(np.real(np.conj(observed) * change), axis=(1, 2))  # Re<Y, C>
    floor = e_y * 10 ** (-limit_db / 10)
    e_1 = e_y + 2 * cross + e_c  # e(1)
    c0 = e_y - floor  # e(a) - floor = e_c a^2 + 2 cross a + c0, c0 >= 0
    disc = np.maximum(cross**2 - e_c * c0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = c0 / (-cross + np.sqrt(disc))  # the smaller root, in a stable form
        back = -2 * cross / e_c  # e(a) = |Y|^2 again
    share = np.where(e_1 < floor, np.nan_to_num(root), 1.0)
    share = np.where(e_1 > e_y, np.nan_to_num(back), share)
    return np.clip(share, 0.0, 1.0)


def held_to_the_mids(
    observed: np.ndarray, change: np.ndarray, limits_db: np.ndarray, share: np.ndarray,
    freqs_hz: np.ndarray, mids: np.ndarray,
) -> None:  # fmt: skip
    """Lowers ``share`` (:func:`bounded_share`'s, in place) in the bins from ``HIGHS_HZ`` up so
    that none loses more than WPE took, all told, from ``MIDS_HZ`` to ``HIGHS_HZ``: ``mids``
    sums that band's energy before and after over the bins so far (bins come low to high, so
    all of it before a high one). Rooms' highs decay faster, and read long (the pool hall's
    2.8 s at 8 kHz, 1.5 s measured) WPE took more there than from the mids, which cost the
    rock mixes (docs/results.md "What the wetter DRR's extra removal is made of")."""
    inside = (freqs_hz >= MIDS_HZ) & (freqs_hz < HIGHS_HZ)
    kept = observed[inside] + share[inside, None, None] * change[inside]
    mids += [np.sum(np.abs(observed[inside]) ** 2), np.sum(np.abs(kept) ** 2)]
    highs = freqs_hz >= HIGHS_HZ
    if highs.any() and mids[1] > 0:  # mids silent: nothing to hold the highs to
        taken_db = max(10 * np.log10(mids[0] / mids[1]), 0.0)
        capped = np.minimum(limits_db[highs], taken_db)
        share[highs] = bounded_share(observed[highs], change[highs], capped)
