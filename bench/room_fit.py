"""Fitting the room estimator (``python -m bench.rooms fit``): the recordings' features in random
rooms, the ridge regressions of :mod:`diffmusic_engine.room` and their penalties by leaving one
song out.

``fit`` chooses the ridge penalty by leaving one song out, reports each ``EVAL_ROOMS`` room's
error on songs the model was not fitted on (the honest number: ``eval`` of the shipped model is
in-sample), then fits on everything. The random rooms are halls (one decay per band, its RT60
the truth) and rooms of two slopes (``--two-slope``: early reflections, a fast decay over a
slower one, the truth their T30, as for the eval rooms) and halls whose one tail every channel
shares (``--shared``: a mono impulse response put on a stereo mix; the others draw a tail per
channel). Synthetic excerpts (``diffmusic_engine.synth``) join the fit, and every source also
joins dry (RT60 ``DRY_RT60``, DRR ``DRY_DRR_DB``), so a dry take reads as dry. ``--mono`` takes
every recording as its channels' mean (a mono track; a shared tail is then a hall, hence
``--shared 0``): ``fit --mono`` is the mono model tried and not shipped (docs/results.md).
``fit --measured FILE...`` adds the recordings in measured rooms (``MEASURED_DRAWS`` draws of
the files per source and seed) to the long-room regression only; the shipped model is ``fit
../shared/audio diffmusic_engine/evaluation/data/real --measured <42 files> --long-alpha 1000``
(the files and where they come from: docs/results.md "Measured rooms in the fit").
``fit --held-out FILE...`` also reports the error, songs left out, in measured rooms not
fitted on (each real recording in each file, as ``eval --ir`` puts it there).
``--cache FILE.npz`` keeps the features (the simulated ones take ~8 min to build on 2 cores,
the measured ones ~1 min: rebuilt when their settings differ; a cache of other simulated
settings is refused).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.rooms import (
    DIRECT_S,
    DRY_DRR_DB,
    DRY_RT60,
    EVAL_ROOMS,
    MONO_HELP,
    RoomSpec,
    Source,
    as_channels,
    eval_room,
    measured_responses,
    random_room,
    room_label,
    room_name,
    sources,
)
from diffmusic_engine.atomic import replacing, write_text_atomic
from diffmusic_engine.evaluation.rooms import reverberate
from diffmusic_engine.room import (
    MODEL_FILE,
    OCTAVES_HZ,
    _design,
    _predict,
    long_share,
    room_features,
)

TWO_SLOPE_ROOMS = 20  # per source and seed, beside the --rooms halls
# Each source's own random streams, ``[seed, tag, source]``: the other kinds' numbers leave
# each kind's rooms as they are (the halls draw from ``seed`` itself)
TWO_SLOPE_STREAM, ONE_TAIL_STREAM, MEASURED_STREAM = 2, 3, 4
SHARED_ROOMS = 10  # halls with one tail for every channel, per source and seed
ALPHAS = np.logspace(-1, 4, 11)
# Measured rooms (`fit --measured FILE...`): per source and seed this many draws of a file, each
# one's reverberation (after its first DIRECT_S) scaled by up to MEASURED_GAIN_DB either way (its
# DRR varied), its truth its T30 per band and DRR. They join only the long-room regression, each
# row MEASURED_WEIGHT times: the simulated rooms alone read measured halls 20-30 % short, and in
# the first regression measured rows pulled the 0.5 s halls long (docs/results.md "Measured
# rooms in the fit").
MEASURED_DRAWS, MEASURED_GAIN_DB, MEASURED_WEIGHT = 8, 6.0, 2


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


def eval_dataset(items: list[Source]) -> tuple[np.ndarray, ...]:
    """Features ``(rooms, items, bands, F)`` and true RT60s ``(rooms, items)`` of EVAL_ROOMS."""
    features = [[None] * len(items) for _ in EVAL_ROOMS]
    truths = np.zeros((len(EVAL_ROOMS), len(items)))
    for j, (song, audio, rate) in enumerate(items):
        started = time.perf_counter()
        for i in range(len(EVAL_ROOMS)):
            irs, truths[i, j] = eval_room(i, j, rate, audio.shape[0])
            features[i][j] = room_features(reverberate(audio, irs), rate)
        print(f"  eval {song}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return np.array(features), truths


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    mean = y.mean()
    weights = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ (y - mean))
    return weights, float(mean)


def fit(
    features: np.ndarray,
    targets: np.ndarray,
    train: np.ndarray,
    alpha: float,
    long_alpha=None,
    measured: np.ndarray | None = None,
) -> dict:
    """The model of estimate_room; with ``long_alpha``, also its long-room regression, fitted
    on the rooms the first one reads long (:func:`~diffmusic_engine.room.long_share` above 0).
    Rows ``measured`` marks (measured rooms) join only the long-room regression, each
    ``MEASURED_WEIGHT`` times."""
    rows = np.flatnonzero(train)
    simulated = np.ones(len(rows), bool) if measured is None else ~measured[rows]
    design = np.stack([_design(f) for f in features[rows]])  # (n, bands, 2F)
    model = rt60_ridge(design[simulated], targets[rows][simulated], alpha)
    z = (design - np.asarray(model["mean"])) / np.asarray(model["scale"])
    drr_w, drr_b = ridge(z[simulated].mean(1), targets[rows][simulated, -1], alpha)
    model |= {"drr_weights": drr_w.tolist(), "drr_bias": drr_b, "alpha": alpha}
    if long_alpha is not None:
        long = long_share(z @ np.asarray(model["rt60_weights"]) + model["rt60_bias"]) > 0
        times = np.where(simulated, 1, MEASURED_WEIGHT)[long]
        long_design = np.repeat(design[long], times, axis=0)
        long_targets = np.repeat(targets[rows][long], times, axis=0)
        model["long"] = rt60_ridge(long_design, long_targets, long_alpha)
        model["long"]["alpha"] = long_alpha
    return model


def rt60_ridge(design: np.ndarray, targets: np.ndarray, alpha: float) -> dict:
    """Standardisation and ridge weights from ``(n, bands, 2F)`` designs to log RT60 per band."""
    flat = design.reshape(-1, design.shape[-1])
    mean, scale = flat.mean(0), flat.std(0) + 1e-9
    z = (design - mean) / scale
    weights, bias = ridge(z.reshape(-1, z.shape[-1]), targets[:, : z.shape[1]].reshape(-1), alpha)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "rt60_weights": weights.tolist(),
            "rt60_bias": bias}  # fmt: skip


def predict(model: dict, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log RT60 ``(n, bands)`` and DRR ``(n,)``, as estimate_room reads them."""
    found = [_predict(model, f) for f in features]
    return np.array([r for r, _, _ in found]), np.array([d for _, d, _ in found])


def mid_error(log_rt60: np.ndarray, true_rt60: np.ndarray) -> np.ndarray:
    """Estimated T_mid / true - 1."""
    return np.exp(log_rt60[:, 2:4].mean(1)) / true_rt60 - 1


def leave_one_song_out(
    features, targets, songs, alpha: float, evaluation=None, long_alpha=None, measured=None
) -> tuple:
    """Per real song: median |RT60 error| on its random rooms (measured ones too), and (with
    ``evaluation``, ``(features, truths, item songs)``) each evaluated room's errors, all from
    models fitted without that song."""
    real = sorted({s for s in songs if not s.startswith("synth")})
    per_song, per_room = {}, None
    if evaluation is not None:
        per_room = np.zeros(evaluation[1].shape)
    for song in real:
        model = fit(features, targets, songs != song, alpha, long_alpha, measured)
        log_rt60, _ = predict(model, features[songs == song])
        per_song[song] = float(np.median(np.abs(mid_error(log_rt60, np.exp(
            targets[songs == song, 2:4].mean(1))))))  # fmt: skip
        if evaluation is not None:
            held = evaluation[2] == song
            for i, room_features_i in enumerate(evaluation[0]):
                per_room[i, held] = mid_error(predict(model, room_features_i[held])[0],
                                              evaluation[1][i, held])  # fmt: skip
    return per_song, per_room


def command_fit(args: argparse.Namespace) -> None:
    if args.mono and args.out.resolve() == MODEL_FILE.resolve():
        raise SystemExit("--mono fits a model the product does not use (docs/results.md): give "
                         "--out FILE")  # fmt: skip
    data = fit_features(args, Path(args.cache) if args.cache else None)
    features, targets, songs = data["features"], data["targets"], data["songs"]
    measured = np.zeros(len(songs), bool)
    if args.measured:
        features = np.concatenate([features, data["measured_features"]])
        targets = np.concatenate([targets, data["measured_targets"]])
        songs = np.concatenate([songs, data["measured_songs"]])
        measured = np.arange(len(songs)) >= len(data["songs"])
    alphas = [args.alpha] if args.alpha else ALPHAS
    alpha = choose_alpha(features, targets, songs, alphas, None, measured)
    long_alphas = [args.long_alpha] if args.long_alpha else ALPHAS
    long_alpha = choose_alpha(features, targets, songs, long_alphas, alpha, measured)
    print(
        f"chosen alpha {alpha:g}, long-room alpha {long_alpha:g}; each room on songs left out "
        f"of the fit ({len(set(data['item_songs']))} songs, {len(data['item_songs'])} recordings):"
    )
    print_room_errors(args, data, (features, targets, songs, measured), alpha, long_alpha)
    model = fit(features, targets, np.ones(len(songs), bool), alpha, long_alpha, measured)
    model["fitted_on"] = sorted(set(songs.tolist()))
    if args.measured:
        model["measured_rooms"] = sorted(path.name for path in args.measured)
    write_text_atomic(args.out, json.dumps(model, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")


def print_room_errors(args, data, rows, alpha: float, long_alpha: float) -> None:
    """Each EVAL room's RT60 errors, and each ``--held-out`` measured room's, on songs left out of
    the fit of ``rows`` (features, targets, songs, measured)."""
    rooms: list[RoomSpec] = list(range(len(EVAL_ROOMS)))
    eval_features, truths, item_songs = data["eval_features"], data["truths"], data["item_songs"]
    if args.held_out:
        held_features, held_truths = held_out_dataset(args, item_songs)
        rooms += args.held_out
        eval_features = np.concatenate([eval_features, held_features])
        truths = np.concatenate([truths, held_truths])
    features, targets, songs, measured = rows
    evaluation = (eval_features, truths, item_songs)
    _, per_room = leave_one_song_out(
        features, targets, songs, alpha, evaluation, long_alpha, measured
    )
    for room, errors, truth in zip(rooms, per_room, truths, strict=True):
        print(
            f"  {room_name(room)} (true {np.median(truth):.2f}): median |error| "
            f"{np.median(np.abs(errors)):.2f}, median signed {np.median(errors):+.2f}, worst song "
            f"{max(np.median(np.abs(errors[item_songs == s])) for s in set(item_songs)):.2f}"
        )


def held_out_dataset(args: argparse.Namespace, item_songs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Features ``(files, items, bands, F)`` and T30s ``(files, items)`` of the real recordings
    (``eval_dataset``'s, in its order) in each ``--held-out`` measured response, as measured."""
    fitted = {path.resolve() for path in args.measured or ()}
    if fitted & {path.resolve() for path in args.held_out}:
        raise SystemExit("--held-out: a file also given to --measured is not held out")
    items = as_channels(sources(args.audio, 0), args.mono)
    if [song for song, _, _ in items] != item_songs.tolist():
        raise SystemExit("--held-out: the recordings differ from the cache's: give its AUDIO_DIR")
    tasks = [(path, item) for path in args.held_out for item in items]
    with ProcessPoolExecutor(args.jobs) as pool:
        found = list(pool.map(_in_measured_room, tasks))
    shape = (len(args.held_out), len(items))
    features = np.array([f for f, _ in found])
    return features.reshape(*shape, *features.shape[1:]), np.array([t for _, t in found]).reshape(
        shape
    )


def _in_measured_room(task: tuple[Path, Source]) -> tuple[np.ndarray, float]:
    """One recording's features in one measured response, and the response's T30."""
    path, (_, audio, rate) = task
    irs, truth = measured_responses(path, rate, audio.shape[0])
    return room_features(reverberate(audio, irs), rate), truth


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
    saved.pop("measured_files", None)  # the measured part's record before the keys: rebuilt
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


def choose_alpha(features, targets, songs, alphas, first_alpha=None, measured=None) -> float:
    """The ridge penalty (of the long-room regression, given ``first_alpha``) with the least
    mean over real songs left out of the fit of their median |RT60 error| on random rooms (and
    their measured rooms: rooms other songs were fitted in, so held out by song, not by room)."""
    best_alpha, best_error = alphas[0], np.inf
    for alpha in alphas:
        first, long = (alpha, None) if first_alpha is None else (first_alpha, alpha)
        per_song, _ = leave_one_song_out(features, targets, songs, first, None, long, measured)
        errors = list(per_song.values())
        label = "alpha" if first_alpha is None else "long-room alpha"
        print(
            f"{label} {alpha:g}: leave-one-song-out median |RT60 error| per song "
            f"{np.round(errors, 3).tolist()}",
            flush=True,
        )
        if np.mean(errors) < best_error:
            best_alpha, best_error = alpha, float(np.mean(errors))
    return float(best_alpha)


def add_fit_parser(sub: argparse._SubParsersAction) -> None:
    """``fit``'s arguments, under ``python -m bench.rooms``."""
    fit_parser = sub.add_parser("fit")
    fit_parser.add_argument("audio", type=Path, nargs="+")
    fit_parser.add_argument("--rooms", type=int, default=40, help="per source and seed")
    fit_parser.add_argument("--synthetic", type=int, default=2, help="synthetic excerpts")
    fit_parser.add_argument("--two-slope", type=int, default=TWO_SLOPE_ROOMS,
                            help="two-slope rooms per source and seed")  # fmt: skip
    fit_parser.add_argument("--shared", type=int, default=SHARED_ROOMS,
                            help="one-tail halls per source and seed")  # fmt: skip
    fit_parser.add_argument("--seed", type=int, nargs="+", default=[11, 12])
    fit_parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="processes")
    fit_parser.add_argument("--alpha", type=float, help="ridge penalty (default: best of a grid)")
    fit_parser.add_argument("--long-alpha", type=float, help="the long-room regression's")
    fit_parser.add_argument("--cache", help="keep the features (both kinds of room) in this .npz")
    fit_parser.add_argument(
        "--measured",
        type=Path,
        nargs="+",
        help="measured impulse responses (files) for the long-room regression",
    )
    fit_parser.add_argument("--measured-draws", type=int, default=MEASURED_DRAWS,
                            help="measured rooms per source and seed")  # fmt: skip
    fit_parser.add_argument(
        "--held-out",
        type=Path,
        nargs="+",
        help="measured responses (files) to report errors in, not fitted on",
    )
    fit_parser.add_argument("--mono", action="store_true", help=MONO_HELP)
    fit_parser.add_argument("--out", type=Path, default=MODEL_FILE, help="the model written")
    fit_parser.set_defaults(func=command_fit)
