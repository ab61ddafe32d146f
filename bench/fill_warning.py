"""Can a poor long-gap (pattern) fill be told without the truth? Signals vs the truth's verdict.

    python -m bench.fill_warning measure ROWS.json FILE...  [--excerpts N --seed S --offset S]
    python -m bench.fill_warning analyse ROWS.json... --held NAME... [--poor 0.75]

``measure``: each FILE (a recording of 60 s or less is taken whole, ``SHORT_REPEATS`` times, one
gap per call; a song over 60 s is cut into ``--excerpts`` 45 s excerpts, ``GAPS_PER_CALL`` gaps
per call) gets gaps of each of ``LENGTHS`` at random places, at least 3 s apart, filled by the
dsp backend (the pattern fill); one row per gap: the truth's verdict and the signals the fill
could compute without it.

- ``dist``: the gain-compensated log-mel distance (dB) of the fill to the truth on the gap +-50 ms
  (as ``diffmusic_engine.demo`` scores pattern-filled gaps); ``rand``: the same for a copy of a
  random passage of the same audio (median of 5), the fill of a search that found nothing;
  ``ratio = dist / rand``: 1 is no better than a random passage.
- signals: the best passage's feature ``score`` over the median score of all shifts (``rel``),
  its ``similarity`` (``sim``), ``ncc`` and level ``excess``; the number of passages kept; the
  disagreement of the 8 best-scoring passages (``spread``: their level-normalised log-mel's mean
  deviation from their mean, dB; ``best_off``: the best one's); the log-mel jump across the
  filled output's gap edges over the median jump in its contexts (``edge_ratio``).

``analyse``: the AUC of each signal for "poor" (``ratio >= --poor``) on the songs not named by
``--held``, then on the held-out ones, and each signal's rule at the threshold flagging 10 % of
the good fills of the choice songs (flagged poor / flagged good on each set).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from diffmusic_engine import metrics
from diffmusic_engine.api import restore
from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.audio import read_audio
from diffmusic_engine.damage import Gap, Inpaint, gap_samples
from diffmusic_engine.dsp import pattern
from diffmusic_engine.errors import DamageError

LENGTHS = (0.2, 0.5, 1.0, 2.0)  # s
GAPS_PER_CALL = 4
SHORT_REPEATS = 3  # restore calls per gap length on a recording of 60 s or less (one gap each)
EXCERPT_S = 45.0
AROUND_S = 0.05  # the log-mel distance's margin either side of the gap (demo.CONTEXT_S)
SIGNALS = ("rel", "sim", "ncc", "excess", "passages", "spread", "best_off", "edge_ratio", "length")
# the direction in which a signal says "poor": +1 higher, -1 lower
POOR_WHEN = {"sim": -1, "ncc": -1, "passages": -1}
SAMPLE_RATE = 44100  # of the recordings measured (the captured search sees no rate)
# the signals the "combined" rule weighs (a logistic regression fitted on the choice songs)
COMBINED = ["sim", "rel", "ncc", "edge_ratio", "passages"]
CAPTURED: list[dict] = []  # the signals of each search, filled by the wrapped pattern.find
_find = pattern.find


def _log_mel(x: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=x.astype(np.float64), sr=sample_rate, n_fft=2048, hop_length=512, n_mels=64
    )
    db = librosa.power_to_db(mel + 1e-10)
    return db - db.mean()  # level-normalised


def _spread(mono: np.ndarray, first: int, stop: int, shifts: list[int], sr: int) -> np.ndarray:
    mels = np.array([_log_mel(mono[first + s : stop + s], sr) for s in shifts])
    return np.mean(np.abs(mels - mels.mean(axis=0)), axis=(1, 2))  # per passage


def _capturing_find(audio, mono, feats, first, stop, **kw):  # noqa: ANN001, ANN202
    """``pattern.find``, recording the signals of its search (the candidates are internal)."""
    found = _find(audio, mono, feats, first, stop, **kw)
    shifts, scores, _ = pattern.search(
        feats, first, stop, kw["context"], kw["forbidden"], mono.size
    )
    if not found or not shifts.size:
        return found
    spacing = max(feats.hop, (stop - first) // 4)
    top = pattern.best_minima(shifts, scores, 8, spacing=spacing)
    spread = _spread(mono, first, stop, [int(shifts[i]) for i in top], SAMPLE_RATE)
    best = found[0]
    CAPTURED.append({
        "first": first, "stop": stop, "rel": best.score / max(float(np.median(scores)), 1e-9),
        "sim": best.similarity, "ncc": best.ncc, "excess": abs(best.excess),
        "passages": len(found), "spread": float(spread.mean()), "best_off": float(spread[0]),
    })  # fmt: skip
    return found


def edge_ratio(mono: np.ndarray, first: int, stop: int, sample_rate: int) -> float:
    """The log-mel jump (dB) between the 2048 samples before and after each gap edge, the larger
    one, over the median such jump at 2048-sample steps in the 1 s contexts."""
    import librosa

    w = 2048

    def frame(s: int) -> np.ndarray:
        mel = librosa.feature.melspectrogram(
            y=mono[s : s + w].astype(np.float64), sr=sample_rate, n_fft=w, hop_length=w,
            n_mels=64, center=False,
        )  # fmt: skip
        return librosa.power_to_db(mel[:, 0] + 1e-10)

    def jump(at: int) -> float | None:
        if at - w < 0 or at + w > mono.size:
            return None
        return float(np.mean(np.abs(frame(at - w) - frame(at))))

    steps = [*range(first - sample_rate, first - w, w), *range(stop + w, stop + sample_rate, w)]
    context = [j for j in map(jump, steps) if j is not None]
    edges = [j for j in (jump(first), jump(stop)) if j is not None]
    return max(edges) / float(np.median(context)) if context and edges else float("nan")


def _random_copy_distance(clean, a, b, around, holes, rng, sr) -> float:  # noqa: ANN001
    n, length, distances = clean.shape[1], b - a, []
    for _ in range(5):
        for _try in range(100):
            s = int(rng.integers(0, n - length))
            if abs(s - a) > length and all(s + length <= h0 or s >= h1 for h0, h1 in holes):
                break
        copy = clean.copy()
        copy[:, a:b] = clean[:, s : s + length]
        distances.append(metrics.log_mel_distance(clean[:, around], copy[:, around], sr))
    return float(np.median(distances))


def gap_rows(name: str, clean: np.ndarray, sr: int, rng: np.random.Generator, per_call: int):  # noqa: ANN201
    """Rows of every gap cut into ``clean`` (see the module doc)."""
    rows, seconds = [], clean.shape[1] / sr
    for length in LENGTHS:
        starts: list[float] = []
        for _try in range(200):
            s = float(rng.uniform(0.3, seconds - 0.3 - length))
            if len(starts) < per_call and all(abs(s - t) > length + 3.0 for t in starts):
                starts.append(s)
        gaps = tuple(Gap(round(s, 4), round(s + length, 4)) for s in sorted(starts))
        holes = [gap_samples(g, sr) for g in gaps]
        damaged = clean.copy()
        for a, b in holes:
            damaged[:, a:b] = 0
        CAPTURED.clear()
        try:
            out = restore(damaged, sr, Inpaint(gaps)).audio
        except DamageError:  # refused (no passage of the gap's length): the user is told
            continue
        captured = {(c.pop("first"), c.pop("stop")): c for c in CAPTURED}
        for gap, (a, b) in zip(gaps, holes, strict=True):
            around = slice(*gap_samples(Gap(gap.start - AROUND_S, gap.end + AROUND_S), sr))
            dist = metrics.log_mel_distance(clean[:, around], out[:, around], sr)
            rand = _random_copy_distance(clean, a, b, around, holes, rng, sr)
            rows.append({
                "file": name, "start": gap.start, "length": length, "dist": dist, "rand": rand,
                "ratio": dist / rand, "edge_ratio": edge_ratio(out.mean(axis=0), a, b, sr),
                **captured.get((a, b), {}),
            })  # fmt: skip
    return rows


def measure(args: argparse.Namespace) -> None:
    pattern.find = _capturing_find
    rng, rows = np.random.default_rng(args.seed), []
    for path in args.files:
        audio, info = read_audio(path)
        sr, seconds = info.sample_rate, audio.shape[1] / info.sample_rate
        if seconds <= 60:
            for _ in range(SHORT_REPEATS):
                rows += gap_rows(Path(path).name, audio, sr, rng, per_call=1)
            continue
        for s0 in np.linspace(5, seconds - EXCERPT_S - 5, args.excerpts) + args.offset:
            excerpt = audio[:, int(s0 * sr) : int((s0 + EXCERPT_S) * sr)]
            rows += gap_rows(f"{Path(path).stem}@{s0:.0f}", excerpt, sr, rng, GAPS_PER_CALL)
        print(path, len(rows), file=sys.stderr, flush=True)
    write_text_atomic(args.rows, json.dumps(rows))


def auc(score: np.ndarray, poor: np.ndarray) -> float:
    """The probability that a poor fill's ``score`` exceeds a good one's (ties: half)."""
    from scipy.stats import rankdata

    ok = np.isfinite(score)
    score, poor = score[ok], poor[ok]
    n_poor, n_good = int(poor.sum()), int((~poor).sum())
    ranks = rankdata(score)
    return float((ranks[poor].sum() - n_poor * (n_poor + 1) / 2) / max(n_poor * n_good, 1))


def analyse(args: argparse.Namespace) -> None:
    rows = [r for path in args.rows for r in json.loads(Path(path).read_text()) if "rel" in r]
    held = np.array([any(r["file"].startswith(h) for h in args.held) for r in rows])
    poor = np.array([r["ratio"] >= args.poor for r in rows])
    print(
        f"{len(rows)} gaps: choice {(~held).sum()} ({poor[~held].sum()} poor), held out "
        f"{held.sum()} ({poor[held].sum()} poor); poor: dist / random copy's >= {args.poor}"
    )
    print("signal      AUC choice  held  rule flagging 10 % of choice's good fills: "
          "poor flagged / good flagged, choice; held out (at its own 10 %)")  # fmt: skip
    for name in (*SIGNALS, "combined"):
        if name == "combined":
            value = _combined(rows, ~held, poor)
        else:
            value = POOR_WHEN.get(name, 1) * np.array([r.get(name, np.nan) for r in rows], float)
        threshold = np.nanpercentile(value[~held & ~poor], 90)
        flag = value > threshold
        sets = [_rates(flag, poor, on) for on in (~held, held)]
        # the held-out songs' own threshold (10 % of their good fills): the ceiling of the signal
        own = value > np.nanpercentile(value[held & ~poor], 90)
        sets.append(_rates(own, poor, held))
        sign = "<" if POOR_WHEN.get(name) else ">"
        areas = auc(value[~held], poor[~held]), auc(value[held], poor[held])
        print(f"{name:<11}{areas[0]:>11.3f}{areas[1]:>6.3f}"
              f"  {sign} {abs(threshold):.3f}: {sets[0]}; {sets[1]} (own: {sets[2]})")  # fmt: skip


def _combined(rows: list[dict], fit_on: np.ndarray, poor: np.ndarray) -> np.ndarray:
    """A logistic regression's log-odds of "poor" from ``COMBINED``, fitted on the rows
    ``fit_on`` (the choice songs)."""
    from sklearn.linear_model import LogisticRegression

    features = np.array([[r.get(name, np.nan) for name in COMBINED] for r in rows], float)
    features[:, COMBINED.index("edge_ratio")] = np.log(features[:, COMBINED.index("edge_ratio")])
    known = np.isfinite(features).all(axis=1)
    model = LogisticRegression(max_iter=1000).fit(features[known & fit_on], poor[known & fit_on])
    value = np.full(len(rows), np.nan)
    value[known] = model.decision_function(features[known])
    return value


def _rates(flag: np.ndarray, poor: np.ndarray, on: np.ndarray) -> str:
    """``poor flagged/poor good flagged/good`` among the rows ``on``."""
    bad, good = on & poor, on & ~poor
    return f"{(flag & bad).sum()}/{bad.sum()} {(flag & good).sum()}/{good.sum()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fill_warning", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("rows")
    m.add_argument("files", nargs="+")
    m.add_argument("--excerpts", type=int, default=2)
    m.add_argument("--offset", type=float, default=0.0, help="s added to each excerpt's start")
    m.add_argument("--seed", type=int, default=7)
    a = sub.add_parser("analyse")
    a.add_argument("rows", nargs="+")
    a.add_argument("--held", nargs="+", default=["escape_from_chaosland", "metal_madness"])
    a.add_argument("--poor", type=float, default=0.75)
    args = parser.parse_args(argv)
    (measure if args.command == "measure" else analyse)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
