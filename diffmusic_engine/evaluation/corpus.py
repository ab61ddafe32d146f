"""A reproducible music corpus built only from what installs from package registries.

Clips: Bach chorales from music21's bundled corpus, each voice rendered separately through the
General MIDI soundfont that pretty_midi ships (FluidSynth), so every clip has known stems
(mix = sum of stems exactly); plus excerpts from ``diffmusic_engine.synth`` for drums and plucked
strings. Rooms: shoebox impulse responses simulated with pyroomacoustics at fixed RT60s. Everything
is seeded; ``manifest.json`` lists every file with the SHA-256 of its samples, so two builds
can be compared.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.errors import DiffMusicError

SAMPLE_RATE = 44100
RT60S = (0.3, 0.6, 1.0)
# Chorale voices -> General MIDI programs (flute, clarinet, viola, cello): distinct timbres.
VOICE_PROGRAMS = {"Soprano": 73, "Alto": 71, "Tenor": 41, "Bass": 42}
DEFAULT_CHORALES = ("bach/bwv66.6", "bach/bwv269", "bach/bwv347", "bach/bwv153.1")


@dataclass(frozen=True)
class CorpusSpec:
    """What to build: how many chorale and synth clips, their length and the room RT60s."""

    chorales: tuple[str, ...] = DEFAULT_CHORALES[:2]
    synth_clips: int = 1
    duration: float = 5.0
    rt60s: tuple[float, ...] = RT60S
    seed: int = 0


def render_chorale(name: str, duration: float, sample_rate: int = SAMPLE_RATE) -> dict[str, Any]:
    """The first ``duration`` seconds of a chorale: ``{voice: (2, samples) float32}``.

    Voices are panned across the stereo field; the common gain keeps the mix's peak at 0.7.
    """
    stems = {voice: _render_voice(part, duration, sample_rate) for voice, part in _voices(name)}
    pans = np.linspace(-0.6, 0.6, len(stems))
    stereo = {
        voice: np.stack([audio * np.sqrt((1 - pan) / 2), audio * np.sqrt((1 + pan) / 2)])
        for (voice, audio), pan in zip(stems.items(), pans, strict=True)
    }
    gain = 0.7 / max(float(np.max(np.abs(sum(stereo.values())))), 1e-9)
    return {voice: (audio * gain).astype(np.float32) for voice, audio in stereo.items()}


def _voices(name: str) -> list[tuple[str, Any]]:
    from music21 import corpus

    try:
        score = corpus.parse(name)
    except Exception as exc:  # music21 raises its own types for unknown works
        raise DiffMusicError(f"chorale {name!r}: not in music21's corpus ({exc})") from None
    return [(part.partName or f"Voice{i}", part) for i, part in enumerate(score.parts)]


def _render_voice(part: Any, duration: float, sample_rate: int) -> np.ndarray:
    marks = part.metronomeMarkBoundaries()
    tempo = (marks[0][2].getQuarterBPM() if marks else None) or 80.0
    seconds_per_quarter = 60.0 / tempo
    events: list[tuple[float, bool, int]] = []  # (time, is note-on, MIDI pitch)
    for element in part.flatten().notes:
        start = float(element.offset) * seconds_per_quarter
        if start >= duration:
            break
        end = min(start + float(element.quarterLength) * seconds_per_quarter, duration)
        for pitch in element.pitches:
            events += [(start, True, int(pitch.midi)), (end, False, int(pitch.midi))]
    events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same time
    return _fluidsynth_float(events, VOICE_PROGRAMS.get(part.partName, 0), duration, sample_rate)


def _fluidsynth_float(
    events: list[tuple[float, bool, int]], program: int, duration: float, sample_rate: int
) -> np.ndarray:
    """Render note events through FluidSynth in float32, reverb and chorus off.

    Written against libfluidsynth's ``fluid_synth_write_float`` because pyfluidsynth (and so
    pretty_midi's renderer) only reads 16-bit samples, whose dither differs from one process to
    the next: float output is reproducible bit for bit and keeps quiet voices above 16-bit noise.
    """
    from ctypes import c_float, c_int, c_void_p

    import fluidsynth

    write_float = fluidsynth.cfunc(
        "fluid_synth_write_float", c_int, ("synth", c_void_p, 1), ("len", c_int, 1),
        ("lbuf", c_void_p, 1), ("loff", c_int, 1), ("lincr", c_int, 1),
        ("rbuf", c_void_p, 1), ("roff", c_int, 1), ("rincr", c_int, 1),
    )  # fmt: skip
    synth = fluidsynth.Synth(
        gain=0.5, samplerate=sample_rate,
        **{"synth.reverb.active": 0, "synth.chorus.active": 0},
    )  # fmt: skip
    try:
        synth.program_select(0, synth.sfload(_soundfont()), 0, program)
        total = int(duration * sample_rate)
        out = np.zeros(total, np.float32)
        position = 0
        for time, note_on, pitch in [*events, (duration, False, -1)]:
            until = min(int(round(time * sample_rate)), total)
            if until > position:
                block = (c_float * (2 * (until - position)))()
                write_float(synth.synth, until - position, block, 0, 2, block, 1, 2)
                out[position:until] = np.frombuffer(block, np.float32)[0::2]
                position = until
            if pitch >= 0:
                synth.noteon(0, pitch, 80) if note_on else synth.noteoff(0, pitch)
        return out
    finally:
        synth.delete()


def _soundfont() -> str:
    """The General MIDI soundfont that pretty_midi ships (TimGM6mb)."""
    import pretty_midi

    return str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


def room_impulse_response(rt60: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A shoebox room (7 x 5 x 3 m) with absorption set for ``rt60``, simulated by pyroomacoustics.

    Normalised so that the direct path has unit gain; the length is 1.2 x RT60.
    """
    import pyroomacoustics as pra

    size = [7.0, 5.0, 3.0]
    absorption, max_order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(
        size, fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 30)
    )  # deterministic image sources (the randomised variant draws from an unseeded generator)
    room.add_source([2.0, 3.1, 1.6])
    room.add_microphone([5.2, 1.9, 1.4])
    room.compute_rir()
    ir = np.asarray(room.rir[0][0], dtype=np.float64)
    ir = ir[int(np.argmax(np.abs(ir))) :]  # start at the direct path: no pre-delay
    ir = ir[: int(1.2 * rt60 * sample_rate)]
    return (ir / ir[0]).astype(np.float32)


def build_corpus(
    outdir: Path,
    spec: CorpusSpec = CorpusSpec(),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Render every clip, stem and room into ``outdir`` and write ``manifest.json``."""
    from diffmusic_engine.synth import music_stems

    outdir = Path(outdir)
    clips: list[dict[str, Any]] = []
    sources: list[tuple[str, Callable[[], dict[str, np.ndarray]]]] = [
        (name.replace("/", "-"), lambda name=name: render_chorale(name, spec.duration))
        for name in spec.chorales
    ]
    sources += [
        (f"synth-{i}", lambda i=i: music_stems(spec.duration, SAMPLE_RATE, 2, spec.seed + i))
        for i in range(spec.synth_clips)
    ]
    for clip_id, render in sources:
        if progress:
            progress(clip_id)
        stems = render()
        clips.append(_write_clip(outdir, clip_id, stems))
    rooms = []
    for rt60 in spec.rt60s:
        path = write_audio(
            outdir / "rooms" / f"rt60-{rt60:.1f}.wav",
            room_impulse_response(rt60)[None],
            SAMPLE_RATE,
        )
        rooms.append({"rt60": rt60, "path": _relative(path, outdir), "sha256": sha256(path)})
    manifest = {
        "spec": {**spec.__dict__, "chorales": list(spec.chorales), "rt60s": list(spec.rt60s)},
        "sample_rate": SAMPLE_RATE,
        "clips": clips,
        "rooms": rooms,
        "versions": _versions(),
    }
    (outdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_clip(outdir: Path, clip_id: str, stems: dict[str, np.ndarray]) -> dict[str, Any]:
    folder = outdir / "clips" / clip_id
    mix = np.sum(list(stems.values()), axis=0).astype(np.float32)
    files = {"mix": write_audio(folder / "mix.wav", mix, SAMPLE_RATE)}
    for name, audio in stems.items():
        files[name] = write_audio(folder / f"{name.lower()}.wav", audio, SAMPLE_RATE)
    return {
        "id": clip_id,
        "mix": _relative(files["mix"], outdir),
        "stems": {name: _relative(files[name], outdir) for name in stems},
        "sha256": {name: sha256(path) for name, path in files.items()},
    }


def load_manifest(corpus_dir: Path) -> dict[str, Any]:
    """The manifest of a built corpus (a clear error if ``corpus_dir`` is not one)."""
    path = Path(corpus_dir) / "manifest.json"
    if not path.is_file():
        raise DiffMusicError(f"{corpus_dir}: no manifest.json (run: diffmusic corpus build DIR)")
    return json.loads(path.read_text())


def sha256(path: Path) -> str:
    """SHA-256 of a file's decoded samples and rate (not its bytes: libsndfile stamps the time of
    writing into float WAV headers)."""
    audio, info = read_audio(path)
    return hashlib.sha256(np.int64(info.sample_rate).tobytes() + audio.tobytes()).hexdigest()


def _relative(path: Path, root: Path) -> str:
    return str(Path(path).relative_to(root))


def _versions() -> dict[str, str]:
    names = ("music21", "pretty_midi", "pyfluidsynth", "pyroomacoustics", "numpy")
    return {"python": platform.python_version(), **{name: version(name) for name in names}}
