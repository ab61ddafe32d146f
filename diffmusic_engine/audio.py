"""Reading and writing audio files: channels-first float32 inside, the file's own format outside.

Everything pedalboard reads is accepted (wav, flac, aiff, ogg, mp3, ...). Writes are atomic: the
audio goes to a temporary file beside the target, which is renamed over it only when complete, so
an existing file is never left half-written.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

from diffmusic_engine.errors import InputError

# Bit depths each container can hold (pedalboard's writers); float data needs 32-bit WAV.
_PCM_DEPTHS = {16, 24}
_FLOAT_CONTAINERS = {".wav"}
_LOSSY = {".ogg", ".mp3"}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, as far as writing it back needs: rate, channels and sample format."""

    sample_rate: int
    channels: int
    frames: int
    file_dtype: str  # pedalboard's name: "int16", "int24", "int32", "float32", "float64"

    @property
    def is_float(self) -> bool:
        return self.file_dtype.startswith("float")

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, AudioInfo]:
    """Read a file as float32 ``(channels, samples)`` plus its :class:`AudioInfo`.

    Raises :class:`InputError` for a missing, unreadable or empty file, or non-finite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with AudioFile(str(path)) as f:
            info = AudioInfo(int(round(f.samplerate)), f.num_channels, f.frames, f.file_dtype)
            audio = f.read(f.frames)
    except Exception as exc:  # pedalboard raises several types for undecodable files
        raise InputError(f"{path}: cannot read audio ({exc})") from exc
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    check_audio(audio, str(path))
    return audio, AudioInfo(info.sample_rate, info.channels, audio.shape[1], info.file_dtype)


def check_audio(audio: np.ndarray, what: str = "audio") -> None:
    """Raise :class:`InputError` unless ``audio`` is a non-empty, finite ``(channels, samples)``."""
    if audio.ndim != 2:
        raise InputError(f"{what}: expected (channels, samples), got shape {audio.shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise InputError(f"{what}: empty audio (no samples)")
    bad = ~np.isfinite(audio)
    if bad.any():
        channel, sample = np.argwhere(bad)[0]
        raise InputError(
            f"{what}: {int(bad.sum())} non-finite samples (NaN/Inf), first at channel "
            f"{int(channel)}, sample {int(sample)}"
        )


def bit_depth_for(path: str | os.PathLike[str], source_dtype: str) -> int:
    """The bit depth to write ``path`` with, keeping the source's format where the container can.

    Float input stays float (32-bit float WAV); 16/24-bit input keeps its depth; 32-bit integer
    input becomes 32-bit float in WAV and 24-bit elsewhere; lossy containers ignore the depth.
    """
    suffix = Path(path).suffix.lower()
    if suffix in _LOSSY:
        return 16
    is_float = source_dtype.startswith("float") or source_dtype == "int32"
    if is_float:
        return 32 if suffix in _FLOAT_CONTAINERS else 24
    depth = int(source_dtype.removeprefix("int") or 16)
    return depth if depth in _PCM_DEPTHS else 16


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    *,
    source_dtype: str = "float32",
) -> Path:
    """Write float32 ``(channels, samples)`` atomically; the format follows ``path``'s extension.

    ``source_dtype`` is the input file's sample format, so that a 24-bit file comes back 24-bit
    and float input stays float (see :func:`bit_depth_for`).
    """
    path = Path(path)
    check_audio(audio, f"output for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        with AudioFile(
            tmp, "w", sample_rate, audio.shape[0], bit_depth=bit_depth_for(path, source_dtype)
        ) as f:
            f.write(np.ascontiguousarray(audio, dtype=np.float32))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling of ``(channels, samples)`` with soxr (VHQ)."""
    if from_rate == to_rate:
        return audio
    import soxr

    return np.ascontiguousarray(
        soxr.resample(audio.T, from_rate, to_rate, quality="VHQ").T, dtype=np.float32
    )
