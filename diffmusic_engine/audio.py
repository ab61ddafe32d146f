"""Reading and writing audio files: channels-first float32 inside, the file's own format outside.

libsndfile (soundfile) reads and writes the containers of :mod:`diffmusic_engine.containers`
with exact integer round trips (a 16-bit sample read and written back is the same integer, which
bit-identical restoration outside a gap depends on; pedalboard's integer conversion is off by up
to one step). pedalboard reads whatever else it can decode and writes the other extensions it
knows (``check_format``). New samples written as 16-bit integers are dithered (``_quantize``).
Writes are atomic: the audio goes to a temporary file beside the target, renamed over it only when
complete, so an existing file is never left half-written. The arrays themselves and their checks
(shape, sample type, finite samples) are :mod:`diffmusic_engine.audio_arrays`'s.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from pedalboard.io import AudioFile

from diffmusic_engine import containers
from diffmusic_engine.atomic import check_target, disk_full, replacing
from diffmusic_engine.audio_arrays import check_audio
from diffmusic_engine.containers import CONTAINERS, FLOAT_CONTAINERS, LOSSY_SUBTYPES, major_format
from diffmusic_engine.errors import InputError, OutputError, not_a_file
from diffmusic_engine.metadata import wav_frames_promised

# libsndfile subtype -> the sample format name kept in AudioInfo (pedalboard's naming).
_SUBTYPE_DTYPES = {
    "PCM_S8": "int8", "PCM_U8": "int8", "PCM_16": "int16", "PCM_24": "int24",
    "PCM_32": "int32", "FLOAT": "float32", "DOUBLE": "float64",
}  # fmt: skip
_PCM_DEPTHS = {16, 24}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, as far as writing it back needs: rate, channels and sample format."""

    sample_rate: int
    channels: int
    frames: int
    file_dtype: str  # "int16", "int24", "int32", "float32", "float64" (lossy codecs: "float32")
    lossy: bool = False  # decoded from a lossy codec (containers.lossy_coded): diagnose.coded

    @property
    def is_float(self) -> bool:
        return self.file_dtype.startswith("float")

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


# what a file's reader says to do about NaN/Inf in it (integer samples cannot hold them)
NON_FINITE_FILE_REMEDY = "render or export the file again, or as 16- or 24-bit integers"


def empty_file_error(path: object) -> InputError:
    """The error for a file that holds no samples, read whole or streamed (a header alone: an
    export or a copy that was cut short)."""
    return InputError(f"{path}: empty audio (no samples); render or export the file again")


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, AudioInfo]:
    """Read a file as float32 ``(channels, samples)`` plus its :class:`AudioInfo`.

    Raises :class:`InputError` for a missing, unreadable or empty file, or non-finite samples.
    """
    with AudioReader(path) as reader:
        audio = reader.read(max(reader.info.frames, 0))
    if audio.size == 0:
        raise empty_file_error(reader.path)
    check_audio(audio, str(reader.path), remedy=NON_FINITE_FILE_REMEDY)
    return audio, replace(reader.info, channels=audio.shape[0], frames=audio.shape[1])


def bit_depth_for(path: str | os.PathLike[str], source_dtype: str) -> int:
    """The bit depth to write ``path`` with, keeping the source's format where the container can.

    Float input stays float (32-bit float in WAV/AIFF, 24-bit in FLAC, which has no float);
    16/24-bit input keeps its depth; 32-bit integer input becomes float; 8-bit becomes 16-bit.
    Lossy containers (ogg, mp3) ignore the depth (an asked one is refused:
    ``containers.no_bit_depth``).
    """
    suffix = Path(path).suffix.lower()
    if source_dtype.startswith("float") or source_dtype == "int32":
        return 32 if suffix in FLOAT_CONTAINERS else 24
    depth = int(source_dtype.removeprefix("int") or 16)
    return depth if depth in _PCM_DEPTHS else 16


def check_writable(
    path: str | os.PathLike[str],
    sample_rate: int | None = None,
    channels: int | None = None,
    source_dtype: str = "float32",
) -> None:
    """Before the work: :func:`check_format`, :class:`OutputError` unless the file can be
    written there (``atomic.check_target``; a write checks that itself, in ``replacing``) and,
    given the audio's rate and channels, unless the format can hold them (:func:`check_layout`).
    """
    check_format(path)
    check_target(path)
    if sample_rate is not None and channels is not None:
        check_layout(path, sample_rate, channels, source_dtype)


def check_layout(
    path: str | os.PathLike[str], sample_rate: int, channels: int, source_dtype: str = "float32"
) -> None:
    """Raise :class:`OutputError` naming ``path`` unless its format holds ``channels`` at
    ``sample_rate`` (MP3: 8-48 kHz, one or two channels; FLAC: up to 8 channels): a writer is
    opened on a scratch file, so the rule is the writing library's own."""
    layout = (Path(path).suffix.lower(), sample_rate, channels, source_dtype)
    if layout in _WRITABLE:
        return
    reason = _layout_refused(*layout)
    if reason is not None:
        raise _layout_error(path, sample_rate, channels, reason)
    _WRITABLE.add(layout)


# The layouts (suffix, rate, channels, source dtype) and pedalboard extensions a probe could
# write: once a process, a batch probes once, not once a file. A refusal is probed again: one
# for a passing reason (a full scratch disk: "System error") had refused every later file.
_WRITABLE: set[tuple[str, int, int, str] | str] = set()


def _layout_refused(suffix: str, sample_rate: int, channels: int, source_dtype: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="diffmusic-probe-") as folder:
        probe = Path(folder) / f"probe{suffix}"
        try:
            AudioWriter(probe, sample_rate, channels, source_dtype=source_dtype).close()
        except OutputError as exc:
            return _refusal(exc.__cause__)
    return None


def _refusal(exc: BaseException | None) -> str:
    reason = getattr(exc, "error_string", None) or str(exc).rpartition("': ")[2] or "refused"
    return reason.strip().removeprefix("Error : ")


def _layout_error(
    path: str | os.PathLike[str], sample_rate: int, channels: int, reason: str
) -> OutputError:
    return OutputError(
        f"{path}: {Path(path).suffix} cannot hold {channels} channel(s) at {sample_rate} Hz "
        f"({reason}); write a .wav or .flac, or resample or downmix first"
    )


def check_format(path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` naming ``path`` unless its extension is one we can write.

    libsndfile's containers always are; another extension is tried with pedalboard on a scratch
    file (what it writes depends on the platform: m4a on macOS, nothing more on Linux).
    """
    suffix = Path(path).suffix.lower()
    if suffix in CONTAINERS or suffix in _WRITABLE:
        return
    if suffix and _pedalboard_writes(suffix):
        _WRITABLE.add(suffix)
        return
    what = f"a {suffix} file" if suffix else "a file without an extension"
    raise InputError(
        f"{path}: cannot write {what}; give the output an audio extension ({', '.join(CONTAINERS)})"
    )


def _pedalboard_writes(suffix: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="diffmusic-probe-") as folder:
        try:
            with AudioFile(str(Path(folder) / f"probe{suffix}"), "w", 44100, 1):
                return True
        except Exception:  # pedalboard raises ValueError for an unknown format
            return False


def check_headroom(path: str | os.PathLike[str], audio: np.ndarray, source_dtype: str) -> None:
    """Raise :class:`OutputError` if ``audio`` peaks over full scale and ``path`` would store it
    in integer samples (:func:`bit_depth_for`), which clip it: float input written to FLAC.

    Asked of the input, before the work (``restore``): a write does not ask it, since failing
    there would lose the work for a restoration's overshoot of a sample or two."""
    over = over_full_scale(path, audio, source_dtype)
    if over:
        raise OutputError(f"{path}: {over}; {float_remedy(path)}, or lower the level first")


def float_remedy(path: str | os.PathLike[str], other: str = "a .wav or .aiff") -> str:
    """How to keep samples over full scale in ``path``'s stead: float samples, which only some
    containers hold (FLAC has none: then ``other``, how to write one that does)."""
    if Path(path).suffix.lower() in FLOAT_CONTAINERS:
        return "write float (--bit-depth 32f)"
    return f"write float ({other}, with --bit-depth 32f)"


def over_full_scale(path: str | os.PathLike[str], audio: np.ndarray, source_dtype: str) -> str:
    """What of ``audio`` the integer samples of ``path`` (:func:`bit_depth_for`) would clip,
    ``"the audio peaks at +X dBFS, N samples over the full scale of the D-bit samples .ext
    holds"``; ``""`` where nothing would (float storage, or no sample over full scale)."""
    suffix, depth = Path(path).suffix.lower(), bit_depth_for(path, source_dtype)
    pcm_container = suffix in CONTAINERS and suffix not in LOSSY_SUBTYPES
    if not pcm_container or (depth == 32 and suffix in FLOAT_CONTAINERS) or not audio.size:
        return ""
    over = int(np.count_nonzero(np.abs(audio) > 1.0))
    if not over:
        return ""
    peak = float(np.max(np.abs(audio)))
    return (
        f"the audio peaks at {20 * np.log10(peak):+.1f} dBFS, {over} sample(s) over the full "
        f"scale of the {depth}-bit samples {suffix} holds (they clip)"
    )


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
    return write_tracks([path], [audio], sample_rate, source_dtype=source_dtype)[0]


# Frames quantised and written at a time (a whole 5 min stereo track at once: 600 MB more peak)
WRITE_FRAMES = 2**18
UNREADABLE = "check that it is a whole audio file, or convert it to WAV or FLAC"  # the remedy


def write_tracks(
    paths: Sequence[str | os.PathLike[str]],
    tracks: Sequence[np.ndarray],
    sample_rate: int,
    *,
    source_dtype: str = "float32",
    tags: dict[str, str] | None = None,
) -> list[Path]:
    """Write each track to its path as :func:`write_audio` does (with the input's text
    ``tags``, :func:`diffmusic_engine.metadata.read_tags`): every track goes to its
    temporary first, and only when all are written are they renamed into place, so a failed
    write (a full disk had left the first of two separated sources written, the second
    missing) changes no file; only a rename failing midway could leave some renamed."""
    paths = [Path(path) for path in paths]
    for path, audio in zip(paths, tracks, strict=True):
        check_format(path)
        check_audio(audio, f"output for {path}")
    with ExitStack() as renames:  # each replacing() renames on a clean exit, deletes on error
        for index, (path, audio) in enumerate(zip(paths, tracks, strict=True)):
            temporary = renames.enter_context(replacing(path))  # the writer creates it
            try:
                with AudioWriter(temporary, sample_rate, audio.shape[0], source_dtype=source_dtype,
                                 frames=audio.shape[1], tags=tags,
                                 dither_seed=index) as writer:  # fmt: skip
                    for start in range(0, audio.shape[1], WRITE_FRAMES):
                        writer.write(audio[:, start : start + WRITE_FRAMES])
            except OutputError as exc:  # the format refused the layout: name the target
                raise _layout_error(
                    path, sample_rate, audio.shape[0], _refusal(exc.__cause__)
                ) from None
    return paths


def _quantize(audio: np.ndarray, depth: int, rng: np.random.Generator) -> np.ndarray:
    """To ``depth``-bit steps, clipped, as frames-first int16 or int32 (24-bit in the top bits,
    as libsndfile expects). A sample already on a step (what came in as 16 or 24 bits and was
    not changed) keeps it exactly; at 16 bits a new one (a repair, a gain) is dithered first
    with triangular (TPDF) noise of one step either way: rounded alone, a quiet tone after a
    declip's gain had come back with its third harmonic 11.7 dB under it. (libsndfile
    truncates and does not dither, hence by hand.)"""
    scale = 2.0 ** (depth - 1)
    steps = audio.T.astype(np.float64) * scale
    if depth == 16:
        new = steps != np.round(steps)
        pairs = rng.random((int(new.sum()), 2))  # in sample order: blocks draw as the whole
        steps[new] += pairs[:, 0] - pairs[:, 1]
    steps = np.clip(np.round(steps), -scale, scale - 1)
    if depth == 16:
        return steps.astype(np.int16)
    return steps.astype(np.int32) << (32 - depth)


class AudioReader:
    """Block-by-block reading, for files too long to hold (the batch renderer streams with it).

    Reads like :func:`read_audio` (libsndfile where it can, else pedalboard): ``read(frames)``
    gives float32 ``(channels, n)`` blocks, ``n < frames`` only at the end of the file.
    Raises :class:`InputError` for a missing or unreadable file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: {not_a_file(self.path)}")
        self._sf: sf.SoundFile | None = None
        self._pb: AudioFile | None = None
        try:
            self._sf = sf.SoundFile(str(self.path))
            rate, channels, frames = self._sf.samplerate, self._sf.channels, self._sf.frames
            dtype = _SUBTYPE_DTYPES.get(self._sf.subtype, "float32")
            subtype = self._sf.subtype
        except (sf.LibsndfileError, RuntimeError, TypeError):
            try:
                self._pb = AudioFile(str(self.path))
            except Exception as exc:  # pedalboard raises several types for undecodable files
                what = "the file is empty" if not self.path.stat().st_size else exc
                raise InputError(f"{self.path}: cannot read audio ({what}); {UNREADABLE}") from None
            rate, channels = int(round(self._pb.samplerate)), self._pb.num_channels
            frames, dtype, subtype = self._pb.frames, self._pb.file_dtype, None
        lossy = containers.lossy_coded(self.path.suffix, subtype, dtype)
        self.info = AudioInfo(int(rate), int(channels), int(frames), dtype, lossy)
        promised = wav_frames_promised(self.path) if self._sf is not None else None
        if promised is not None and promised > frames:
            self.close()
            raise InputError(
                f"{self.path}: the file is cut short: its header promises {promised / rate:.3f} "
                f"s, it holds {frames / rate:.3f} s (an interrupted copy or download?); get the "
                "whole file, or save what it holds as a new file to use that"
            )

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` more frames as float32 ``(channels, n)``."""
        try:
            if self._sf is not None:
                block = self._sf.read(frames, dtype="float32", always_2d=True).T
            else:
                block = self._pb.read(frames)
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read audio ({exc}); {UNREADABLE}") from None
        return np.ascontiguousarray(block, dtype=np.float32)

    def close(self) -> None:
        for handle in (self._sf, self._pb):
            if handle is not None:
                handle.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AudioWriter:
    """Block-by-block counterpart of :func:`write_audio`: same formats, depths and rounding.

    Writes ``path`` directly; callers that need atomicity write to
    :func:`~diffmusic_engine.atomic.replacing`'s temporary path.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        *,
        source_dtype: str = "float32",
        frames: int | None = None,
        tags: dict[str, str] | None = None,
        dither_seed: int = 0,
    ) -> None:
        self.path = Path(path)
        check_format(self.path)
        suffix = self.path.suffix.lower()
        self.depth = bit_depth_for(self.path, source_dtype)
        self.frames = frames  # how many will be written, when known (a WAV past 4 GiB: RF64)
        self._sf: sf.SoundFile | None = None
        self._pb: AudioFile | None = None
        self._quantized = False
        # the same file twice is the same bytes; separated tracks each their own noise (the same
        # in all had added up coherently in their sum)
        self._dither = np.random.default_rng(dither_seed)
        self.clipped, self.peak = 0, 0.0  # integer samples: how many were over full scale
        try:  # libsndfile and pedalboard refuse a layout their format cannot hold
            self._open(suffix, sample_rate, channels)
        except (RuntimeError, ValueError) as exc:
            raise _layout_error(self.path, sample_rate, channels, _refusal(exc)) from exc
        for name, text in (tags or {}).items() if self._sf is not None else ():
            try:  # a format without a place for a tag (MP3's) writes the samples alone
                setattr(self._sf, name, text)
            except (RuntimeError, sf.LibsndfileError):
                pass

    def _open(self, suffix: str, sample_rate: int, channels: int) -> None:
        if suffix in CONTAINERS:
            subtype = LOSSY_SUBTYPES.get(suffix) or (
                "FLOAT" if self.depth == 32 else f"PCM_{self.depth}"
            )
            self._quantized = subtype.startswith("PCM")
            data_bytes = None if self.frames is None else self.frames * channels * self.depth // 8
            self._sf = sf.SoundFile(
                str(self.path), "w", sample_rate, channels, subtype=subtype,
                format=major_format(suffix, channels, data_bytes),
            )  # fmt: skip
        else:
            self._pb = AudioFile(str(self.path), "w", sample_rate, channels, bit_depth=self.depth)

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``(channels, n)`` frames."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if self._quantized and block.size:
            magnitude = np.abs(block)
            self.clipped += int(np.count_nonzero(magnitude > 1.0))
            self.peak = max(self.peak, float(magnitude.max()))
        try:
            if self._sf is not None:
                quantized = self._quantized
                self._sf.write(_quantize(block, self.depth, self._dither) if quantized else block.T)
            else:
                self._pb.write(block)
        except (RuntimeError, OSError) as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        for handle in (self._sf, self._pb):
            if handle is not None:
                try:
                    handle.close()
                except (RuntimeError, OSError) as exc:
                    raise self._failed(exc) from exc

    def _failed(self, exc: BaseException) -> OSError:
        """libsndfile says only "System error." when the disk fills: an ``OSError`` that says
        which (``atomic.replacing`` turns it into one line naming the target)."""
        if isinstance(exc, OSError):
            return exc
        full = disk_full(self.path.parent, exc)
        code = errno.ENOSPC if full else errno.EIO
        reason = os.strerror(code) if full else f"{exc}".strip() or os.strerror(code)
        return OSError(code, reason)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
