"""Blind rooms: the rooms the room estimator is fitted and measured in, and ``eval`` of it and of
blind dereverberation there (``fit``: :mod:`bench.room_fit`, its data :mod:`bench.room_data`).

    python -m bench.rooms fit  AUDIO_DIR... [--rooms 40]   # diffmusic_engine/room_model.json
    python -m bench.rooms fit  AUDIO_DIR... --mono --shared 0 --out FILE  # tried, not shipped
    python -m bench.rooms eval AUDIO_DIR... [--dereverb] [--mono]  # RT60 error, log-mel ratio
    python -m bench.rooms eval AUDIO_DIR... --dereverb --ir HALL.wav...  # in measured rooms

Each AUDIO_DIR holds dry recordings, ``<song>_<stem>.flac`` (stems ``mix``, ``backing``,
``guitar``, ...); a song with stems and no mix gets their sum as its mix (built in memory).
The repository's own songs: ``diffmusic_engine/evaluation/data/real``. ``eval`` puts each
recording in ``EVAL_ROOMS`` (simulated; the shipped model's figures there are in-sample for
these songs: ``fit`` prints the held-out ones) and reports the RT60 error and, with
``--dereverb``, blind dsp dereverb's log-mel ratio, and the means of the input's and the
output's equalised ratios (``metrics.log_mel_distance(equalised=True)`` over the input's plain
distance: about what a static equaliser could not close; docs/results.md "What a measured hall's
distance is made of"). ``--mono`` takes every recording as its channels' mean (a mono track).
``eval --ir FILE...`` puts the recordings in measured rooms instead (with ``--rooms``, as well):
impulse-response files, a mono or B-format file one response for every channel, a stereo file
one per channel, the truth their T30. Simulated rooms flatter blind dereverb (docs/results.md
"Measured rooms").
"""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from diffmusic_engine.audio import read_audio
from diffmusic_engine.evaluation.rooms import (
    band_rir,
    hall_bands,
    image_source_rir,
    reverberate,
    t30,
    two_slope_rir,
)
from diffmusic_engine.impulse_response import load_impulse_response
from diffmusic_engine.room import (
    MID_BANDS_HZ,
    OCTAVES_HZ,
    estimate_room,
    octave_bands,
)

# (RT60 at mid bands, DRR, shape) of the rooms `eval` reports on. "two-slope": early reflections
# and a decay 0.4x as long over one 15 dB lower; "reflections": early reflections, then one decay
# (neither is one exponential, as a measured hall is not); their true RT60 is the T30 of their
# impulse response at 500 Hz and 1 kHz (what a measurement reads). "shared": a hall whose one
# impulse response every channel goes through (a mono measurement put on a stereo mix), where
# the other rooms draw each channel's tail on its own (14 and 15: such tails over 2 s,
# docs/results.md). "image-small"/"image-hall": shoebox rooms by the image method (IMAGE_ROOMS;
# one microphone, so one response for every channel), a kind of room the estimator is not
# fitted on; RT60 is Sabine's for the absorption, the truth their T30.
EVAL_ROOMS = ((0.5, 3.0, "hall"), (0.5, -3.0, "hall"), (1.0, 0.0, "hall"), (1.0, -8.0, "hall"),
              (1.5, -3.0, "hall"), (2.0, 0.0, "hall"), (2.3, -5.0, "hall"), (2.5, -8.0, "hall"),
              (2.5, 3.0, "hall"), (2.5, -3.0, "two-slope"), (2.0, -5.0, "reflections"),
              (1.5, -3.0, "shared"), (0.8, -4.0, "image-small"),
              (1.8, -4.0, "image-hall"), (2.5, -8.0, "shared"), (2.3, -5.0, "shared"))  # fmt: skip
# shape -> (size, source, microphone) in m; DRR about -4 dB in both (within 2.5 ms of the direct)
IMAGE_ROOMS = {"image-small": ((7.0, 5.0, 3.0), (2.0, 3.1, 1.6), (3.0, 2.6, 1.5)),
               "image-hall": ((20.0, 14.0, 8.0), (6.0, 7.0, 1.8), (9.0, 5.5, 1.6))}  # fmt: skip
DRY_RT60, DRY_DRR_DB = 0.15, 15.0
DIRECT_S = 0.0025  # the DRR's direct part: the response's first 2.5 ms
FIT_RT60_S = (0.3, 3.0)  # the random rooms of `fit` (log-uniform; 0.3-4 s measured worse)
FIT_DRR_DB = (-10.0, 5.0)  # and their DRR (uniform; -10..+8 measured no better)
TWO_SLOPE_FAST = (0.3, 1.0)  # early decay / late decay of the two-slope training rooms
TWO_SLOPE_DROP_DB = (5.0, 25.0)  # how far below the early decay the late one starts
# --mono's help: fit's, eval's and bench.late_mask eval's
MONO_HELP = "each recording as its channels' mean (a mono track)"
Source = tuple[str, np.ndarray, int]  # (song, audio, sample rate)
RoomSpec = int | Path  # a room to eval in: an EVAL_ROOMS index, or a measured response's file


def sources(folders: list[Path], synthetic: int) -> list[Source]:
    """Every recording of ``folders`` by song, plus a mix summed from stems where none is."""
    found, stems = [], {}
    for folder in folders:
        for path in sorted(folder.glob("*.flac")) + sorted(folder.glob("*.wav")):
            audio, info = read_audio(path)
            song, _, stem = path.stem.rpartition("_")
            found.append((song or stem, audio, info.sample_rate))
            stems.setdefault(song, {})[stem] = (audio, info.sample_rate)
    for song, parts in stems.items():
        if "mix" not in parts and len(parts) > 1:
            found.append((song, np.sum([a for a, _ in parts.values()], axis=0), next(
                iter(parts.values()))[1]))  # fmt: skip
    if synthetic:
        from diffmusic_engine.synth import music_excerpt

        found += [(f"synth{s}", music_excerpt(10.0, 44100, channels=2, seed=s), 44100)
                  for s in range(synthetic)]  # fmt: skip
    return found


def random_room(
    rng: np.random.Generator, two_slope: bool, rate: int, channels: int
) -> tuple[np.ndarray, dict[int, float], float]:
    """Impulse responses, true RT60 per band and DRR of a random room: one exponential decay
    per band (its RT60 the truth), or (``two_slope``) early reflections and a fast decay over a
    slower one (random ratio and drop; the truth is the T30 a measurement reads)."""
    rt60 = float(np.exp(rng.uniform(*np.log(FIT_RT60_S))))
    drr = float(rng.uniform(*FIT_DRR_DB))
    tilt = np.exp(np.cumsum(rng.normal(0, 0.08, len(OCTAVES_HZ)))[::-1])
    bands = {
        b: rt60 * t / np.sqrt(tilt[2] * tilt[3]) for b, t in zip(OCTAVES_HZ, tilt, strict=True)
    }
    if not two_slope:
        return (
            band_rir(bands, drr, rate, channels=channels, seed=int(rng.integers(2**31))),
            bands,
            drr,
        )
    fast, drop = rng.uniform(*TWO_SLOPE_FAST), rng.uniform(*TWO_SLOPE_DROP_DB)
    # the drawn RT60 is the geometric mean of the early (fast x late) and the late decay time
    bands = {b: t / np.sqrt(fast) for b, t in bands.items()}
    irs = two_slope_rir(bands, drr, rate, channels=channels, seed=int(rng.integers(2**31)),
                        fast=fast, drop_db=drop)  # fmt: skip
    measured = {b: t30(irs, rate, b) if b in octave_bands(rate) else t
                for b, t in bands.items()}  # fmt: skip
    return irs, measured, drr


def eval_room(index: int, source: int, rate: int, channels: int) -> tuple[np.ndarray, float]:
    """The impulse responses of ``EVAL_ROOMS[index]`` for one source (``(channels, L)``, or
    ``(1, L)`` for every channel), and its true RT60."""
    rt60, drr, shape = EVAL_ROOMS[index]
    seed = 1000 + 10 * index + source
    if shape in ("hall", "shared"):  # "shared": one response (1, L) for every channel
        tails = channels if shape == "hall" else 1
        return band_rir(hall_bands(rt60), drr, rate, channels=tails, seed=seed), rt60
    if shape in IMAGE_ROOMS:
        irs = image_source_rir(rt60, *IMAGE_ROOMS[shape], rate)[None]
        return irs, measured_t_mid(irs, rate)
    fast = 0.4 if shape == "two-slope" else 1.0
    irs = two_slope_rir(hall_bands(rt60), drr, rate, channels=channels, seed=seed, fast=fast)
    return irs, measured_t_mid(irs, rate)


def measured_t_mid(impulse_responses: np.ndarray, rate: int) -> float:
    """The RT60 a measurement reads: T30 at 500 Hz and 1 kHz (geometric mean, T_mid)."""
    return float(np.exp(np.mean([np.log(t30(impulse_responses, rate, f)) for f in MID_BANDS_HZ])))


def as_channels(items: list[Source], mono: bool) -> list[Source]:
    """``items``, or (``mono``) each as the mean of its channels: a mono track."""
    return [(s, a.mean(axis=0, keepdims=True), r) for s, a, r in items] if mono else items


def room_label(irs: np.ndarray | None, rate: int) -> np.ndarray:
    """log T30 per octave band of ``irs`` and its DRR (dB): the room a response holds (what the
    late mask is told in training, what a measured room's rows in the estimator's fit are
    fitted to); a band past the rate's :func:`octave_bands` takes the highest one's T30."""
    if irs is None:
        return np.array([np.log(DRY_RT60)] * len(OCTAVES_HZ) + [DRY_DRR_DB], np.float32)
    power = irs.astype(np.float64) ** 2
    direct = np.sum(power[:, : int(DIRECT_S * rate)], axis=-1)
    drr = 10 * np.log10(direct / np.maximum(np.sum(power, axis=-1) - direct, 1e-12))
    t30s = [t30(irs, rate, f) for f in octave_bands(rate)]
    t30s += [t30s[-1]] * (len(OCTAVES_HZ) - len(t30s))
    return np.array([*np.log(t30s), float(np.mean(drr))], np.float32)


def measured_room(path: Path, rate: int, channels: int) -> np.ndarray:
    """A measured impulse response file as ``(channels, L)`` or ``(1, L)`` (one for every
    channel) at ``rate``, from 0.5 ms before its direct path (the first sample at half its
    peak): a B-format file's W (its first of four channels) alone, and any other count of
    channels than 1 or ``channels`` its first."""
    ir = np.atleast_2d(load_impulse_response(path, rate)).astype(np.float64)
    if ir.shape[0] not in (1, channels):
        ir = ir[:1]
    level = np.max(np.abs(ir), axis=0)
    start = max(0, int(np.argmax(level >= 0.5 * level.max())) - int(0.0005 * rate))
    return (ir[:, start:] / level.max()).astype(np.float32)


def chosen_rooms(rooms: list[int] | None, measured: list[Path] | None) -> list[RoomSpec]:
    """The rooms an ``eval`` measures in: the ``EVAL_ROOMS`` indices given (all, when neither
    ``rooms`` nor ``measured`` files are), then the measured files."""
    default = () if measured else range(len(EVAL_ROOMS))
    return [*(rooms or default), *(measured or ())]


def add_room_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rooms`` and ``--ir``, as every ``eval`` takes them (:func:`chosen_rooms`)."""
    parser.add_argument(
        "--rooms", type=int, nargs="+", choices=range(len(EVAL_ROOMS)), metavar="INDEX",
        help="EVAL_ROOMS indices (default: all, none with --ir)",
    )  # fmt: skip
    parser.add_argument(
        "--ir", type=Path, nargs="+", help="measured impulse responses (files) to eval in"
    )


def room_name(room: RoomSpec) -> str:
    if isinstance(room, Path):
        return f"{room.name} (measured)"
    rt60, drr, shape = EVAL_ROOMS[room]
    return f"{shape} RT60 {rt60:.1f} s DRR {drr:+.0f} dB"


def room_responses(
    room: RoomSpec, source: int, rate: int, channels: int
) -> tuple[np.ndarray, float]:
    """The impulse responses of a chosen room for one source (``(channels, L)`` or ``(1, L)``)
    and its true RT60: :func:`eval_room`'s, or a measured file's (the truth its T30)."""
    if isinstance(room, Path):
        return measured_responses(room, rate, channels)
    return eval_room(room, source, rate, channels)


@cache
def measured_responses(path: Path, rate: int, channels: int) -> tuple[np.ndarray, float]:
    """A measured room's responses and T30, read once a process (each recording's the same)."""
    irs = measured_room(path, rate, channels)
    irs.flags.writeable = False  # shared by every recording: read only
    return irs, measured_t_mid(irs, rate)


def command_eval(args: argparse.Namespace) -> None:
    from diffmusic_engine.metrics import log_mel_distance

    items = as_channels(sources(args.audio, 0), args.mono)
    for chosen in chosen_rooms(args.rooms, args.ir):
        name = room_name(chosen)
        errors, ratios, equalised_ratios, details, truths = [], [], [], [], []
        bar = tqdm(items, desc=name, unit="recording", leave=False)
        for j, (_, audio, rate) in enumerate(bar):
            irs, truth = room_responses(chosen, j, rate, audio.shape[0])
            wet = reverberate(audio, irs)
            room = estimate_room(wet, rate)
            errors.append(room.rt60 / truth - 1 if room else 1.0)
            truths.append(truth)
            if args.dereverb:
                from diffmusic_engine.api import restore
                from diffmusic_engine.damage import Dereverb

                result = restore(wet, rate, Dereverb(), options=json.loads(args.options))
                details.append(result.details.get("method"))
                before = log_mel_distance(audio, wet, rate)
                ratios.append(log_mel_distance(audio, result.audio, rate) / before)
                # what colouration holds: the input and the output, equalised per band
                equalised_ratios.append([log_mel_distance(audio, x, rate, equalised=True) / before
                                  for x in (wet, result.audio)])  # fmt: skip
        line = (
            f"{name}: RT60 (true {np.median(truths):.2f} s) median |error| "
            f"{np.median(np.abs(errors)):.2f} (signed {np.round(errors, 2).tolist()})"
        )
        if ratios:
            input_eq, output_eq = np.mean(equalised_ratios, axis=0)
            line += (f"; log-mel ratio mean {np.mean(ratios):.3f} max {np.max(ratios):.4f} "
                     f"{sorted(set(details))}; equalised: input {input_eq:.3f}, "
                     f"output {output_eq:.3f}")  # fmt: skip
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    from bench.room_fit import add_fit_parser  # here: room_fit imports this module

    add_fit_parser(sub)
    eval_parser = sub.add_parser("eval")
    eval_parser.add_argument("audio", type=Path, nargs="+")
    eval_parser.add_argument("--dereverb", action="store_true", help="also blind dsp dereverb")
    add_room_arguments(eval_parser)
    eval_parser.add_argument("--options", default="{}", help="dereverb options, JSON")
    eval_parser.add_argument("--mono", action="store_true", help=MONO_HELP)
    eval_parser.set_defaults(func=command_eval)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
