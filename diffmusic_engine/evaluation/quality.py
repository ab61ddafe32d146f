"""``bench-quality``: degrade every corpus clip for every task and severity, restore, score.

Severities follow the issue: gaps of 10/50/200 ms, cutoffs of 2/4/8 kHz, rooms of RT60
0.3/0.6/1.0 s (known and blind), 2 and 4 sources, one phase-retrieval setting, clicks (4 per
second, bursts at +6/+12 dB re the clip's RMS), clipping at input SDR 5/10/20 dB. Every case is also
scored for the damaged input itself and for the task's simple baseline, so each table row says
what the restoration adds.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.api import degrade, restore
from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.audio import read_audio
from diffmusic_engine.damage import (
    TASKS,
    Damage,
    Declick,
    Declip,
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    Separate,
    SuperResolution,
)
from diffmusic_engine.diffusion.options import takes_room_steps
from diffmusic_engine.errors import DamageError, UnsupportedDamage
from diffmusic_engine.evaluation import baselines
from diffmusic_engine.evaluation.corpus import load_manifest
from diffmusic_engine.evaluation.fad import fad, frechet_distance, get_embedding
from diffmusic_engine.evaluation.plots import save_spectrograms
from diffmusic_engine.metrics import lsd, lsd_audiosr, si_sdr, spectral_convergence
from diffmusic_engine.options import check_options

GAPS_MS = (10, 50, 200)
CUTOFFS_HZ = (2000, 4000, 8000)
SOURCE_COUNTS = (2, 4)
CLICK_BURSTS_DB = (6.0, 12.0)
CLIP_SDRS_DB = (5.0, 10.0, 20.0)


@dataclass(frozen=True)
class Case:
    """One damage at one severity, with where to look when scoring it."""

    task: str
    severity: str
    damage: Damage
    region: tuple[float, float] | None = None  # seconds: the restored stretch
    band: tuple[float, float] | None = None  # Hz: the restored band
    rir: np.ndarray | None = field(default=None, compare=False)


def cases(
    tasks: Iterable[str], duration: float, rooms: list[tuple[float, Path, np.ndarray]]
) -> Iterator[Case]:
    """Every case for a clip of ``duration`` seconds (rooms: RT60, file, impulse response)."""
    middle = duration / 2
    for task in tasks:
        if task == "inpaint":
            for ms in GAPS_MS:
                gap = Gap(round(middle - ms / 2000, 6), round(middle + ms / 2000, 6))
                yield Case(task, f"gap {ms} ms", Inpaint(gaps=(gap,)), region=(gap.start, gap.end))
        elif task == "super-resolution":
            for hz in CUTOFFS_HZ:
                yield Case(
                    task, f"cutoff {hz} Hz", SuperResolution(cutoff=float(hz)), band=(hz, 1e9)
                )
        elif task == "phase-retrieval":
            yield Case(task, "n_fft 1024 hop 256", PhaseRetrieval(n_fft=1024, hop=256))
        elif task == "separate":
            for n in SOURCE_COUNTS:
                yield Case(task, f"{n} sources", Separate(sources=n))
        elif task == "dereverb":
            for rt60, path, ir in rooms:
                yield Case(task, f"RT60 {rt60:.1f} s", Dereverb(rir=path), rir=ir)
                yield Case("dereverb-blind", f"RT60 {rt60:.1f} s", Dereverb(), rir=ir)
        elif task == "declick":
            for burst_db in CLICK_BURSTS_DB:
                yield Case(task, f"bursts {burst_db:+.0f} dB", Declick(burst_db=burst_db))
        elif task == "declip":
            for sdr_db in CLIP_SDRS_DB:
                yield Case(task, f"input SDR {sdr_db:.0f} dB", Declip(sdr=sdr_db))
        else:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def sources_for(stems: list[np.ndarray], n: int) -> list[np.ndarray] | None:
    """``n`` references from a clip's stems: each stem, or stems summed in ``n`` groups."""
    if len(stems) < n:
        return None
    groups = np.array_split(np.arange(len(stems)), n)
    return [np.sum([stems[i] for i in group], axis=0) for group in groups]


def baseline_estimates(
    case: Case, damaged: np.ndarray, measured: np.ndarray, sample_rate: int
) -> dict[str, list]:
    """The damaged input itself and the task's simple baseline (run on ``measured``, what the
    backends get), as lists of tracks."""
    damage = case.damage
    found: dict[str, list[np.ndarray]] = {}
    if isinstance(damage, Separate):
        found["mixture"] = baselines.mixture_as_sources(damaged, damage.sources)
        return found
    found["damaged"] = [damaged]
    if isinstance(damage, Inpaint):
        found["linear"] = [baselines.linear_interpolation(damaged, damage.gaps, sample_rate)]
    elif isinstance(damage, SuperResolution):
        found["resample"] = [baselines.plain_resampling(damaged, damage.cutoff, sample_rate)]
    elif isinstance(damage, PhaseRetrieval):
        found["griffin-lim"] = [baselines.plain_griffin_lim(measured, damage.n_fft, damage.hop)]
    return found


def score(
    references: list[np.ndarray], estimates: list[np.ndarray], sample_rate: int, case: Case
) -> dict[str, float]:
    """Every measure, averaged over sources; ``*_region`` on the gap or the rebuilt band."""
    rows = []
    for ref, est in zip(references, estimates, strict=True):
        row = {
            "lsd": lsd(ref, est, sample_rate),
            "lsd_audiosr": lsd_audiosr(ref, est, sample_rate),
            "si_sdr": si_sdr(ref, est),
            "spectral_convergence": spectral_convergence(ref, est),
        }
        if case.region or case.band:
            where = {"region": case.region, "band": case.band}
            row["lsd_region"] = lsd(ref, est, sample_rate, **where)
            row["lsd_audiosr_region"] = lsd_audiosr(ref, est, sample_rate, **where)
        rows.append(row)
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


@dataclass
class Extremes:
    """The best and worst restored case seen so far (by whole-clip LSD), for the pictures."""

    best: tuple[float, dict[str, Any]] | None = None
    worst: tuple[float, dict[str, Any]] | None = None

    def offer(self, value: float, example: Callable[[], dict[str, Any]]) -> None:
        if self.best is None or value < self.best[0]:
            self.best = (value, example())
        if self.worst is None or value > self.worst[0]:
            self.worst = (value, example())


def case_options(damage: Damage, options: dict[str, Any] | None) -> dict[str, Any]:
    """The run's ``options`` for one case: ``room_steps`` only where it applies (blind
    dereverb; each blind case is paired with an informed one, which refuses it)."""
    takes = takes_room_steps(damage)
    return {k: v for k, v in (options or {}).items() if takes or k != "room_steps"}


def run_quality_bench(
    corpus_dir: Path,
    outdir: Path,
    *,
    backend: str = "dsp",
    options: dict[str, Any] | None = None,
    tasks: Iterable[str] = TASKS,
    fad_embedding: str | None = "mel-stats",
    limit: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Run every case on every clip; write ``results.json``, ``results.md`` and two PNGs."""
    corpus_dir, outdir = Path(corpus_dir), Path(outdir)
    manifest = load_manifest(corpus_dir)
    rooms = []
    for room in manifest["rooms"]:
        ir, _ = read_audio(corpus_dir / room["path"])
        rooms.append((room["rt60"], corpus_dir / room["path"], ir[0]))
    clips = manifest["clips"][:limit] if limit else manifest["clips"]
    tasks = list(tasks)
    for case in cases(tasks, 1.0, rooms):  # a bad option is the user's error, not "declined"
        try:
            check_options(backend, case.damage, case_options(case.damage, options))
        except UnsupportedDamage:  # the backend cannot do this task: declined, as its run says
            pass
    run = QualityRun(backend, options, get_embedding(fad_embedding) if fad_embedding else None)
    total, done = len(clips) * len(list(cases(tasks, 1.0, rooms))), 0
    for clip in clips:
        mix, info = read_audio(corpus_dir / clip["mix"])
        rate = info.sample_rate
        stems = [read_audio(corpus_dir / path)[0] for path in clip["stems"].values()]
        for case in cases(tasks, mix.shape[1] / rate, rooms):
            done += 1
            if progress:
                progress(done, total, f"{clip['id']} {case.task} {case.severity}")
            run.score_case(clip, case, mix, stems, rate)
    summary = summarise(run.rows, run.embeddings if run.embedding else None)
    result = {
        "corpus": str(corpus_dir),
        "backend": backend,
        "options": options or {},
        "fad_embedding": fad_embedding,
        "rows": run.rows,
        "summary": summary,
        "declined": run.declined,
        "pictures": save_extremes(outdir, run.extremes),
    }
    write_text_atomic(outdir / "results.json", json.dumps(result, indent=2) + "\n")
    table = markdown_table(summary, backend, fad_embedding)
    table += "".join(
        f"\n`{backend}` declined {task}: {why}\n" for task, why in run.declined.items()
    )
    write_text_atomic(outdir / "results.md", table)
    return result


@dataclass
class QualityRun:
    """What one ``bench-quality`` run has scored so far: a row per (clip, case, method), the
    FAD embeddings per (task, severity, method), the best and worst case, and the tasks the
    backend declined (task -> its one-line reason)."""

    backend: str
    options: dict[str, Any] | None
    embedding: Callable[[np.ndarray, int], np.ndarray] | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    embeddings: dict[tuple[str, str, str], list[np.ndarray]] = field(
        default_factory=lambda: defaultdict(list)
    )
    extremes: Extremes = field(default_factory=Extremes)
    declined: dict[str, str] = field(default_factory=dict)

    def score_case(
        self, clip: dict[str, Any], case: Case, mix: np.ndarray, stems: list[np.ndarray], rate: int
    ) -> None:
        """Damage ``mix`` (or ``stems``, to separate) as ``case`` says, restore it, and score the
        restoration beside the damaged input and the task's baseline."""
        found = damaged_for(case, mix, stems, rate)
        if found is None:
            return
        references, damaged = found
        # Phase retrieval's measurement is |STFT(x)| itself: backends and the plain Griffin-Lim
        # baseline get the clean audio and use only its magnitude (the random-phase "damaged"
        # audio has an inconsistent STFT whose magnitude is not |X|).
        measured = mix if isinstance(case.damage, PhaseRetrieval) else damaged
        estimates = baseline_estimates(case, damaged, measured, rate)
        started = time.perf_counter()
        try:
            restored = restore(measured, rate, case.damage, backend=self.backend,
                               options=case_options(case.damage, self.options))  # fmt: skip
            # declick's second track (what was removed) has no reference: not scored
            estimates[self.backend] = list(restored.tracks[: len(references)])
        except DamageError as exc:  # the backend declines the task: the baselines only
            self.declined[case.task] = str(exc)
            restored = None
        seconds = time.perf_counter() - started
        if self.embedding is not None:  # the clean references, once per case
            self.embeddings[(case.task, case.severity, "reference")] += [
                self.embedding(r, rate) for r in references
            ]
        backend_row: dict[str, Any] = {}
        for method, tracks in estimates.items():
            row = {"clip": clip["id"], "material": material_of(clip)}
            row |= {"task": case.task, "severity": case.severity}
            row |= {"method": method, **score(references, tracks, rate, case)}
            if method == self.backend:
                row["seconds"] = seconds
                row["real_time_factor"] = seconds / (mix.shape[1] / rate)
                backend_row = row
            self.rows.append(row)
            if self.embedding is not None:
                key = (case.task, case.severity, method)
                self.embeddings[key] += [self.embedding(t, rate) for t in tracks]
        if restored is not None:
            self.extremes.offer(
                backend_row["lsd"],
                lambda: {
                    "title": f"{clip['id']}: {case.task}, {case.severity}",
                    "panels": {
                        "clean": references[0],
                        "damaged": damaged,
                        "restored": restored.tracks[0],
                    },
                    "span": case.region,
                    "rate": rate,
                },
            )


def damaged_for(
    case: Case, mix: np.ndarray, stems: list[np.ndarray], rate: int
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The clean references and the damaged input of ``case``: the mix, or (to separate) the
    stems in groups mixed; ``None`` when the clip has too few stems."""
    if not isinstance(case.damage, Separate):
        return [mix], degrade(mix, rate, case.damage, impulse_response=case.rir)
    references = sources_for(stems, case.damage.sources)
    if references is None:
        return None
    return references, degrade(np.stack(references), rate, case.damage)


def save_extremes(outdir: Path, extremes: Extremes) -> dict[str, str]:
    """Spectrograms of the best and the worst case in ``outdir``: ``{"best": file name, ...}``."""
    pictures = {}
    for name, found in (("best", extremes.best), ("worst", extremes.worst)):
        if found is None:
            continue
        example = found[1]
        span = example["span"]
        if span is not None:  # show the gap with some context on either side
            span = (max(0.0, span[0] - 0.15), span[1] + 0.15)
        path = save_spectrograms(
            outdir / f"{name}.png", example["panels"], example["rate"],
            title=f"{name} case: {example['title']}", span=span,
        )  # fmt: skip
        pictures[name] = path.name
    return pictures


def material_of(clip: dict[str, Any]) -> str:
    """``real`` or ``synthetic`` (manifests written before real clips existed: synthetic)."""
    return clip.get("material", "synthetic")


def summarise(
    rows: list[dict[str, Any]], embeddings: dict[tuple[str, str, str], list] | None
) -> list[dict[str, Any]]:
    """Means over clips per (material, task, severity, method), plus FAD per (task, severity,
    method) over both materials."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["material"], row["task"], row["severity"], row["method"])].append(row)
    summary = []
    for (material, task, severity, method), members in sorted(
        groups.items(),
        key=lambda item: item[0][0] != "real",  # real material first
    ):
        numeric = [k for k, v in members[0].items() if isinstance(v, float)]
        entry = {"material": material, "task": task, "severity": severity, "method": method}
        entry["clips"] = len(members)
        entry |= {k: float(np.mean([m[k] for m in members])) for k in numeric}
        if embeddings is not None and (task, severity, "reference") in embeddings:
            entry["fad"] = frechet_distance(
                np.concatenate(embeddings[(task, severity, "reference")]),
                np.concatenate(embeddings[(task, severity, method)]),
            )
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict[str, Any]], backend: str, fad_embedding: str | None) -> str:
    """One row per (material, task, severity, method): the means over clips."""
    columns = ["lsd", "lsd_region", "lsd_audiosr", "si_sdr", "spectral_convergence", "fad"]
    lines = [
        f"Backend `{backend}`; FAD embedding: `{fad_embedding}` (mel-stats is a weights-free "
        "proxy, not comparable with published VGGish/CLAP FAD; it pools both materials, too few "
        "clips for one). Lower is better except SI-SDR. "
        "`lsd_region`: LSD on the gap (inpainting) or on the rebuilt band (super-resolution). "
        "`real`: recordings with known stems; `synthetic`: rendered chorales and synth clips, "
        "which flatter every method.",
        "",
        "| material | task | severity | method | clips | " + " | ".join(columns) + " | RTF |",
        "|" + "---|" * (len(columns) + 6),
    ]
    for entry in summary:
        cells = [f"{entry[c]:.3f}" if c in entry else "" for c in columns]
        rtf = f"{entry['real_time_factor']:.3f}" if "real_time_factor" in entry else ""
        lines.append(
            f"| {entry['material']} | {entry['task']} | {entry['severity']} | {entry['method']} "
            f"| {entry['clips']} | " + " | ".join(cells) + f" | {rtf} |"
        )
    return "\n".join(lines) + "\n"


__all__ = ["TASKS", "Case", "cases", "fad", "run_quality_bench"]
