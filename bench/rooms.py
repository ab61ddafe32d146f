"""Blind rooms: fit the room estimator and measure it and blind dereverberation in simulated rooms.

    python -m bench.rooms fit  AUDIO_DIR [--rooms 30]   # writes diffmusic_engine/room_model.json
    python -m bench.rooms eval AUDIO_DIR                 # RT60 error and log-mel ratio per room

AUDIO_DIR holds dry recordings (e.g. stems and mixes); names up to the first ``_`` group them by
song, and ``fit`` reports each song's error with the model fitted without it (leave one song out),
then fits on everything. Synthetic excerpts (``diffmusic_engine.synth``) join the fit, and every
source also joins dry (RT60 ``DRY_RT60``, DRR ``DRY_DRR_DB``), so a dry take reads as dry.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from diffmusic_engine.audio import read_audio
from diffmusic_engine.evaluation.rooms import band_rir, hall_bands, reverberate
from diffmusic_engine.room import MODEL_FILE, OCTAVES_HZ, _design, estimate_room, room_features

# (RT60 at mid bands, DRR) of the rooms `eval` reports on.
EVAL_ROOMS = ((0.5, 3.0), (0.5, -3.0), (1.0, 0.0), (1.0, -8.0), (1.5, -3.0), (2.0, 0.0),
              (2.3, -5.0), (2.5, -8.0), (2.5, 3.0))  # fmt: skip
DRY_RT60, DRY_DRR_DB = 0.15, 15.0
ALPHAS = np.logspace(-2, 4, 13)


def sources(folder: Path, synthetic: int) -> list[tuple[str, np.ndarray, int]]:
    found = []
    for path in sorted(folder.glob("*.flac")) + sorted(folder.glob("*.wav")):
        audio, info = read_audio(path)
        found.append((path.stem, audio, info.sample_rate))
    if synthetic:
        from diffmusic_engine.synth import music_excerpt

        found += [(f"synth{s}_excerpt", music_excerpt(10.0, 44100, channels=2, seed=s), 44100)
                  for s in range(synthetic)]  # fmt: skip
    return found


def dataset(items: list, rooms: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, targets (log RT60 per band, then DRR) and song names of random rooms."""
    rng = np.random.default_rng(seed)
    features, targets, songs = [], [], []
    for name, audio, rate in items:
        started = time.perf_counter()
        for k in range(rooms + 1):
            if k == rooms:  # the source itself, dry
                bands, drr, wet = {b: DRY_RT60 for b in OCTAVES_HZ}, DRY_DRR_DB, audio
            else:
                rt60 = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
                drr = float(rng.uniform(-10, 5))
                tilt = np.exp(np.cumsum(rng.normal(0, 0.08, len(OCTAVES_HZ)))[::-1])
                bands = {
                    b: rt60 * t / np.sqrt(tilt[2] * tilt[3])
                    for b, t in zip(OCTAVES_HZ, tilt, strict=True)
                }
                wet = reverberate(audio, band_rir(bands, drr, rate, channels=audio.shape[0],
                                                  seed=int(rng.integers(2**31))))  # fmt: skip
            features.append(room_features(wet, rate))
            targets.append([np.log(bands[b]) for b in OCTAVES_HZ] + [drr])
            songs.append(name.split("_")[0])
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return np.array(features), np.array(targets), np.array(songs)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    mean = y.mean()
    weights = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ (y - mean))
    return weights, float(mean)


def fit(features: np.ndarray, targets: np.ndarray, train: np.ndarray, alpha: float) -> dict:
    design = np.stack([_design(f) for f in features[train]])  # (n, bands, 2F)
    mean, scale = design.reshape(-1, design.shape[-1]).mean(0), design.reshape(
        -1, design.shape[-1]).std(0) + 1e-9  # fmt: skip
    z = (design - mean) / scale
    bands = z.shape[1]
    rt60_w, rt60_b = ridge(z.reshape(-1, z.shape[-1]), targets[train, :bands].reshape(-1), alpha)
    drr_w, drr_b = ridge(z.mean(1), targets[train, -1], alpha)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "rt60_weights": rt60_w.tolist(),
            "rt60_bias": rt60_b, "drr_weights": drr_w.tolist(), "drr_bias": drr_b,
            "alpha": alpha}  # fmt: skip


def predict(model: dict, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = (np.stack([_design(f) for f in features]) - model["mean"]) / model["scale"]
    return z @ np.array(model["rt60_weights"]) + model["rt60_bias"], (
        z.mean(1) @ np.array(model["drr_weights"]) + model["drr_bias"])  # fmt: skip


def command_fit(args: argparse.Namespace) -> None:
    if args.features and Path(args.features).exists():
        saved = np.load(args.features)
        features, targets, songs = saved["features"], saved["targets"], saved["songs"]
    else:
        features, targets, songs = dataset(sources(args.audio, 4), args.rooms, args.seed)
        if args.features:
            np.savez(args.features, features=features, targets=targets, songs=songs)
    real = sorted({s for s in songs if not s.startswith("synth")})
    best_alpha, best_error = ALPHAS[0], np.inf
    for alpha in (
        [args.alpha] if args.alpha else ALPHAS
    ):  # leave one song out: the error on a song the model has not seen
        errors = []
        for song in real:
            model = fit(features, targets, songs != song, alpha)
            log_rt60, _ = predict(model, features[songs == song])
            mid = np.exp(log_rt60[:, 2:4].mean(1) - targets[songs == song, 2:4].mean(1)) - 1
            errors.append(np.median(np.abs(mid)))
        if np.mean(errors) < best_error:
            best_alpha, best_error = alpha, float(np.mean(errors))
    print(f"alpha {best_alpha:g}: leave-one-song-out median |RT60 error| {best_error:.3f}")
    for song in real:
        model = fit(features, targets, songs != song, best_alpha)
        log_rt60, drr = predict(model, features[songs == song])
        truth = targets[songs == song]
        mid = np.exp(log_rt60[:, 2:4].mean(1) - truth[:, 2:4].mean(1)) - 1
        print(f"  {song}: median |RT60 error| {np.median(np.abs(mid)):.3f}, per band "
              f"{np.round(np.median(np.abs(np.exp(log_rt60 - truth[:, :-1]) - 1), 0), 2)}, "
              f"DRR mean |error| {np.mean(np.abs(drr - truth[:, -1])):.1f} dB")  # fmt: skip
    model = fit(features, targets, np.ones(len(songs), bool), best_alpha)
    model["fitted_on"] = sorted(set(songs.tolist()))
    MODEL_FILE.write_text(json.dumps(model, separators=(",", ":")) + "\n")
    print(f"wrote {MODEL_FILE}")


def command_eval(args: argparse.Namespace) -> None:
    from diffmusic_engine.metrics import log_mel_distance

    items = sources(args.audio, 0)
    for i, (rt60, drr) in enumerate(EVAL_ROOMS):
        errors, ratios, details = [], [], []
        for j, (_, audio, rate) in enumerate(items):
            irs = band_rir(hall_bands(rt60), drr, rate, channels=audio.shape[0],
                           seed=1000 + 10 * i + j)  # fmt: skip
            wet = reverberate(audio, irs)
            room = estimate_room(wet, rate)
            errors.append(room.rt60 / rt60 - 1 if room else 1.0)
            if args.dereverb:
                from diffmusic_engine.api import restore
                from diffmusic_engine.damage import Dereverb

                result = restore(wet, rate, Dereverb())
                details.append(result.details.get("method"))
                ratios.append(log_mel_distance(audio, result.audio, rate)
                              / log_mel_distance(audio, wet, rate))  # fmt: skip
        line = (
            f"RT60 {rt60:.1f} s DRR {drr:+.0f} dB: RT60 median |error| "
            f"{np.median(np.abs(errors)):.2f} (signed {np.round(errors, 2).tolist()})"
        )
        if ratios:
            line += (f"; log-mel ratio mean {np.mean(ratios):.3f} max {np.max(ratios):.3f} "
                     f"{sorted(set(details))}")  # fmt: skip
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit_parser = sub.add_parser("fit")
    fit_parser.add_argument("audio", type=Path)
    fit_parser.add_argument("--rooms", type=int, default=30)
    fit_parser.add_argument("--seed", type=int, default=11)
    fit_parser.add_argument("--alpha", type=float, help="ridge penalty (default: best of a grid)")
    fit_parser.add_argument("--features", help="cache the simulated features in this .npz")
    fit_parser.set_defaults(func=command_fit)
    eval_parser = sub.add_parser("eval")
    eval_parser.add_argument("audio", type=Path)
    eval_parser.add_argument("--dereverb", action="store_true", help="also blind dsp dereverb")
    eval_parser.set_defaults(func=command_eval)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
