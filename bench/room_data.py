"""The room estimator's fitting data (``python -m bench.rooms fit``): the recordings' features in
random simulated rooms, in ``EVAL_ROOMS`` and in measured rooms (``--measured``: drawn;
``--held-out``: every recording, as measured), and their cache (``--cache FILE.npz``: each part
keyed by the command's settings that built it, :func:`cache_keys`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.rooms import (
    DIRECT_S,
    DRY_DRR_DB,
    DRY_RT60,
    EVAL_ROOMS,
    RoomSpec,
    Source,
    as_channels,
    measured_responses,
    random_room,
    room_label,
    room_responses,
    sources,
)
from diffmusic_engine.atomic import replacing
from diffmusic_engine.evaluation.rooms import reverberate
from diffmusic_engine.room import OCTAVES_HZ, room_features

TWO_SLOPE_ROOMS = 20  # per source and seed, beside the --rooms halls
SHARED_ROOMS = 10  # halls with one tail for every channel, per source and seed
# Each source's own random streams, ``[seed, tag, source]``: the other kinds' numbers leave
# each kind's rooms as they are (the halls draw from ``seed`` itself)
TWO_SLOPE_STREAM, ONE_TAIL_STREAM, MEASURED_STREAM = 2, 3, 4
# Measured rooms (`fit --measured FILE...`): per source and seed this many draws of a file, each
# one's reverberation (after its first DIRECT_S) scaled by up to MEASURED_GAIN_DB either way (its
# DRR varied), its truth its T30 per band and DRR (docs/results.md "Measured rooms in the fit").
MEASURED_DRAWS, MEASURED_GAIN_DB = 8, 6.0


def dataset(
    items: list[Source], rooms: int, seed: int, two_slope: int = 0, shared: int = 0
) -> tuple[np.ndarray, ...]:
    """Features, targets (log RT60 per band, then DRR) and song names of random rooms: per
    source, ``rooms`` halls, ``two_slope`` rooms of two slopes and ``shared`` halls with one
    tail for every channel (each kind its own random stream, so the halls stay the same whatever
    the others' number) and the source itself, dry."""
    rng = np.random.default_rng(seed)
    features, targets, songs = [], [], []
    for j, (song, audio, rate) in enumerate(items):
        started = time.perf_counter()
        shaped = np.random.default_rng([seed, TWO_SLOPE_STREAM, j])
        one_tail = np.random.default_rng([seed, ONE_TAIL_STREAM, j])
        for k in range(rooms + two_slope + shared + 1):
            if k == rooms + two_slope + shared:  # the source itself, dry
                bands, drr, wet = {b: DRY_RT60 for b in OCTAVES_HZ}, DRY_DRR_DB, audio
            elif k >= rooms + two_slope:  # one response (1, L) for every channel
                irs, bands, drr = random_room(one_tail, False, rate, 1)
                wet = reverberate(audio, irs)
            else:
                irs, bands, drr = random_room(rng if k < rooms else shaped, k >= rooms, rate,
                                              audio.shape[0])  # fmt: skip
                wet = reverberate(audio, irs)
            features.append(room_features(wet, rate))
            targets.append([np.log(bands[b]) for b in OCTAVES_HZ] + [drr])
            songs.append(song)
        print(f"  {song}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return np.array(features), np.array(targets), np.array(songs)


def measured_dataset(
    items: list[Source], files: list[Path], draws: int, seed: int
) -> tuple[np.ndarray, ...]:
    """Features, targets (log T30 per band, then DRR: :func:`room_label`) and song names of
    ``items`` in measured rooms: per source, ``draws`` of ``files`` (``MEASURED_GAIN_DB``)."""
    features, targets, songs = [], [], []
    for j, (song, audio, rate) in enumerate(items):
        rng = np.random.default_rng([seed, MEASURED_STREAM, j])
        for _ in range(draws):
            irs = measured_responses(files[rng.integers(len(files))], rate, audio.shape[0])[0]
            irs = irs.astype(np.float64)  # a copy: the cached one is read only
            gain_db = rng.uniform(-MEASURED_GAIN_DB, MEASURED_GAIN_DB)
            irs[:, int(DIRECT_S * rate) :] *= 10 ** (gain_db / 20)
            features.append(room_features(reverberate(audio, irs.astype(np.float32)), rate))
            targets.append(room_label(irs, rate))
            songs.append(song)
    return np.array(features), np.array(targets), np.array(songs)


def eval_dataset(
    items: list[Source], rooms: Sequence[RoomSpec] = range(len(EVAL_ROOMS))
) -> tuple[np.ndarray, ...]:
    """Features ``(rooms, items, bands, F)`` and true RT60s ``(rooms, items)`` of ``items`` in
    ``rooms`` (EVAL_ROOMS indices, or measured files as measured: :func:`room_responses`)."""
    features = [[None] * len(items) for _ in rooms]
    truths = np.zeros((len(rooms), len(items)))
    for j, (song, audio, rate) in enumerate(items):
        started = time.perf_counter()
        for i, room in enumerate(rooms):
            irs, truths[i, j] = room_responses(room, j, rate, audio.shape[0])
            features[i][j] = room_features(reverberate(audio, irs), rate)
        print(f"  eval {song}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return np.array(features), truths


def held_out_dataset(args: argparse.Namespace, item_songs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Features ``(files, items, bands, F)`` and T30s ``(files, items)`` of the real recordings
    (``eval_dataset``'s, in its order) in each ``--held-out`` measured response, as measured."""
    fitted = {path.resolve() for path in args.measured or ()}
    if fitted & {path.resolve() for path in args.held_out}:
        raise SystemExit("--held-out: a file also given to --measured is not held out")
    items = as_channels(sources(args.audio, 0), args.mono)
    if [song for song, _, _ in items] != item_songs.tolist():
        raise SystemExit("--held-out: the recordings differ from the cache's: give its AUDIO_DIR")
    with ProcessPoolExecutor(args.jobs) as pool:  # a file a task
        parts = list(pool.map(eval_dataset, [items] * len(args.held_out),
                              [[path] for path in args.held_out]))  # fmt: skip
    return np.concatenate([f for f, _ in parts]), np.concatenate([t for _, t in parts])


def cache_keys(args: argparse.Namespace) -> dict[str, list[str]]:
    """What each part of the feature cache was built from: a part is rebuilt when it differs."""
    audio = [str(folder.resolve()) for folder in args.audio] + [f"mono {args.mono}"]
    return {
        "simulated_key": audio + [f"rooms {args.rooms}, two-slope {args.two_slope}, shared "
                                  f"{args.shared}, synthetic {args.synthetic}, seeds {args.seed}",
                                  f"EVAL_ROOMS {EVAL_ROOMS}"],
        "measured_key": audio + [str(path.resolve()) for path in args.measured or ()] + [
            f"draws {args.measured_draws}, gain {MEASURED_GAIN_DB} dB, seeds {args.seed}, "
            f"synthetic {args.synthetic}"],
    }  # fmt: skip


def fit_features(args: argparse.Namespace, cache: Path | None) -> dict[str, np.ndarray]:
    """The simulated rooms' features (``dataset``'s, ``eval_dataset``'s) and, with
    ``--measured``, the measured rooms' (``measured_``...), from ``cache`` where it holds them
    as :func:`cache_keys` asks: the measured part is rebuilt when its settings differ, a cache
    whose simulated part's differ is refused (the keys record the command's settings, not the
    code's constants)."""
    saved = {}
    if cache and cache.exists():
        with np.load(cache) as file:
            saved = dict(file)
    keys = cache_keys(args)
    keyless = bool(saved) and "simulated_key" not in saved  # made before the keys
    if keyless:
        _check_keyless(saved, args, cache)
    stale = {name for name, key in keys.items() if name not in saved or saved[name].tolist() != key}
    if saved and not keyless and "simulated_key" in stale:  # ~8 min of features: never replaced
        raise SystemExit(f"{cache}: its simulated rooms were made with other settings "
                         f"({'; '.join(saved['simulated_key'].tolist())}): give those, or "
                         "another --cache")  # fmt: skip
    build_simulated = not saved
    build_measured = bool(args.measured) and "measured_key" in stale
    if build_simulated or build_measured:
        items = as_channels(sources(args.audio, args.synthetic), args.mono)
        with ProcessPoolExecutor(args.jobs) as pool:  # each seed's rooms and EVAL_ROOMS at once
            if build_simulated:
                saved |= _simulated_part(pool, items, args)
            if build_measured:
                parts = [pool.submit(measured_dataset, items, args.measured, args.measured_draws,
                                     seed) for seed in args.seed]  # fmt: skip
                saved |= _joined([part.result() for part in parts], "measured_")
        built = [name for name, done in (("simulated_key", build_simulated),
                                         ("measured_key", build_measured)) if done]  # fmt: skip
        saved |= {name: np.array(keys[name]) for name in built}
        if cache:
            with replacing(cache) as temporary, open(temporary, "wb") as file:
                np.savez(file, **saved)
    return saved


def _check_keyless(saved: dict[str, np.ndarray], args: argparse.Namespace, cache: Path) -> None:
    """A cache made before :func:`cache_keys`: taken as it is where its mono and EVAL_ROOMS
    agree (the rest of its settings unrecorded)."""
    cached_mono = "mono" in saved and bool(saved["mono"])  # caches before it: stereo
    if cached_mono != args.mono:
        raise SystemExit(f"{cache}: made {'without' if args.mono else 'with'} --mono: give "
                         "another --cache")  # fmt: skip
    if len(saved["truths"]) != len(EVAL_ROOMS):
        raise SystemExit(f"{cache}: made with {len(saved['truths'])} EVAL_ROOMS, not "
                         f"{len(EVAL_ROOMS)}: delete it, or give another --cache")  # fmt: skip
    print(f"{cache}: no record of its settings; its simulated rooms taken as they are",
          file=sys.stderr)  # fmt: skip


def _simulated_part(pool, items: list[Source], args: argparse.Namespace) -> dict[str, np.ndarray]:
    """``dataset`` per seed and ``eval_dataset``, built in ``pool``."""
    real_items = [item for item in items if not item[0].startswith("synth")]
    parts = [pool.submit(dataset, items, args.rooms, seed, args.two_slope, args.shared)
             for seed in args.seed]  # fmt: skip
    evaluated = pool.submit(eval_dataset, real_items)
    eval_features, truths = evaluated.result()
    return _joined([part.result() for part in parts]) | {
        "eval_features": eval_features, "truths": truths, "mono": np.array(args.mono),
        "item_songs": np.array([song for song, _, _ in real_items])}  # fmt: skip


def _joined(parts: list[tuple[np.ndarray, ...]], prefix: str = "") -> dict[str, np.ndarray]:
    """Each seed's ``(features, targets, songs)`` joined, under ``prefix`` + those names."""
    names = ("features", "targets", "songs")
    return {prefix + name: np.concatenate(part)
            for name, part in zip(names, zip(*parts, strict=True), strict=True)}  # fmt: skip
