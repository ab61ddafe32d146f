"""Fitting the room estimator (``python -m bench.rooms fit``): the ridge regressions of
:mod:`diffmusic_engine.room` and their penalties by leaving one song out, on the recordings'
features in rooms (:mod:`bench.room_data`, which also keeps their cache).

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
from pathlib import Path

import numpy as np

from bench.room_data import (
    MEASURED_DRAWS,
    SHARED_ROOMS,
    TWO_SLOPE_ROOMS,
    fit_features,
    held_out_dataset,
)
from bench.rooms import (
    EVAL_ROOMS,
    MONO_HELP,
    RoomSpec,
    room_name,
)
from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.room import (
    MODEL_FILE,
    _design,
    _predict,
    long_share,
)

ALPHAS = np.logspace(-1, 4, 11)
# A measured room's row (`fit --measured`) counts this many times in the long-room regression,
# the only one it joins: the simulated rooms alone read measured halls 20-30 % short, and in the
# first regression measured rows pulled the 0.5 s halls long (docs/results.md "Measured rooms
# in the fit").
MEASURED_WEIGHT = 2


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
