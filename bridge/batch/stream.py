"""Rendering one file through a chain block by block, with bounded memory.

The file is read in blocks (:class:`~diffmusic_engine.audio.AudioReader`), pushed through one
stage per chain segment and written (:class:`~diffmusic_engine.audio.AudioWriter`) to a temporary
file as soon as output is final; the temporary file is renamed over the target when complete
(:func:`~diffmusic_engine.atomic.replacing`).

* A run of plugins streams with ``reset=False``. pedalboard trims a plugin's reported latency
  (``reported_latency_samples`` for VST3s; ``BrickwallLimiter``'s look-ahead) from the start of
  what it returns, so the stage gets fewer samples out than it put in at first; at the end it
  feeds silence until the delayed tail is out. That is the latency compensation: every stage
  returns exactly as many samples as it took, aligned with its input, as an in-memory
  ``board(audio, sample_rate)`` call would.
* A restoration step is a chunked stream (:mod:`bridge.batch.chunking`), so its memory is
  bounded by its chunk, not by the file.
* A chain's ``sample_rate`` resamples the input on the way in (soxr VHQ, streaming).
* A chain's ``tail`` pushes silence after the input (:mod:`bridge.batch.tail`): a number of
  seconds of it, then ``finish`` as without a tail (latency compensation unchanged); or, for
  ``"auto"``, block after block until :class:`~bridge.batch.tail.TailEnd` says the output has
  stayed quiet, writing the output up to its end as it becomes known (no ``finish``: what is
  still in the plugins' latency lies past that end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pedalboard
import soxr

from bridge.batch.chain import Chain
from bridge.batch.restorer import Restorer
from bridge.batch.tail import TAIL_MAX_SECONDS, InputSpan, TailEnd
from diffmusic_engine.atomic import replacing, temporaries
from diffmusic_engine.audio import (
    NON_FINITE_FILE_REMEDY,
    AudioReader,
    AudioWriter,
    check_layout,
    empty_file_error,
    float_remedy,
)
from diffmusic_engine.errors import InputError
from diffmusic_engine.metadata import carried_note, read_tags

BLOCK_FRAMES = 65536
# in a render's temporary name: never taken for an output, removed by --resume (partial_files)
PARTIAL = ".partial"
# Called with (frames done, frames in all) as the output grows.
FrameProgress = Callable[[int, int], None]


class Stage(Protocol):
    def push(self, block: np.ndarray) -> np.ndarray: ...
    def finish(self) -> np.ndarray: ...


class PluginStage:
    """A ``Pedalboard`` streamed with ``reset=False``, its latency compensated (module doc).

    The board only ever sees blocks of exactly ``block`` samples: pedalboard re-prepares a
    plugin (clearing its delay lines) whenever a call brings a larger block than the last, so
    varying block sizes would lose state mid-file. Input is buffered up to a whole block.
    """

    def __init__(
        self, board: pedalboard.Pedalboard, sample_rate: int, channels: int, block: int = 8192
    ) -> None:
        self.board = board
        self.sample_rate = sample_rate
        self.block = block
        self.waiting = np.zeros((channels, 0), dtype=np.float32)  # less than one block
        self.pending = 0  # samples taken in but not yet given back (latency + waiting)
        board.reset()

    def push(self, block: np.ndarray) -> np.ndarray:
        self.pending += block.shape[1]
        self.waiting = np.concatenate([self.waiting, block], axis=1)
        whole = self.waiting.shape[1] // self.block * self.block
        if whole == 0:
            return self.waiting[:, :0]
        out = self._process(self.waiting[:, :whole])
        self.waiting = self.waiting[:, whole:]
        return out

    def finish(self) -> np.ndarray:
        channels = self.waiting.shape[0]
        outputs = []
        # the last partial block padded with silence, then silence until the delay is out
        padded = np.zeros((channels, self.block), dtype=np.float32)
        padded[:, : self.waiting.shape[1]] = self.waiting
        self.waiting = self.waiting[:, :0]
        for _ in range(64):
            if self.pending <= 0:
                break
            outputs.append(self._process(padded))  # trimmed to what is still owed
            padded = np.zeros_like(padded)
        if self.pending > 0:
            raise InputError(f"plugin chain kept {self.pending} samples back, never returned")
        return np.concatenate([*outputs, padded[:, :0]], axis=1)

    def _process(self, audio: np.ndarray) -> np.ndarray:
        out = self.board.process(audio, self.sample_rate, buffer_size=self.block, reset=False)
        out = out[:, : max(0, self.pending)]
        self.pending -= out.shape[1]
        return out


class Pipeline:
    """Stages in series: each block goes through all of them; ``finish`` flushes in order."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def push(self, block: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            block = stage.push(block)
        return block

    def finish(self) -> np.ndarray:
        # What stage i flushes still has to go through the stages after it, before they flush.
        outputs = []
        for i, stage in enumerate(self.stages):
            out = stage.finish()
            for later in self.stages[i + 1 :]:
                out = later.push(out)
            outputs.append(out)
        return np.concatenate(outputs, axis=1)

    def notes(self) -> tuple[str, ...]:
        """One line per restoration stage that left pieces unchanged or extended given gaps
        (after ``finish``)."""
        restorations = (s.stream for s in self.stages if isinstance(s, InputSpan))
        return tuple(note for note in map(Restorer.note_of, restorations) if note)

    def repairs(self) -> dict[str, int]:
        """What the restoration stages repaired, counted (after ``finish``): the report's
        fields (:meth:`Restorer.repairs_of`), summed over the steps of one task."""
        counts: dict[str, int] = {}
        for stage in self.stages:
            if isinstance(stage, InputSpan):
                for name, count in Restorer.repairs_of(stage.stream).items():
                    counts[name] = counts.get(name, 0) + count
        return counts


def build_pipeline(
    chain: Chain,
    sample_rate: int,
    channels: int,
    total: int,
    lossy: bool = False,
    **restorer_overrides: object,
) -> Pipeline:
    """One stage per chain segment, fresh state, for ``total`` samples of audio (restoration
    steps restore those; a tail after them passes them unchanged; ``lossy``: the input file was
    lossy coded, ``AudioInfo.lossy``)."""
    stages: list[Stage] = []
    for segment in chain.segments(**restorer_overrides):
        if isinstance(segment, Restorer):
            stream = segment.stream(sample_rate, channels, total, lossy)
            stages.append(InputSpan(stream, total, channels))
        else:
            stages.append(PluginStage(segment, sample_rate, channels))
    return Pipeline(stages)


@dataclass(frozen=True)
class Rendered:
    """What was written: the output's rate, channels and length (``tail`` of its frames past
    the input's end), and what the restoration steps said of pieces they left unchanged."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    notes: tuple[str, ...] = ()
    tail: int = 0
    repairs: dict[str, int] = field(default_factory=dict)  # Pipeline.repairs

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def render_file(
    source: Path,
    target: Path,
    chain: Chain,
    *,
    block_frames: int = BLOCK_FRAMES,
    progress: FrameProgress | None = None,
    written_dtype: str | None = None,
    **restorer_overrides: object,
) -> Rendered:
    """Stream ``source`` through ``chain`` into ``target`` (atomically; format from its suffix).

    The output has the source's length (plus the chain's ``tail``), channels, sample rate (or
    the chain's ``sample_rate``) and bit depth as far as the target's container allows
    (:func:`~diffmusic_engine.audio.bit_depth_for`). Reading and writing go through the engine's
    :class:`~diffmusic_engine.audio.AudioReader` / :class:`~diffmusic_engine.audio.AudioWriter`
    (exact integer round trips). Raises :class:`~diffmusic_engine.errors.InputError` for an
    unreadable, empty or truncated file.
    """
    with AudioReader(source) as reader:
        info = reader.info
        rate = chain.sample_rate or info.sample_rate
        total = int(round(info.frames * rate / info.sample_rate))
        if total == 0:
            raise empty_file_error(source)
        dtype = written_dtype or info.file_dtype  # --bit-depth's, or the input's
        check_layout(target, rate, info.channels, dtype)  # named as the target
        pipeline = build_pipeline(chain, rate, info.channels, total, info.lossy,
                                  **restorer_overrides)  # fmt: skip
        tail = chain.tail_frames(rate)
        expected = total + (tail or 0)  # "auto": the input's length until its tail is found
        report = progress or (lambda done, frames: None)
        with replacing(target, marker=PARTIAL) as temporary:
            written = 0
            longest = expected if tail is not None else total + int(TAIL_MAX_SECONDS * rate)
            with AudioWriter(temporary, rate, info.channels, source_dtype=dtype,
                             frames=longest, tags=read_tags(source)) as out:  # fmt: skip
                for block in _blocks(reader, block_frames, rate, total):
                    written += _write(out, pipeline.push(block), written, source)
                    report(written, expected)
                if tail is None:
                    end = TailEnd(total, rate, chain.quiet_seconds(), position=written)
                    silence = np.zeros((info.channels, block_frames), dtype=np.float32)
                    written = _auto_tail(pipeline, out, end, silence, source, report)
                    expected, tail_notes = end.end, [end.note()] if end.capped else []
                else:
                    for block in _silence(info.channels, tail, block_frames):
                        written += _write(out, pipeline.push(block), written, source)
                        report(written, expected)
                    written += _write(out, pipeline.finish(), written, source)
                    tail_notes = []
            if written != expected:
                raise InputError(f"{source}: wrote {written} samples of {expected}")
            report(written, expected)
    carried = carried_note(source, target)  # a BWF's time reference, its cue markers
    notes = (*pipeline.notes(), *tail_notes, *([carried] if carried else []))
    clipped = ()
    if out.clipped:  # said, not refused: the file is rendered; the user lowers a gain and reruns
        remedy = float_remedy(target, other="--format wav")  # FLAC holds no float
        clipped = (
            f"{out.clipped} sample(s) over full scale (peak {20 * np.log10(out.peak):+.1f} dBFS)"
            f" clipped in the {out.depth}-bit output (a declip step's rebuilt peaks, a gain):"
            f" {remedy}, or end the chain with a BrickwallLimiter",
        )
    return Rendered(target, rate, info.channels, written, (*notes, *clipped), written - total,
                    pipeline.repairs())  # fmt: skip


def _silence(channels: int, frames: int, block_frames: int) -> Iterator[np.ndarray]:
    """``frames`` samples of silence in blocks of at most ``block_frames``."""
    for start in range(0, frames, block_frames):
        yield np.zeros((channels, min(block_frames, frames - start)), dtype=np.float32)


def _auto_tail(
    pipeline: Pipeline,
    out: AudioWriter,
    end: TailEnd,
    silence: np.ndarray,
    source: Path,
    report: FrameProgress,
) -> int:
    """Push ``silence`` until ``end`` is done, writing the output up to ``end.end`` as it becomes
    known (what may still be cut is held back). Returns the samples written in all."""
    written = end.position
    held = silence[:, :0]
    # never pushes forever (as PluginStage.finish): a chain's output comes within its latency
    limit = end.cap - end.start + end.quiet + 64 * silence.shape[1]
    for _ in range(0, limit, silence.shape[1]):
        block = pipeline.push(silence)
        end.feed(block)
        held = np.concatenate([held, block], axis=1)
        final = min(end.end - written, held.shape[1])
        written += _write(out, held[:, :final], written, source)
        held = held[:, final:]
        report(written, max(written, end.start))
        if end.done:
            return written
    raise InputError(f"{source}: the chain's output did not come past sample {end.position}")


def _blocks(reader: AudioReader, frames: int, rate: int, total: int) -> Iterator[np.ndarray]:
    """The file's samples in blocks, at ``rate`` (soxr VHQ streaming, as the engine's
    :func:`~diffmusic_engine.rates.resample`), exactly ``total`` of them; checked finite."""
    info = reader.info
    resampler = None
    if rate != info.sample_rate:
        resampler = soxr.ResampleStream(
            info.sample_rate, rate, info.channels, dtype="float32", quality="VHQ"
        )
    received = produced = 0
    while received < info.frames:
        block = reader.read(min(frames, info.frames - received))
        if block.shape[1] == 0:
            raise InputError(f"{reader.path}: file ended early (truncated?)")
        received += block.shape[1]
        if not np.isfinite(block).all():
            raise InputError(
                f"{reader.path}: non-finite samples (NaN/Inf); {NON_FINITE_FILE_REMEDY}"
            )
        if resampler is not None:
            last = received >= info.frames
            block = resampler.resample_chunk(np.ascontiguousarray(block.T), last=last).T
        block = np.ascontiguousarray(block[:, : total - produced], dtype=np.float32)
        produced += block.shape[1]
        if block.shape[1]:
            yield block
    if produced < total:  # the resampler's rounding of the length, at most a sample or two
        yield np.zeros((info.channels, total - produced), dtype=np.float32)


def _write(out: AudioWriter, block: np.ndarray, position: int, source: Path) -> int:
    if block.shape[1] == 0:
        return 0
    if not np.isfinite(block).all():
        raise InputError(f"{source}: the chain produced non-finite samples near sample {position}")
    out.write(block)
    return block.shape[1]


def partial_files(target: Path) -> list[Path]:
    """Leftover temporary files of ``target`` from an interrupted render (named by
    :func:`~diffmusic_engine.atomic.replacing` with the marker ``PARTIAL``)."""
    return temporaries(target, PARTIAL)
