"""Train and measure the learned late-reverberation mask (``diffmusic_engine/dsp/late_mask.py``).

    python -m bench.late_mask stems SONGS_DIR STEMS_DIR      # Frets on Fire songs -> FLAC stems
    python -m bench.late_mask data STEMS_DIR -o A.npz [--songs S...] [--examples 1000] [--seed 4]
    python -m bench.late_mask train A.npz [B.npz...] -o model.npz [--steps 2500]
    python -m bench.late_mask eval AUDIO_DIR... --fold A.npz:song,song --fold B.npz:song,... \
        [--rooms 6 7 13] [--ir HALL.wav...] [--share S] [--rate 48000] [--mono] [--cache DIR]

The training songs are the full songs of Debian's Frets on Fire packages (the shipped clips'
source, ``diffmusic_engine/evaluation/data/real/README.md``): ``apt-get download
fretsonfire-songs-muldjord fretsonfire-songs-sectoid``, ``dpkg -x`` each into ``x``, then
``stems x/usr/share/games/fretsonfire/data/songs STEMS`` writes ``<song>_backing.flac`` (the
game's song.ogg) and ``<song>_guitar.flac``; a mix is their sum. ``data`` cuts random 6 s
excerpts (mix, backing or guitar) and puts each in a random room (``ROOM_KINDS``: halls,
two-slope rooms, early reflections over one decay, image-method shoeboxes of random geometry,
halls with one tail for every channel, or dry; RT60 0.3-3 s, DRR -10..+5 dB as ``bench.rooms``
fits the room estimator), and keeps the network's input (``mel_features`` of the reverberant
excerpt), its target (``10 log10(E / M)`` clipped to 0..-MAX_CUT_DB: ``E`` through the first
``EARLY_S`` of the response), the cells that count (within 60 dB of the excerpt's loudest) and the
room (log T30 per octave band of the response, DRR) it was in. ``train`` fits the network told a
jittered room (the estimate errs: log RT60 + N(0, 0.25) + N(0, 0.08) per band, DRR + N(0, 3 dB))
and writes its weights as ``late_mask.npz``'s layout, checking that the NumPy forward pass gives
what torch's does. ``eval`` measures bounded WPE, then the mask at ``--share`` of its dB, on
recordings in ``bench.rooms.EVAL_ROOMS``, each by the fold model that never heard its song (the
honest figure) and by the shipped model; log-mel ratios as ``bench.rooms eval --dereverb``;
``--rate`` resamples the recordings (soxr) and builds the rooms at that rate; ``--mono`` takes
each recording's channels' mean (a mono track in a room of one tail); ``--ir`` puts them in
measured rooms (``bench.rooms.measured_room``) instead of, or with ``--rooms`` beside, those.

The shipped weights and the measured folds (docs/results.md; ~2.5 min per 1000 examples and
~15 min per model of 5000 steps on one core of 2). ``data`` seeds its workers with ``[seed,
worker]``: the same files need the same ``--jobs`` (these were made with 2). In bash, each line
after the two lists being ``python -m bench.late_mask ...``:

    A="escape_from_chaosland metal_madness armygeddon chaos_god feelings"
    B="escape_from_chaosland metal_madness mutilated_mime internal_degeneration war_of_freedom"
    data STEMS -o A.npz --seed 4 --jobs 2 --songs $A
    data STEMS -o A2.npz --seed 14 --jobs 2 --examples 2000 --songs $A
    data STEMS -o A3.npz --seed 24 --jobs 2 --examples 2000 --songs $A
    data STEMS -o B.npz --seed 3 --jobs 2 --songs $B
    data STEMS -o B2.npz --seed 13 --jobs 2 --examples 2000 --songs $B
    data STEMS -o B3.npz --seed 23 --jobs 2 --examples 2000 --songs $B
    train A.npz A2.npz A3.npz -o mA.npz --steps 5000
    train B.npz B2.npz B3.npz -o mB.npz --steps 5000
    train A.npz A2.npz A3.npz B.npz B2.npz B3.npz -o diffmusic_engine/dsp/late_mask.npz --steps 5000
    eval ../shared/audio diffmusic_engine/evaluation/data/real --cache wpe \
        --fold mA.npz:mutilated_mime,internal_degeneration,war_of_freedom \
        --fold mB.npz:armygeddon,chaos_god,feelings
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.rooms import (
    FIT_DRR_DB,
    FIT_RT60_S,
    MONO_HELP,
    RoomSpec,
    add_room_arguments,
    as_channels,
    chosen_rooms,
    random_room,
    room_label,
    room_name,
    room_responses,
    sources,
)
from diffmusic_engine.atomic import replacing, write_text_atomic
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.dsp import late_mask as lm
from diffmusic_engine.dsp.dereverb import OPTIONS as DEREVERB_OPTIONS
from diffmusic_engine.evaluation.rooms import image_source_rir, reverberate, two_slope_rir
from diffmusic_engine.rates import resample
from diffmusic_engine.room import OCTAVES_HZ

# (kind, probability) of the training rooms
ROOM_KINDS = (("hall", 0.35), ("two-slope", 0.20), ("reflections", 0.15), ("image", 0.15),
              ("one-tail", 0.10), ("dry", 0.05))  # fmt: skip
EXCERPT_S = 6.0
COUNT_DB = 60.0  # cells this far under an excerpt's loudest do not count in the loss
STEMS = ("mix", "backing", "guitar")


def command_stems(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in args.songs.glob("*/*") if (p / "guitar.ogg").exists()):
        name = folder.name.lower().replace(" ", "_")
        for stem, file in (("backing", "song.ogg"), ("guitar", "guitar.ogg")):
            audio, info = read_audio(folder / file)
            write_audio(args.out / f"{name}_{stem}.flac", audio, info.sample_rate)
        print(name, file=sys.stderr)


def load_songs(folder: Path, names: list[str] | None) -> dict[str, dict[str, np.ndarray]]:
    """``{song: {stem: audio}}`` at 44.1 kHz, the mix summed from the stems."""
    songs: dict[str, dict[str, np.ndarray]] = {}
    for path in sorted(folder.glob("*.flac")):
        song, _, stem = path.stem.rpartition("_")
        if names and song not in names:
            continue
        audio, info = read_audio(path)
        if info.sample_rate != 44100:
            raise SystemExit(f"{path}: 44.1 kHz stems only (found {info.sample_rate} Hz)")
        songs.setdefault(song, {})[stem] = audio
    for song, stems in songs.items():
        if set(stems) != {"backing", "guitar"}:
            found = sorted(stems)
            raise SystemExit(f"{folder}: {song} needs a _backing and a _guitar stem (found "
                             f"{found}); the `stems` command writes them")  # fmt: skip
        n = min(a.shape[-1] for a in stems.values())
        stems["mix"] = sum(a[:, :n] for a in stems.values())
    return songs


def training_room(rng: np.random.Generator, rate: int, channels: int):
    """Impulse responses ``(channels or 1, L)`` of a random room of a random ``ROOM_KINDS`` kind,
    or ``None`` for dry."""
    kind = rng.choice([k for k, _ in ROOM_KINDS], p=[p for _, p in ROOM_KINDS])
    if kind == "dry":
        return None
    if kind in ("hall", "two-slope"):
        return random_room(rng, kind == "two-slope", rate, channels)[0]
    if kind == "one-tail":
        return random_room(rng, False, rate, 1)[0]
    if kind == "reflections":
        bands = random_room(rng, False, rate, 1)[1]
        drr = float(rng.uniform(*FIT_DRR_DB))
        return two_slope_rir(bands, drr, rate, channels=channels,
                             seed=int(rng.integers(2**31)), fast=1.0)  # fmt: skip
    size = rng.uniform((4.0, 3.0, 2.5), (25.0, 18.0, 10.0))
    source, microphone = (rng.uniform(0.5, size - 0.5) for _ in range(2))
    rt60 = float(np.exp(rng.uniform(*np.log(FIT_RT60_S))))
    try:
        return image_source_rir(rt60, tuple(size), tuple(source), tuple(microphone), rate,
                                max_order=40)[None]  # fmt: skip
    except ValueError:  # pyroomacoustics: no absorption gives this RT60 in this room
        return random_room(rng, False, rate, channels)[0]


def early_part(irs: np.ndarray, rate: int) -> np.ndarray:
    """The first ``EARLY_S`` of each response, faded out over 5 ms."""
    cut, fade = int(lm.EARLY_S * rate), int(0.005 * rate)
    early = irs[:, : cut + fade].copy()
    early[:, cut:] *= np.linspace(1.0, 0.0, early.shape[-1] - cut)
    return early


def examples(task: tuple[Path, list[str] | None, int, int]) -> dict[str, np.ndarray]:
    """``count`` training examples from the stems (one random stream per task)."""
    folder, names, seed, count = task
    songs, rate = load_songs(folder, names), 44100
    rng = np.random.default_rng(seed)
    length = int(EXCERPT_S * rate)
    out: dict[str, list] = {"x": [], "target": [], "counts": [], "room": [], "song": []}
    while len(out["x"]) < count:
        song = sorted(songs)[rng.integers(len(songs))]
        stems = songs[song]
        audio = stems[STEMS[rng.integers(len(STEMS))]]
        start = int(rng.integers(audio.shape[-1] - length))
        dry = audio[:, start : start + length]
        if np.sqrt(np.mean(dry**2)) < 1e-3:  # near silence (a stem resting)
            continue
        irs = training_room(rng, rate, dry.shape[0])
        wet = dry if irs is None else reverberate(dry, irs)
        early = dry if irs is None else reverberate(dry, early_part(irs, rate))
        wet_db, early_db = lm.mel_db(wet, rate), lm.mel_db(early, rate)
        out["x"].append(lm.mel_features(wet_db, rate).astype(np.float16))
        out["target"].append(np.clip(early_db - wet_db, -lm.MAX_CUT_DB, 0).astype(np.float16))
        out["counts"].append(wet_db > wet_db.max() - COUNT_DB)
        out["room"].append(room_label(irs, rate))
        out["song"].append(song)
    return {key: np.array(values) for key, values in out.items()}


def command_data(args: argparse.Namespace) -> None:
    per = -(-args.examples // args.jobs)
    tasks = [(args.stems, args.songs, [args.seed, i], per) for i in range(args.jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        parts = list(pool.map(examples, tasks))
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    with replacing(args.out) as temporary:
        np.savez(temporary, **data)
    print(f"{len(data['x'])} examples of {sorted(set(data['song']))} in "
          f"{time.perf_counter() - started:.0f} s -> {args.out}")  # fmt: skip


def torch_net():
    """The torch twin of :class:`~diffmusic_engine.dsp.late_mask.MaskNet` (same weight names)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Conv1d(lm.N_MELS + lm.ROOM_CHANNELS, lm.WIDTH, 1)
            self.dilated = nn.ModuleList(
                nn.Conv1d(lm.WIDTH, lm.WIDTH, 3, dilation=d, padding=d) for d in lm.DILATIONS
            )
            self.mix = nn.ModuleList(nn.Conv1d(lm.WIDTH, lm.WIDTH, 1) for _ in lm.DILATIONS)
            self.out = nn.Conv1d(lm.WIDTH, lm.N_MELS, 1)

        def forward(self, x):
            h = self.inp(x)
            for dilated, mix in zip(self.dilated, self.mix, strict=True):
                h = h + mix(torch.relu(dilated(h)))
            return -lm.MAX_CUT_DB * torch.sigmoid(self.out(torch.relu(h)) - 3)

    return Net()


def room_batch(rooms: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """The room channels for a batch of labels, jittered as an estimate errs."""
    out = []
    for label in rooms:
        log_t = label[:-1] + rng.normal(0, 0.25) + rng.normal(0, 0.08, len(label) - 1)
        bands = dict(zip(OCTAVES_HZ, np.exp(log_t), strict=True))
        out.append(lm.room_channels(bands, label[-1] + rng.normal(0, 3.0), frames))
    return np.stack(out)


def command_train(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    parts = [np.load(p) for p in args.data]
    x, target, counts, rooms = (np.concatenate([p[k] for p in parts])
                                for k in ("x", "target", "counts", "room"))  # fmt: skip
    net = torch_net()
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.steps)
    crop = args.crop
    for step in (bar := tqdm(range(args.steps), desc="train", unit="step")):
        pick = rng.integers(len(x), size=args.batch)
        first = rng.integers(x.shape[-1] - crop + 1, size=args.batch)
        window = (first[:, None] + np.arange(crop))[:, None, :]
        x_in, target_in, counts_in = (np.take_along_axis(a[pick], window, axis=2).astype(np.float32)
                                      for a in (x, target, counts))  # fmt: skip
        inputs = np.concatenate([x_in, room_batch(rooms[pick], crop, rng)], axis=1)
        weight = torch.from_numpy(counts_in)
        error = net(torch.from_numpy(inputs)) - torch.from_numpy(target_in)
        loss = (error.abs() * weight).sum() / weight.sum().clamp(min=1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.2f} dB")
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    probe = np.concatenate([x[0].astype(np.float32), room_batch(rooms[:1], x.shape[-1], rng)[0]])
    with torch.no_grad():
        theirs = net(torch.from_numpy(probe[None]))[0].numpy()
    difference = float(np.max(np.abs(lm.MaskNet(weights)(probe) - theirs)))
    if difference > 1e-3:
        raise SystemExit(f"the NumPy forward pass differs from torch's by {difference:.2e} dB")
    with replacing(args.out) as temporary:
        np.savez(temporary, **weights)
    print(f"last loss {loss.item():.2f} dB; NumPy = torch within {difference:.1e} dB -> {args.out}")


@cache
def load_net(path: str) -> lm.MaskNet:
    """A model's weights, read once per process (every recording of every room uses them)."""
    return lm.MaskNet.load(path)


def score(task: tuple) -> tuple[RoomSpec, str, list[float]]:
    """One recording in one room: log-mel ratios of bounded WPE, then WPE + each mask."""
    from diffmusic_engine.dsp.dereverb import dereverb_in_room, reason_to_skip, suppress_late
    from diffmusic_engine.metrics import log_mel_distance
    from diffmusic_engine.room import estimate_room

    room_spec, j, song, audio, rate, nets, share, cache = task
    irs, _ = room_responses(room_spec, j, rate, audio.shape[0])
    wet = reverberate(audio, irs)
    room = estimate_room(wet, rate)
    room = room and room.lengthened_only()  # what blind dereverb is told
    # WPE's output depends on the room estimate (its bound): the name holds what it was given
    told = f"{room.rt60:.3f}_{room.drr_db:.2f}" if room else "none"
    where = room_spec.stem if isinstance(room_spec, Path) else room_spec
    key = f"{where}_{j}_{rate}_{len(audio)}ch_{told}"
    cached = cache / f"{key}.npy" if cache else None
    if cached and cached.exists():
        wpe = np.load(cached)
    else:
        # short rooms too (min_rt60 0, which shipped dereverb leaves alone): the masks are
        # compared wherever WPE runs, and the outputs cached before that rule stay valid
        wpe = dereverb_in_room(wet, rate, room, {"late_mask": 0.0, "min_rt60": 0.0})[0]
        if cached:
            with replacing(cached) as temporary:
                np.save(temporary, wpe)
    masked = reason_to_skip(room, 1.0, shortest=0.0) is None  # the mask follows WPE where it ran
    outputs = [wpe] + [suppress_late(wet, wpe, rate, room, share, load_net(n))[0]
                       if masked else wpe for n in nets]  # fmt: skip
    before = log_mel_distance(audio, wet, rate)
    return room_spec, song, [log_mel_distance(audio, out, rate) / before for out in outputs]


def command_eval(args: argparse.Namespace) -> None:
    folds = {}
    for fold in args.fold:
        model, _, songs = fold.partition(":")
        folds |= {song: model for song in songs.split(",")}
    # j: the index among every recording, as bench.rooms eval's (it seeds the room's tails)
    recordings = as_channels(sources(args.audio, 0), args.mono)
    items = [(j, song, audio, rate) for j, (song, audio, rate) in enumerate(recordings)
             if song in folds]  # fmt: skip
    if args.rate:
        items = [(j, song, resample(audio, rate, args.rate), args.rate)
                 for j, song, audio, rate in items]  # fmt: skip
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    rooms = chosen_rooms(args.rooms, args.ir)
    shipped = [] if args.shipped == "none" else [args.shipped]
    names = ("WPE", "fold mask", "shipped mask")[: 2 + len(shipped)]
    tasks = [(i, j, song, audio, rate, [folds[song], *shipped], args.share, args.cache)
             for i in rooms for j, song, audio, rate in items]  # fmt: skip
    found: dict[RoomSpec, list[list[float]]] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for room, _, ratios in tqdm(pool.map(score, tasks), total=len(tasks), unit="recording"):
            found.setdefault(room, []).append(ratios)
            if args.json:  # keys: EVAL_ROOMS indices, or the measured files' names
                by_room = {getattr(r, "name", str(r)): v for r, v in found.items()}
                write_text_atomic(args.json, json.dumps({"columns": names, "ratios": by_room}))
            if len(found[room]) == len(items):
                r = np.array(found[room])
                print(f"{room_name(room)} ({len(items)} recordings): "
                      + "; ".join(f"{name} {r[:, k].mean():.3f} (max {r[:, k].max():.3f})"
                                  for k, name in enumerate(names)),
                      flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stems")
    p.add_argument("songs", type=Path)
    p.add_argument("out", type=Path)
    p.set_defaults(func=command_stems)
    p = sub.add_parser("data")
    p.add_argument("stems", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--songs", nargs="+", help="these songs only (default: every one)")
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.set_defaults(func=command_data)
    p = sub.add_parser("train")
    p.add_argument("data", type=Path, nargs="+")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=256, help="frames per example")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=command_train)
    p = sub.add_parser("eval")
    p.add_argument("audio", type=Path, nargs="+")
    p.add_argument("--fold", action="append", required=True, help="MODEL.npz:song,song,...")
    p.add_argument("--shipped", default=str(lm.MODEL_FILE), help="the shipped model ('none')")
    add_room_arguments(p)
    p.add_argument("--share", type=float, default=DEREVERB_OPTIONS["late_mask"].default,
                   help="of the mask's dB (default: the dereverb option's)")  # fmt: skip
    p.add_argument("--rate", type=int, help="resample the recordings to this rate (Hz)")
    p.add_argument("--mono", action="store_true", help=MONO_HELP)
    p.add_argument("--cache", type=Path, help="keep WPE's outputs here")
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--json", type=Path, help="every recording's ratios, by room index")
    p.set_defaults(func=command_eval)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
