"""Short multi-instrument music excerpts synthesised in numpy, for tests, demos and benchmarks.

Not sine waves: a Karplus-Strong plucked bass, FM electric-piano chords with a Karplus-Strong
plucked arpeggio over them, noise-based drums (kick, snare, closed and open hats) and a bright lead
with delayed vibrato, all on one chord progression and panned across the stereo field. Everything
is drawn from ``numpy.random.default_rng(seed)``, so the same arguments give the same samples.

>>> stems = music_stems(4.0, 44100, channels=2, seed=0)   # {"drums", "bass", "keys", "lead"}
>>> mix = music_excerpt(4.0, 44100)                       # their sum, peak about 0.5
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

STEMS = ("drums", "bass", "keys", "lead")
PEAK = 0.5

# Progressions as (root offset in semitones from the key, chord tones above the root).
_MINOR, _MAJOR = (0, 3, 7, 10), (0, 4, 7, 11)
_PROGRESSIONS = (
    ((0, _MINOR), (8, _MAJOR), (3, _MAJOR), (10, _MAJOR)),  # i  VI  III VII
    ((0, _MINOR), (5, _MINOR), (10, _MAJOR), (3, _MAJOR)),  # i  iv  VII III
    ((0, _MAJOR), (7, _MAJOR), (9, _MINOR), (5, _MAJOR)),  # I  V   vi  IV
    ((0, _MINOR), (3, _MAJOR), (5, _MINOR), (7, _MINOR)),  # i  III iv  v
)
_PENTATONIC = (0, 3, 5, 7, 10)
_Progression = tuple[tuple[int, tuple[int, ...]], ...]


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _add(buffer: np.ndarray, start: int, signal: np.ndarray) -> None:
    """Mix ``signal`` (channels, n) into ``buffer`` at sample ``start``, cut at the end."""
    stop = min(buffer.shape[-1], start + signal.shape[-1])
    if start < stop:
        buffer[..., start:stop] += signal[..., : stop - start]


def _pan(signal: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan of a mono signal to (2, n); ``pan`` in -1 (left) .. 1 (right)."""
    angle = (pan + 1) * np.pi / 4
    return np.sqrt(2) * np.stack([np.cos(angle) * signal, np.sin(angle) * signal])


def _envelope(n: int, sr: int, attack: float, decay: float, release: float = 0.02) -> np.ndarray:
    """Linear attack, exponential decay (time constant ``decay``), raised-cosine release."""
    t = np.arange(n) / sr
    env = np.exp(-t / decay) * np.minimum(1.0, t / max(attack, 1e-4))
    tail = min(n, int(release * sr))
    if tail:
        env[n - tail :] *= 0.5 * (1 + np.cos(np.linspace(0, np.pi, tail)))
    return env


def karplus_strong(
    frequency: float,
    n: int,
    sr: int,
    rng: np.random.Generator,
    *,
    decay: float = 0.996,
    brightness: float = 0.6,
) -> np.ndarray:
    """A plucked string: a noise burst recirculated through a delay line with a 2-tap average.

    ``y[n] = x[n] + decay * (y[n-P] + y[n-P-1]) / 2``; evaluated one period ``P`` at a time (each
    block depends only on the previous one), which is vectorised and fast even for long notes.
    """
    period = max(2, int(round(sr / frequency - 0.5)))
    burst = rng.uniform(-1, 1, period + 1)
    # A darker pluck: low-pass the excitation (one-pole), more for small ``brightness``.
    alpha = float(np.clip(brightness, 0.05, 1.0))
    burst = lfilter([alpha], [1.0, alpha - 1.0], burst)
    burst -= burst.mean()
    y = np.zeros(max(n, period + 1))
    y[: period + 1] = burst
    start = period + 1
    while start < y.size:
        stop = min(y.size, start + period)
        y[start:stop] = (
            decay
            * 0.5
            * (y[start - period : stop - period] + y[start - period - 1 : stop - period - 1])
        )
        start = stop
    return y[:n]


def _fm_note(frequency: float, n: int, sr: int, *, decay: float = 0.6) -> np.ndarray:
    """An FM electric-piano note: a 1:1 pair (warm body) and a 1:14 pair (the tine's ding)."""
    t = np.arange(n) / sr
    body_index = 2.5 * np.exp(-t / 0.25) + 0.3
    tine_index = 1.2 * np.exp(-t / 0.03)
    phase = 2 * np.pi * frequency * t
    body = np.sin(phase + body_index * np.sin(phase))
    tine_ratio = 14.0 if 14 * frequency < sr / 2.2 else 1.0
    tine = 0.25 * np.sin(phase + tine_index * np.sin(tine_ratio * phase)) * np.exp(-t / 0.08)
    return (body + tine) * _envelope(n, sr, 0.002, decay, release=0.03)


def _lead_note(frequency: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A bright lead: band-limited sawtooth-like partials, vibrato fading in after 150 ms."""
    t = np.arange(n) / sr
    depth = 0.012 * np.clip((t - 0.15) / 0.2, 0.0, 1.0)  # fraction of the pitch (about 20 cents)
    rate = 5.5 + 0.5 * rng.random()
    inst = frequency * (1 + depth * np.sin(2 * np.pi * rate * t))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    out = np.zeros(n)
    for k in range(1, 25):
        if k * frequency * 1.02 >= sr / 2:
            break
        out += np.sin(k * phase) / k**1.2
    return out * _envelope(n, sr, 0.015, 1.2, release=0.05)


def _kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    freq = 45 + 110 * np.exp(-t / 0.04)  # pitch drop 155 Hz -> 45 Hz
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
    click = rng.standard_normal(n) * np.exp(-t / 0.003) * 0.3
    return body + click


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    noise = sosfilt(
        butter(2, [1200, min(9000, 0.45 * sr)], "bandpass", fs=sr, output="sos"),
        rng.standard_normal(n),
    )
    tone = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.04)
    return 0.9 * noise * np.exp(-t / 0.07) + 0.5 * tone


def _hat(sr: int, rng: np.random.Generator, open_: bool) -> np.ndarray:
    n = int((0.3 if open_ else 0.06) * sr)
    t = np.arange(n) / sr
    cutoff = min(7000, 0.4 * sr)
    noise = sosfilt(butter(4, cutoff, "highpass", fs=sr, output="sos"), rng.standard_normal(n))
    return 0.35 * noise * np.exp(-t / (0.09 if open_ else 0.015))


def _render(duration: float, sr: int, seed: int) -> dict[str, np.ndarray]:
    """Every stem as stereo float64 ``(2, n)``, before scaling."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    stems = {name: np.zeros((2, n)) for name in STEMS}
    bpm = float(rng.uniform(100, 128))
    key = 45 + int(rng.integers(0, 7))  # A2 .. D#3
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    beat = 60.0 / bpm
    song = _Song(sr, beat, key, beats=int(np.ceil(duration / beat)) + 1)
    # one generator, drawn in this order: drums, harmony, lead
    _drums(stems["drums"], song, rng)
    _harmony(stems["bass"], stems["keys"], song, progression, rng)
    _lead(stems["lead"], song, rng)
    return stems


@dataclass(frozen=True)
class _Song:
    """What every part is written against: the rate, the tempo, the key and the length."""

    sr: int
    beat: float  # seconds a beat
    key: int  # MIDI note of the tonic
    beats: int  # beats to fill

    def at(self, b: float) -> int:
        """The sample at beat ``b``."""
        return int(round(b * self.beat * self.sr))


def _drums(drums: np.ndarray, song: _Song, rng: np.random.Generator) -> None:
    """Kick on 1 and 3 (sometimes the "and" of 3), snare on 2 and 4, eighth-note hats."""
    sr, at = song.sr, song.at
    for b in range(song.beats):
        bar_beat = b % 4
        if bar_beat in (0, 2):
            _add(drums, at(b), _pan(_kick(sr, rng), 0.0))
        if bar_beat == 2 and rng.random() < 0.5:
            _add(drums, at(b + 0.5), _pan(0.7 * _kick(sr, rng), 0.0))
        if bar_beat in (1, 3):
            _add(drums, at(b), _pan(_snare(sr, rng), -0.15))
        for half in (0.0, 0.5):
            open_ = bar_beat == 3 and half == 0.5 and rng.random() < 0.6
            accent = 1.0 if half == 0.0 else 0.6
            _add(drums, at(b + half), _pan(accent * _hat(sr, rng, open_), 0.45))


def _harmony(
    bass: np.ndarray,
    keys: np.ndarray,
    song: _Song,
    progression: _Progression,
    rng: np.random.Generator,
) -> None:
    """One chord every two beats: bass, FM chord and a plucked arpeggio."""
    sr, beat, at = song.sr, song.beat, song.at
    for c in range(int(np.ceil(song.beats / 2))):
        root, tones = progression[c % len(progression)]
        chord_root = song.key + root
        b0 = 2 * c
        # Bass: plucked string on eighth notes, root with octave jumps.
        for step in range(4):
            note = chord_root + (12 if step == 3 and rng.random() < 0.5 else 0)
            length = int(0.5 * beat * sr)
            pluck = karplus_strong(_hz(note), length, sr, rng, decay=0.998, brightness=0.25)
            pluck *= _envelope(length, sr, 0.001, 10.0, release=0.015)
            _add(bass, at(b0 + 0.5 * step), _pan(0.9 * pluck, 0.0))
        # Keys: FM chord (voiced an octave up), hit on the beat and the "and" of the next.
        for hit, length_beats in ((0.0, 1.5), (1.5, 0.5)):
            length = int(length_beats * beat * sr)
            for i, tone in enumerate(tones[:3] + (tones[3] if rng.random() < 0.5 else 12,)):
                note = _fm_note(_hz(chord_root + 12 + tone), length, sr)
                _add(keys, at(b0 + hit), _pan(0.22 * note, -0.5 + i / 3))
        # Plucked arpeggio on sixteenths over the chord, two octaves up, panned right.
        for step in range(8):
            tone = tones[step % len(tones)] + (12 if step >= 4 else 0)
            length = int(0.6 * beat * sr)
            pluck = karplus_strong(_hz(chord_root + 24 + tone), length, sr, rng, decay=0.995)
            pluck *= _envelope(length, sr, 0.001, 10.0, release=0.02)
            _add(keys, at(b0 + 0.25 * step), _pan(0.18 * pluck, 0.6))


def _lead(lead: np.ndarray, song: _Song, rng: np.random.Generator) -> None:
    """A pentatonic random walk, half to two beats per note, starting on beat 1."""
    b, degree = 1.0, int(rng.integers(0, 5))
    while b < song.beats:
        length_beats = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 9))
        note = song.key + 24 + _PENTATONIC[degree % 5] + 12 * (degree // 5)
        length = int(length_beats * song.beat * song.sr * 0.95)
        note_audio = _lead_note(_hz(note), length, song.sr, rng)
        _add(lead, song.at(b), _pan(0.3 * note_audio, -0.35))
        b += length_beats


def music_stems(
    duration: float = 4.0, sample_rate: int = 44100, channels: int = 2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Named stems ``"drums"``, ``"bass"``, ``"keys"``, ``"lead"`` of one excerpt.

    Each is float32 ``(channels, samples)`` with ``samples = round(duration * sample_rate)``;
    their sum (:func:`music_excerpt`) peaks at about 0.5. Mono is the mid of the stereo mix; more
    than two channels repeat left and right alternately. Deterministic in ``seed``.
    """
    if duration <= 0 or sample_rate < 8000 or channels < 1:
        raise ValueError(
            f"music_stems: need duration > 0, sample_rate >= 8000, channels >= 1 "
            f"(got {duration}, {sample_rate}, {channels})"
        )
    stems = _render(float(duration), int(sample_rate), int(seed))
    peak = np.max(np.abs(sum(stems.values())))
    scale = PEAK / peak if peak > 0 else 1.0
    out = {}
    for name, stereo in stems.items():
        stereo = stereo * scale
        if channels == 1:
            shaped = stereo.mean(axis=0, keepdims=True)
        else:
            shaped = stereo[np.arange(channels) % 2]
        out[name] = np.ascontiguousarray(shaped, dtype=np.float32)
    return out


def music_excerpt(
    duration: float = 4.0, sample_rate: int = 44100, channels: int = 2, seed: int = 0
) -> np.ndarray:
    """The mix of :func:`music_stems`: float32 ``(channels, samples)``, peak about 0.5."""
    stems = music_stems(duration, sample_rate, channels, seed)
    mix = np.zeros_like(stems[STEMS[0]])
    for name in STEMS:
        mix += stems[name]
    return mix


def falling_noise(
    seconds: float, sample_rate: int, db_per_octave: float, *, seed: int = 0
) -> np.ndarray:
    """Stereo noise ``(2, samples)``, flat up to 2 kHz and falling ``db_per_octave`` above:
    a recording's long-term spectrum (-9: a mix's top; -24: a dark stem's), built."""
    n = int(seconds * sample_rate)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal((2, n)))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    gain_db = db_per_octave * np.log2(np.maximum(freqs, 2000.0) / 2000.0)
    return (0.1 * np.fft.irfft(spectrum * 10 ** (gain_db / 20), n=n)).astype(np.float32)
