"""Dereverberation: when blind, WPE bounded by the estimated room and a learned late mask told
that room; Wiener deconvolution with an IR.

* Blind, do no harm: the room is estimated first (:func:`diffmusic_engine.room.estimate_room`),
  then WPE removes late reverberation, and in each frequency bin its change ``C`` is kept only as
  far as the energy taken from the bin's reverberant STFT ``Y`` (over frames and channels) stays
  within what the estimated room's late reverberation holds (:func:`removal_limit_db`, from the
  estimate's RT60 and DRR): the share ``a`` kept solves ``|Y + a C|^2 = |Y|^2 10^(-limit/10)``,
  a quadratic (:func:`bounded_share`); each bin's limit from the shorter of the estimate's RT60
  and its octave band's there (lower in the highs where they decay faster: below). Measured
  (``python -m bench.rooms eval ... --dereverb``, 18 recordings of six songs in 11 simulated
  rooms, docs/results.md): WPE alone did harm on one song in every room (feelings, 1.13-1.68x the
  reverberant input's log-mel distance, 7.6-11.5 dB removed: it predicts and removes the song's
  sustained partials, in a few bins). One share for the whole output kept the other songs' gain less
  well than one per bin (mean 0.883-0.902 against 0.865-0.889 over 7 recordings, max 1.008-1.011
  against 0.971-0.981). A limit of all the reverberation the DRR implies (``q = 1`` below) still did
  harm where the estimate read the DRR too wet (a 0.5 s +3 dB room read -3 dB: 1.04-1.10x); the late
  part only did not. Bounded so, WPE improved every room, 0.5 s included, so it runs on any room the
  estimate reads as reverberant (RT60 ``MIN_RT60_S`` or more, its reverberation ``MIN_REVERB_DB`` or
  more of the energy, confidence ``MIN_CONFIDENCE`` or more): no long-room gate, which could not
  work (the estimate reads a 2.5 s +3 dB hall as 0.96-2.3 s and a 1 s room as up to 1.3 s). But a
  room told under ``PRODUCED_RT60_S`` (0.8 s) may be a production's own reverberation: clean real
  recordings are told up to 0.74 s, and WPE moved them up to 1.29 from themselves (log-mel), so it
  is left alone (option ``min_rt60``). Otherwise, or
  with ``amount`` 0, the input comes back unchanged and the details say why (``"method":
  "none"``, ``"unchanged"``, ``"room"``); with WPE they say how much was removed and allowed
  (``"removed_db"``, from the output waveform, WPE's and the late mask's together;
  ``"limit_db"``, the most WPE may take from any STFT bin: WPE's own figure can read a few
  hundredths of a dB over it, since the inverse STFT of a changed spectrogram does not keep its
  energy exactly: 0.01-0.08 dB on the 18 recordings as they are), in what share of the bins the
  bound held WPE back (``"bounded_bins"``), and what the late mask took after it
  (``"late_removed_db"``).
  Each bin's limit follows the RT60 the estimate reads in its octave band where that is shorter
  (``limit_db`` in the details is the largest bin's: the broadband one wherever a band reads the
  room as long, as the estimate's do near 707 Hz, its broadband RT60 being the 500 Hz and 1 kHz
  bands' geometric mean): measured rooms decay faster in the highs (St Margaret's told 1.03 s at 8
  kHz, 1.29 s broadband), and above 4.8 kHz lay most of internal_degeneration's harm there (0.015 of
  0.022). Limited so, on the cached 26 recordings in 13 rooms (docs/results.md "Blind dereverb's
  harm, what it is made of") the chapel came to 0.936 from 0.944 (2 over 1.00, not 3), each
  recording over 1.00 nearer (St Margaret's 1.077 -> 1.070) or as near, no room's mean up by more
  than 0.001. The band readings stay near the broadband one where a room's highs are far shorter
  (the pool hall's 8 kHz read 2.8 s, 1.5 s measured), so the bins from 4 kHz up also lose no more
  than WPE took, all told, from 250 Hz to 4 kHz (:func:`held_to_the_mids`): the pool's rock mixes
  had lost 3.7-4.3 dB there against 2.6-2.8 in the mids, highs already 6 dB under the dry source
  (docs/results.md "What the wetter DRR's extra removal is made of"; the pool 0.951 -> 0.947,
  no room's mean up by over 0.0001).
* WPE: weighted prediction error (Nakatani et al., 2010) via ``nara_wpe.wpe.wpe`` on an STFT of
  about 93 ms (4096 at 44.1 kHz), 20 taps from a delay of 2 frames: the filter reaches about
  0.5 s back. In each frequency bin the late reverberation is predicted from the frames
  ``delay`` to ``delay + taps - 1`` before, jointly over all channels (the stereo pair shares one
  multichannel prediction filter), and subtracted. The filter weighs each frame by the inverse
  of the estimate's power averaged over ``psd_context`` frames either side (3: +-70 ms at
  44.1 kHz; the weights of one frame's power let a few quiet frames dominate the statistics).
  Averaged so, every room's worst recording moved further from harm: at most 0.9945 in any
  room, where it was up to 1.0002 (the 1 s -8 dB hall, now 0.991), for room means 0.002 lower
  to 0.014 higher; 6 or 10 frames were worse (docs/results.md). Measured in the 2.5 s -8 and
  +3 dB halls (mean without feelings, 7 recordings, unbounded, unsmoothed): 0.934 and 0.758;
  46 ms with 30 taps and delay 3: 0.950 and 0.791; 12 taps: 0.945 and 0.784; 30 taps: 0.933
  and 0.770 at 2.3x the time; a delay of 1 frame removed 11-17 dB (the music's own sustain)
  and, bounded, did worse. So the settings do not follow the estimated RT60 (longer filters
  gained nothing in the long rooms).
  WPE works bin by bin, so the bins go through in chunks, bounded chunk by chunk: progress (and
  cancellation) comes between chunks, and a chunk's working set stays under
  ``WPE_BLOCK_BYTES`` however long the track. Memory grows with the track only through its
  STFT, held once (16 bytes a bin, frame and channel), and the late mask's smaller one (8 bytes a
  bin and frame of its 46 ms STFT, a channel at a time, after WPE's is freed).
* Late-reverberation suppression (Lebart 2001; Habets 2009: the estimated per-band decay and DRR,
  a gain floor of -6 to -20 dB, smoothing over frequency) measured 0.95-1.05x mean alone and
  made bounded WPE's output worse after it (0.833 -> 0.838-0.879 over 12 recordings in the
  2.5 s and 1 s rooms), so it is not used; a second WPE pass or 6 iterations gained under 0.01.
  Neither is WPE's filter loaded on its diagonal (ridge; better in the simulated halls, no
  better and nearer harm in image-method rooms) nor a Wiener gain after WPE from its change's
  power (up to 1.02x the input's distance unless held to the bound, and then worse).
* After WPE, a learned late-reverberation mask told the room estimate
  (:mod:`diffmusic_engine.dsp.late_mask`) takes what WPE's 0.5 s filter cannot reach, at
  ``late_mask`` (default 0.8) of its dB; the details say what it took (``"late_removed_db"``;
  ``"removed_db"`` is WPE's and the mask's together). It needs 32 kHz or more (below, WPE runs
  alone and ``"late_mask_note"`` says so). Masks learned without the room (per frame from
  simulated halls, or with 1.5 s of context from real songs in varied rooms) did harm after
  WPE in a 0.5 s room; told the room, every one of the 16 rooms came closer to the dry source
  than with WPE alone (on held-out songs: 2.5 s -8 dB hall 0.942 -> 0.875, the same hall with
  one tail for both channels 0.958 -> 0.894), no recording over 0.994x (docs/results.md).
  Simulated rooms flatter both: in measured rooms of 0.8-2.5 s (``python -m bench.rooms eval
  --ir``, docs/results.md "Measured rooms": six rooms and four positions in a concert hall)
  the whole blind path reads 0.943-0.986 of the input's distance (0.967 in a 2.5 s chapel,
  0.945-0.967 in the 2.2 s hall), and 21 of their 180 recordings came out further from the dry
  source than the input (by at most 2.9 %, 7.7 % in a church): the estimate reads measured
  rooms' DRR within -6..+5 dB, far drier than the wettest are (their strong early reflections
  are not in the rooms it was fitted on), and the mask generalises less well to them. Most of
  such a recording's distance is the response's colouration, not its reverberation (the input
  through a static equaliser per band reads 0.59-0.88, and nothing here equalises: a guess would
  colour recordings that sound as they should; docs/results.md "What a measured hall's
  distance is made of").
* Known impulse response ``h`` (``y = h * x``, the operator's causal convolution): regularised
  (Wiener) deconvolution in the FFT domain, ``X = Y conj(H) / (|H|^2 + lambda)`` with
  ``lambda = regularization * mean |H|^2`` (default 0.01).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.fft import next_fast_len

from diffmusic_engine.backends import IN_A_DEREVERB_PRESET, LATE_MASK_NOTE, LEFT_OUT, UNCHANGED
from diffmusic_engine.damage import Dereverb
from diffmusic_engine.dsp import late_mask
from diffmusic_engine.dsp.options import MAX_N_FFT, Option, parse_options
from diffmusic_engine.dsp.wpe_bounds import bounded_share, held_to_the_mids, removal_limit_db
from diffmusic_engine.impulse_response import load_impulse_response, wiener_deconvolve
from diffmusic_engine.progress import ProgressCallback, part_of, report
from diffmusic_engine.rates import fitted_frames, samples_at
from diffmusic_engine.room import RoomEstimate, estimate_room
from diffmusic_engine.silence import bridge, keep_silence, silent_samples

WPE_HOP_AT_44K1 = 1024  # WPE's hop fitted at 44.1 kHz (23 ms; frames four hops long)
# A room told shorter than this is left alone (option ``min_rt60``; ``diagnose`` proposes no
# dereverb for it either): no blind reading tells a production's own reverberation from a short
# room that spoils a take. The 14 clean real recordings (rock stems and mixes, eight of other
# kinds) are told 0.13-0.74 s (and 2.43 s: music with a long reverberation of its own), and WPE
# moved 10 of those under 0.8 s 0.13-1.29 from themselves (log-mel; a rock song's stems and mix
# 0.47-0.55); in simulated 0.5 s halls they are told 0.38-0.89 s (and 2.2-2.3 s), in 1 s halls
# 0.75-2.2 s. Left alone under 0.8 s, the 10 dry takes stay as they are, no recording ends further
# from the dry source than before, and the 0.5 s halls give up most of their gain (mean 0.936 ->
# 0.988 and 0.950 -> 1.006 of the input's distance: 10 and 12 of 14 left alone, which had come to
# 0.857-0.963), the measured 0.8 s room 0.951 -> 0.960, the 1 s halls 0.006; rooms of 2.5 s nothing
# (docs/results.md "Blind dereverb and a production's own reverberation"; a clean mix told 0.48 s:
# "What diagnose proposes for a clean recording").
PRODUCED_RT60_S = 0.8
BLIND_OPTIONS = {
    "amount": Option(default=1.0, low=0.0, high=1.0),  # share of the whole change kept
    # a room told shorter (s) is left alone: PRODUCED_RT60_S; 0 acts on any reverberant room
    "min_rt60": Option(default=PRODUCED_RT60_S, low=0.0, high=10.0),
    # share of the learned late-reverberation mask's dB applied after WPE (0: WPE alone)
    "late_mask": Option(default=0.8, low=0.0, high=1.0),
    "n_fft": Option(default=0, low=0, high=MAX_N_FFT, integer=True),  # 0: auto_n_fft, about 93 ms
    "taps": Option(default=20, low=1, high=100, integer=True),  # frames in the prediction filter
    "delay": Option(default=2, low=1, high=50, integer=True),  # frames kept (the direct part)
    "iterations": Option(default=3, low=1, high=20, integer=True),
    "psd_context": Option(default=3, low=0, high=32, integer=True),  # frames each side, WPE's power
    # frequency bins per wpe call, at most (fewer on tracks over ~76 s: WPE_BLOCK_BYTES). Not a
    # free setting in principle: nara_wpe floors each frame's power at 1e-10 of the largest in
    # the call, so bins over 100 dB under a louder bin of their chunk come out differently (one
    # bin a call against all 513 of a 1024 STFT: -42 dB at the peak on a synthetic excerpt, from
    # its near-empty bins above 16 kHz). On real music it did not show: 8 rather than 64 gave
    # the 2.5 s -8 dB hall's 18 recordings the same log-mel ratios (0.942, max 0.9887).
    "chunk": Option(default=64, low=1, high=8192, integer=True),
}
# nara_wpe's working set for one call: about 2 x bins x channels x taps x frames complex128
# values (its stacked taps: 0.67 GB for 64 bins of 3 min of stereo with 20 taps, traced), so a
# long track's chunks hold fewer bins. Clips up to ~76 s of stereo keep 64 bins (every measured
# figure); a 3 min track's 24-bit output was bit-identical with 27.
WPE_BLOCK_BYTES = 256 * 2**20
# nara_wpe's products and solves are per frequency bin and small (taps x channels square: 40 x
# 40 for stereo), too small for a threaded BLAS to split: its threads spend them waiting on each
# other, and when the other cores are busy (a second job, the DAW) on threads the OS has
# descheduled. Measured (bench/wpe_threads.py: a blind restore of 6 s of stereo, 2 cores, median
# of 3) against OpenBLAS's 2 threads: idle 1.0 s against 1.2 s; one core busy 1.2 against 3.6 s;
# both busy 2.3 against 7.0 s (10 s of stereo while two processes made training data: 4 s
# against 242 s). The limit is the process's (threadpoolctl): jobs run one to a process (the
# daemon's dsp processes, the batch's workers), so no other thread's BLAS is held back by it.
WPE_BLAS_THREADS = 1
# the room estimate's share of a blind dereverb's progress (2 s of about 13 for 10 s of stereo)
ROOM_SHARE = 0.15
MASK_SHARE = 0.1  # the late mask's share of what follows (about 1 s after WPE's 8 s, 6 s stereo)
KNOWN_OPTIONS = {
    "amount": BLIND_OPTIONS["amount"],  # the same share kept of Wiener deconvolution's change
    "regularization": Option(default=1e-2, low=0.0, high=10.0),
}
# Blind dereverb's own options, taken (checked) with an impulse response too but left out there,
# the details naming them (LEFT_OUT): one dereverb preset serves both (a user trial: the preset
# with amount that blind's note advises had made the impulse-response path an error)
BLIND_ONLY = {
    name: replace(option, default=None)  # None: in the options only where given
    for name, option in BLIND_OPTIONS.items()
    if name not in KNOWN_OPTIONS
}
OPTIONS = {**BLIND_OPTIONS, **KNOWN_OPTIONS}  # every dereverb's (options_for picks the damage's)
NO_ROOM = (
    "no room could be measured (too short, silent, or a steady sound with no rise and fall to "
    "read it from): nothing removed"
)
MIN_CONFIDENCE = 0.3  # a less certain room estimate leaves the audio as it is
# an estimated RT60 under this is a dry take: synthetic dry excerpts read 0.10-0.16 s; the
# shipped and shared stems and mixes as produced read 0.27-0.72 s (their own reverberation, and
# the estimator's shrinkage), and then WPE takes 0.1-1.0 dB, within the bound (docs/results.md)
MIN_RT60_S = 0.25
MIN_REVERB_DB = 0.5  # reverberation holding less than this (DRR above +9.4 dB): nothing to remove


def options_for(damage: Dereverb) -> dict[str, Option]:
    """Bounded WPE's and the late mask's options when blind, Wiener deconvolution's with a known
    impulse response."""
    return BLIND_OPTIONS if damage.blind else {**BLIND_ONLY, **KNOWN_OPTIONS}


def restore_dereverb(
    audio: np.ndarray,
    sample_rate: int,
    damage: Dereverb,
    options: dict[str, Any],
    callback: ProgressCallback | None,
    impulse_response: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Blind (the room estimated, then :func:`dereverb_in_room`), or Wiener deconvolution by
    ``impulse_response`` (default: ``damage.rir``); either on the audio with its dropouts and
    pauses bridged (:func:`bridge`), which come back as they were."""
    silent = silent_samples(audio, sample_rate)
    bridged = bridge(audio, silent)
    if damage.blind and impulse_response is None:
        room = estimate_room(
            audio, sample_rate, silent=silent, callback=part_of(callback, 0.0, ROOM_SHARE)
        )
        out, details = dereverb_in_room(
            bridged, sample_rate, room, options, part_of(callback, ROOM_SHARE, 1.0)
        )
    else:
        opts = parse_options("dereverb", options, options_for(damage))
        if impulse_response is None:
            impulse_response = load_impulse_response(damage.rir, sample_rate, damage.rir_rate)
        report(callback, 0, 1, "dereverb")
        wiener = wiener_deconvolve(bridged, impulse_response, opts["regularization"])
        out = kept(bridged, wiener, opts["amount"])
        report(callback, 1, 1, "dereverb")
        details = {k: v for k, v in opts.items() if k not in BLIND_ONLY}
        details |= {"method": "wiener", "ir_seconds": impulse_response.shape[-1] / sample_rate}
        if left_out := sorted(set(opts) & set(BLIND_ONLY)):
            details[LEFT_OUT] = left_out
    out = keep_silence(audio, out, silent)
    if "removed_db" in details:  # of what came back, the bridges not counted
        details["removed_db"] = round(removed_db(audio, out), 2)
    return out, details


def dereverb_in_room(
    audio: np.ndarray,
    sample_rate: int,
    room: RoomEstimate | None,
    options: dict[str, Any],
    callback: ProgressCallback | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """WPE bounded by ``room`` (the estimate; ``None``: none could be made), then the late mask
    told ``room`` (``late_mask`` of its dB; at 32 kHz and more), mixed by ``amount``; or the
    input unchanged with the reason in the details. Both are told the room as the free decays
    lengthening the regression's reading only would read it (:meth:`RoomEstimate.lengthened_only`:
    told the shorter, truer room of drums and bass, they removed less; docs/results.md "Free
    decays both ways"); the details' ``"room"`` is the whole estimate, as ``diagnose`` reports
    it, and ``"told_rt60_s"`` the RT60 acted on."""
    opts = parse_options("dereverb", options, BLIND_OPTIONS)
    details: dict[str, Any] = {"room": None if room is None else room.to_dict(), **opts}
    if room is not None:
        room = room.lengthened_only()
        details["told_rt60_s"] = round(room.rt60, 2)
    reason = reason_to_skip(room, opts["amount"], opts["min_rt60"])
    if reason is not None:
        report(callback, 1, 1, "dereverb")
        return audio.copy(), {"method": "none", UNCHANGED: reason, **details}
    n_fft = opts["n_fft"] or auto_n_fft(sample_rate)
    reach_s = opts["delay"] * (n_fft // 4) / sample_rate
    bin_limits_db = removal_limit_db(room, reach_s, np.fft.rfftfreq(n_fft, 1 / sample_rate))
    masking = opts["late_mask"] > 0 and sample_rate >= late_mask.MIN_RATE
    wet, share = wpe_dereverb(
        audio, n_fft=n_fft, taps=opts["taps"], delay=opts["delay"],
        iterations=opts["iterations"], psd_context=opts["psd_context"], chunk=opts["chunk"],
        limit_db=bin_limits_db, sample_rate=sample_rate,
        callback=part_of(callback, 0.0, 1 - MASK_SHARE) if masking else callback,
    )  # fmt: skip
    late_db = 0.0
    if masking:
        wet, late_db = suppress_late(audio, wet, sample_rate, room, opts["late_mask"],
                                     callback=part_of(callback, 1 - MASK_SHARE, 1.0))  # fmt: skip
    elif opts["late_mask"] > 0:
        details[LATE_MASK_NOTE] = (
            f"the late-reverberation mask needs {late_mask.MIN_RATE / 1000:.0f} kHz or more: "
            "WPE alone"
        )
    out = kept(audio, wet, opts["amount"])
    details |= {
        "n_fft": n_fft,
        "limit_db": round(float(bin_limits_db.max()), 2),  # the most any bin may lose
        "removed_db": round(removed_db(audio, out), 2),  # WPE's and the mask's
        "bounded_bins": round(float(np.mean(share < 1)), 3),  # share of bins WPE was held back in
        "late_removed_db": round(late_db, 2),  # what the mask took from WPE's output
    }
    return out, {"method": "wpe", **details}


def kept(before: np.ndarray, after: np.ndarray, amount: float) -> np.ndarray:
    """``amount`` (option ``amount``, 0..1) of the change from ``before`` to ``after``: 1 is
    ``after`` itself, as it was before the option applied to the impulse-response path too."""
    if amount == 1:
        return after.astype(np.float32, copy=False)
    return (before + amount * (after - before)).astype(np.float32)


def suppress_late(
    observed: np.ndarray,
    wpe_out: np.ndarray,
    sample_rate: int,
    room: RoomEstimate,
    share: float,
    net: late_mask.MaskNet | None = None,
    callback: ProgressCallback | None = None,
) -> tuple[np.ndarray, float]:
    """``wpe_out`` through the learned late-reverberation mask read from the reverberant
    ``observed`` in ``room`` at ``share`` of its dB (:mod:`diffmusic_engine.dsp.late_mask`), and
    the energy it took (dB). Progress (and cancellation) after the gains and each channel."""
    steps = 1 + len(wpe_out)
    gains = late_mask.band_gains_db(observed, sample_rate, room, net)
    report(callback, 1, steps, "dereverb")
    out = late_mask.apply_mask(wpe_out, sample_rate, gains, share,
                               callback=part_of(callback, 1 / steps, 1.0))  # fmt: skip
    return out, removed_db(wpe_out, out)


def removed_db(before: np.ndarray, after: np.ndarray) -> float:
    """The energy (dB) taken from ``before`` to leave ``after``."""

    def energy(x: np.ndarray) -> float:
        return max(float(np.sum(np.square(x, dtype=np.float64))), 1e-30)

    return 10 * float(np.log10(energy(before) / energy(after)))


def reason_to_skip(
    room: RoomEstimate | None, amount: float, shortest: float = PRODUCED_RT60_S
) -> str | None:
    """Why blind dereverberation should leave the audio alone, or ``None`` to go ahead: also for
    a room (told) shorter than ``shortest`` s, a production's own reverberation as likely as
    damage (``PRODUCED_RT60_S``; option ``min_rt60``)."""
    if amount == 0:
        return "amount 0: nothing removed"
    if room is None:
        return NO_ROOM
    if room.confidence < MIN_CONFIDENCE:
        return (
            f"the room estimate is uncertain (confidence {room.confidence:.2f} < "
            f"{MIN_CONFIDENCE}): nothing removed; an impulse response (--rir) would help"
        )
    reverb_db = 10 * np.log10(1 + 10 ** (-room.drr_db / 10))
    if room.rt60 < MIN_RT60_S or reverb_db < MIN_REVERB_DB:
        return (
            f"the recording sounds dry (estimated RT60 {room.rt60:.2f} s, DRR "
            f"{room.drr_db:+.1f} dB): little reverberation to remove, so nothing removed"
        )
    if room.rt60 < shortest:  # the batch report and the REAPER actions reword its CLI advice
        return (  # as where their users set it (bridge/notes.py IN_A_CHAIN, placement.lua)
            f"the room reads {room.rt60:.2f} s, no longer than a production's own reverberation "
            f"(under {shortest:g} s), which no blind reading tells from damage: nothing removed; "
            f"min_rt60 = 0 {IN_A_DEREVERB_PRESET} removes it all the same, as the room's "
            "impulse response does (--rir FILE)"
        )
    return None


def auto_n_fft(sample_rate: int) -> int:
    """WPE's STFT size: about 93 ms (4096 samples at 44.1 kHz; its taps and delay count frames)
    and never longer. The power of two nearest 4096 x rate / 44.1 kHz where that is no longer
    (48 and 96 kHz: 85 ms; at 48 kHz measured a little better than 93 ms), else four of
    ``WPE_HOP_AT_44K1``'s hops at the rate in a fast FFT length (16 and 32 kHz, where the power
    of two gave 128 ms: at 32 kHz bounded WPE then took less, fold masks on 18 recordings: the
    1 s hall 0.908 -> 0.882 with 93 ms, the 2 s hall 0.847 -> 0.827; docs/results.md)."""
    hop = fitted_frames(sample_rate, WPE_HOP_AT_44K1)[1]
    return min(samples_at(sample_rate, 4 * WPE_HOP_AT_44K1), 4 * next_fast_len(hop))


def wpe_dereverb(
    audio: np.ndarray,
    *,
    n_fft: int = 4096,
    taps: int = BLIND_OPTIONS["taps"].default,
    delay: int = BLIND_OPTIONS["delay"].default,
    iterations: int = BLIND_OPTIONS["iterations"].default,
    psd_context: int = BLIND_OPTIONS["psd_context"].default,
    chunk: int = BLIND_OPTIONS["chunk"].default,
    limit_db: float | np.ndarray | None = None,
    sample_rate: int | None = None,
    callback: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Multichannel WPE of float32 ``(channels, samples)`` audio: the output (same shape) and,
    per frequency bin, the share of WPE's change kept (:func:`bounded_share` with ``limit_db``,
    one or one per bin; all 1 without; with ``sample_rate`` too, :func:`held_to_the_mids`)."""
    import librosa
    from nara_wpe.wpe import wpe
    from threadpoolctl import threadpool_limits

    hop = n_fft // 4
    n = audio.shape[-1]
    basis, rest = _independent_channels(audio.astype(np.float64))
    components = basis.T @ audio  # (D', n)
    bins, dims = n_fft // 2 + 1, len(components)
    # Y: (F, D', T), nara_wpe's layout. The STFT and its inverse go a channel at a time and WPE's
    # estimate replaces Y in place, so a long track's STFT (0.5 GB for 3 min of stereo) is held
    # once, not three times
    observed = np.empty((bins, dims, 1 + n // hop), dtype=np.complex128)
    for d in range(dims):
        observed[:, d] = librosa.stft(components[d], n_fft=n_fft, hop_length=hop)
    del components
    per_bin = 2 * dims * taps * observed.shape[-1] * np.dtype(np.complex128).itemsize
    chunk = max(1, min(chunk, WPE_BLOCK_BYTES // per_bin))
    share = np.ones(bins)
    freqs = None if sample_rate is None else np.fft.rfftfreq(n_fft, 1 / sample_rate)
    mids = np.zeros(2)  # the mids' energy before and after WPE, the bins so far
    total = -(-bins // chunk)
    report(callback, 0, total, "dereverb")
    with threadpool_limits(limits=WPE_BLAS_THREADS, user_api="blas"):
        for i, first in enumerate(range(0, bins, chunk)):
            block = slice(first, first + chunk)
            change = wpe(
                observed[block], taps=taps, delay=delay, iterations=iterations,
                psd_context=psd_context, statistics_mode="full",
            ) - observed[block]  # fmt: skip
            if limit_db is not None:
                limits = np.broadcast_to(limit_db, (bins,))[block]
                share[block] = bounded_share(observed[block], change, limits)
                if freqs is not None:
                    held_to_the_mids(
                        observed[block], change, limits, share[block], freqs[block], mids
                    )
            observed[block] += share[block, None, None] * change  # Y: the estimate, in place
            report(callback, i + 1, total, "dereverb")
    out = np.stack(  # a channel at a time, as the STFT: no second copy of the whole
        [librosa.istft(observed[:, d], n_fft=n_fft, hop_length=hop, length=n) for d in range(dims)]
    )
    return (basis @ out + rest).astype(np.float32), share


def _independent_channels(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal ``(channels, k)`` basis of the channels' span (the identity when they are
    independent) and what lies outside it (60 dB or more below).

    Multichannel WPE inverts the channels' correlation; identical or proportional channels (mono
    stored as stereo) make it singular and nara_wpe's output blows up (measured: +51 dB on music
    in a hall), so WPE runs on the principal components that carry the signal.
    """
    power, vectors = np.linalg.eigh(audio @ audio.T)  # ascending
    keep = power > 1e-6 * max(power[-1], 1e-30)
    if keep.all():  # nothing outside: a zero column that broadcasts, not a track of zeros
        return np.eye(audio.shape[0]), np.zeros((audio.shape[0], 1))
    basis = vectors[:, keep]
    return basis, audio - basis @ (basis.T @ audio)
