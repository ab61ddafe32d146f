"""A reproducible music corpus built only from what installs from package registries.

Clips, every one with known stems (mix = sum of stems exactly), of two materials:
- ``real``: excerpts of real multitrack recordings (rock and metal, guitar + backing) that the
  package ships with their licences in ``data/real/`` (see its README);
- ``synthetic``: Bach chorales from music21's bundled corpus, each voice rendered separately through
  the General MIDI soundfont that pretty_midi ships (midirenderer, a wheel), and excerpts from
  ``diffmusic_engine.synth`` for drums and plucked strings. They flatter every method: report the
  two materials apart.

Rooms: shoebox impulse responses simulated with pyroomacoustics at fixed RT60s. Everything is
seeded; ``manifest.json`` lists every file with the SHA-256 of its samples, so two builds can be
compared.
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

from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.errors import DiffMusicError

SAMPLE_RATE = 44100
RT60S = (0.3, 0.6, 1.0)
# Chorale voices -> General MIDI programs (flute, clarinet, viola, cello): distinct timbres.
VOICE_PROGRAMS = {"Soprano": 73, "Alto": 71, "Tenor": 41, "Bass": 42}
DEFAULT_CHORALES = ("bach/bwv66.6", "bach/bwv269", "bach/bwv347", "bach/bwv153.1")
REAL_DIR = Path(__file__).parent / "data" / "real"
# A measured warehouse's impulse response (stereo, 44.1 kHz; data/rooms/README.md)
MEASURED_WAREHOUSE = Path(__file__).parent / "data" / "rooms" / "warehouse_omni-25-12.flac"
# Shipped songs (6 s each): <song>_backing.flac + <song>_guitar.flac.
REAL_SONGS = ("chaos_god", "internal_degeneration", "feelings", "war_of_freedom")
REAL_STEMS = ("backing", "guitar")


@dataclass(frozen=True)
class CorpusSpec:
    """What to build: which real songs, how many chorale and synth clips, their length (real
    excerpts are at most as long as shipped) and the room RT60s."""

    real_songs: tuple[str, ...] = REAL_SONGS
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


def real_stems(song: str, duration: float) -> dict[str, np.ndarray]:
    """The first ``duration`` seconds (at most the shipped 6 s) of a shipped song's stems."""
    if song not in REAL_SONGS:
        raise DiffMusicError(f"real song {song!r}: not shipped (one of {', '.join(REAL_SONGS)})")
    stems = {}
    for stem in REAL_STEMS:
        audio, info = read_audio(REAL_DIR / f"{song}_{stem}.flac")
        assert info.sample_rate == SAMPLE_RATE, info
        stems[stem.capitalize()] = audio[:, : int(duration * SAMPLE_RATE)]
    return stems


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
    return _render_midi(events, VOICE_PROGRAMS.get(part.partName, 0), duration, sample_rate)


def _render_midi(
    events: list[tuple[float, bool, int]], program: int, duration: float, sample_rate: int
) -> np.ndarray:
    """Render note events through the General MIDI soundfont, reverb and chorus off: mono float32.

    midirenderer (a wheel from PyPI with a Rust SoundFont synthesiser inside: no system library)
    renders a Standard MIDI File to 48 kHz 16-bit stereo, the same bytes on every run; soxr then
    brings it to ``sample_rate``. Both channels are equal (one centred voice): one is kept.
    """
    import io

    import midirenderer
    import pretty_midi
    import soundfile as sf
    import soxr

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    voice = pretty_midi.Instrument(program=program)
    # CC 91 (reverb send) and CC 93 (chorus send) at 0: dry stems, rooms are added separately.
    voice.control_changes += [pretty_midi.ControlChange(cc, 0, 0.0) for cc in (91, 93)]
    sounding: dict[int, float] = {}
    for time, note_on, pitch in events:
        if note_on:
            sounding[pitch] = time
        elif pitch in sounding:
            start = sounding.pop(pitch)
            if time > start:
                voice.notes.append(pretty_midi.Note(100, pitch, start, time))
    midi.instruments.append(voice)
    buffer = io.BytesIO()
    midi.write(buffer)
    wav = midirenderer.render_wave_from(_soundfont().read_bytes(), buffer.getvalue())
    audio, rendered_rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    mono = soxr.resample(audio[:, 0], rendered_rate, sample_rate, quality="VHQ")
    total = int(duration * sample_rate)
    out = np.zeros(total, np.float32)
    out[: min(total, len(mono))] = mono[:total]
    return out


def _soundfont() -> Path:
    """The General MIDI soundfont that pretty_midi ships (TimGM6mb, GPL-2.0)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def room_impulse_response(rt60: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A shoebox room (7 x 5 x 3 m) with absorption set for ``rt60``, by the image method
    (reflections up to order 30), normalised so that the direct path has unit gain."""
    from diffmusic_engine.evaluation.rooms import image_source_rir

    return image_source_rir(rt60, (7.0, 5.0, 3.0), (2.0, 3.1, 1.6), (5.2, 1.9, 1.4), sample_rate,
                            max_order=30)  # fmt: skip


def build_corpus(
    outdir: Path,
    spec: CorpusSpec = CorpusSpec(),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Render every clip, stem and room into ``outdir`` and write ``manifest.json``."""
    from diffmusic_engine.synth import music_stems

    outdir = Path(outdir)
    clips: list[dict[str, Any]] = []
    Render = Callable[[], dict[str, np.ndarray]]
    sources: list[tuple[str, str, Render]] = [
        (f"real-{song}", "real", lambda song=song: real_stems(song, spec.duration))
        for song in spec.real_songs
    ]
    sources += [
        (name.replace("/", "-"), "synthetic", lambda name=name: render_chorale(name, spec.duration))
        for name in spec.chorales
    ]
    sources += [
        (
            f"synth-{i}",
            "synthetic",
            lambda i=i: music_stems(spec.duration, SAMPLE_RATE, 2, spec.seed + i),
        )
        for i in range(spec.synth_clips)
    ]
    for clip_id, material, render in sources:
        if progress:
            progress(clip_id)
        clips.append({**_write_clip(outdir, clip_id, render()), "material": material})
    rooms = []
    for rt60 in spec.rt60s:
        path = write_audio(
            outdir / "rooms" / f"rt60-{rt60:.1f}.wav",
            room_impulse_response(rt60)[None],
            SAMPLE_RATE,
        )
        rooms.append({"rt60": rt60, "path": _relative(path, outdir), "sha256": sha256(path)})
    manifest = {
        "spec": {
            **spec.__dict__,
            **{k: list(getattr(spec, k)) for k in ("real_songs", "chorales", "rt60s")},
        },
        "sample_rate": SAMPLE_RATE,
        "clips": clips,
        "rooms": rooms,
        "versions": _versions(),
    }
    write_text_atomic(outdir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
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
    names = ("music21", "pretty_midi", "midirenderer", "soxr", "pyroomacoustics", "numpy")
    return {"python": platform.python_version(), **{name: version(name) for name in names}}
