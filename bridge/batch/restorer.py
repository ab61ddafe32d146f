"""A restoration step with pedalboard's call shape: ``Restorer(task=...)(audio, sample_rate)``.

Python code cannot be a pedalboard ``Plugin``, so a :class:`Restorer` sits *between* ``Pedalboard``
objects (the batch chain runner composes the two itself)::

    board = Pedalboard([HighpassFilter(40)])
    repair = Restorer(task="inpaint", gaps=["1.20:1.25"])
    master = Pedalboard([Limiter(-1.0)])
    out = master(repair(board(audio, sr), sr), sr)

Keyword options are the task's damage fields (``gaps``, ``cutoff``, ``rir``, ``n_fft``, ``hop``,
``sources``, ``weights``, ``crossfade``), the step's own settings below, and anything else is a
backend option passed to :func:`diffmusic_engine.api.restore` (``model``, ``steps``, ...), resolved
over the preset's as the CLI's flags are (:func:`diffmusic_engine.options.resolve_options`) and
checked when the step is made.

Step settings:

* ``preset``: a preset name (``presets/<name>.toml``) or file giving fields and options; keyword
  options override it field by field, as the CLI flags do.
* ``backend``: ``"dsp"`` (default) or ``"diffusion"``.
* ``source``: for ``task="separate"``, which source to keep, counted from 1 (the numbering of
  ``diffmusic restore``'s ``_source<i>`` files). Required for separation, refused otherwise.
* ``connect`` / ``connection_file``: run each piece through the daemon
  (:func:`bridge.client.restore_via_daemon`) instead of in-process.
* ``chunk_seconds``, ``overlap_seconds`` (default 30 and 1): long audio is restored in
  overlapping chunks of this length, crossfaded over the overlap, so memory stays bounded
  (:mod:`bridge.batch.chunking`); dropouts and pauses that dereverb and super-resolution give
  back as they were (:mod:`diffmusic_engine.silence`) stay so across a seam, where one of the
  two chunks holds them whole (those shorter than the overlap).
  ``context_seconds`` (default 30, the dsp pattern search's ``SEARCH_CONTEXT_S``): inpainting
  restores only a region around each gap, this long or five gap lengths (whichever is more) on
  either side, and passes the rest through untouched; a long dropout is filled from a repeat
  found in that region. Regions that touch are restored as one, up to four contexts long; past
  that, dropouts a quarter context apart or more (past five, 70 ms) start regions of their own (each
  from the previous one's output; its context then reaches back into the previous region, and
  that one's forward only to just before the next dropout), so memory stays bounded.
* ``gaps="auto"`` (inpainting): find dropouts as the audio streams by, by the rule that
  ``diffmusic diagnose`` and ``restore --gap auto`` use (:mod:`diffmusic_engine.diagnose.dropouts`):
  runs of at least ``dropout_min_seconds`` (0.002) where every channel stays at or below
  ``dropout_threshold_db`` (digital silence, about -150.5 dBFS), or at or below about -72 dBFS
  with abrupt edges (a dropout dithered when it was stored), with audio on both sides (silence
  at the start or end of a file is left alone), and not a pause between songs (the music fades
  into the run: left alone and named in the file's report); and such runs on one channel
  alone, inside music on that channel (a tape head's dropout: that channel is filled, the
  others kept as they were, and the report's note says which); in a file decoded from a lossy
  codec (``render_file``: ``AudioInfo.lossy``), the codec's dips too
  (:class:`diffmusic_engine.diagnose.coded.DipScanner`, named in the note). Runs longer than
  ``dropout_max_seconds`` (0.5) are left alone and named in the file's report (the stream holds
  back five times that much audio, and a long digital silence inside a song may be a
  deliberate stop). Put such a step first in a chain: effects before it (filters, reverb) smear
  a dropout so that it is no longer silent.

Gaps are in file time. ``cutoff="auto"`` is detected once, on the first chunk, and kept for the
whole file; where nothing is missing (the cutoff found is Nyquist) the audio passes through.
Separated sources are numbered by the backend chunk by chunk; a backend whose order is not stable
across chunks (the dsp NMF split) can swap sources between chunks of a long file.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import fields, replace
from inspect import signature
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bridge.batch.chunking import OverlapStream, RegionStream
from bridge.batch.report import REPAIR_COUNTS
from bridge.batch.step_keywords import checked_source, setting_number, split_options
from bridge.notes import fill_level_line, gates_line, in_chain_words, listed_text, pauses_line
from diffmusic_engine.api import NOTHING_FOUND, SILENT, Restoration, restore
from diffmusic_engine.audio_arrays import check_audio, given_audio
from diffmusic_engine.backends import FILL_LEVELS, REBUILT_LEVEL_DB, REPAIRED_CLICKS
from diffmusic_engine.damage import (
    KEEPS_SILENCE,
    Damage,
    Declick,
    Gap,
    Inpaint,
    PhaseRetrieval,
    SuperResolution,
    damage_from_dict,
    gap_samples,
)
from diffmusic_engine.damage_check import check_damage
from diffmusic_engine.diagnose import coded, decays, dropouts, selections
from diffmusic_engine.diagnose.bandwidth import band_limit
from diffmusic_engine.diagnose.channel_scanner import ChannelScanner
from diffmusic_engine.diagnose.spans import joined
from diffmusic_engine.dsp.pattern import SEARCH_CONTEXT_S
from diffmusic_engine.errors import DamageError, InputError
from diffmusic_engine.options import check_options, resolve_backend, resolve_options
from diffmusic_engine.progress import ProgressCallback
from diffmusic_engine.rates import resample
from diffmusic_engine.silence import silent_samples

DEFAULTS = {
    "chunk_seconds": 30.0,
    "overlap_seconds": 1.0,
    "context_seconds": SEARCH_CONTEXT_S,
    # gaps="auto": the engine's rule for a dropout, and the longest a streaming batch fills
    "dropout_threshold_db": dropouts.SILENCE_DB,
    "dropout_min_seconds": dropouts.MIN_SECONDS,
    "dropout_max_seconds": decays.DECAY_MAX_SECONDS,  # the longest a decay is read too
}


class Restorer:
    """Restore ``(audio, sample_rate) -> audio`` with one damage description (see module doc)."""

    # How an unknown option's line says the keywords: where they were given, beside a preset's
    # (check_options' given_from), and each as its maker writes it ("" : not to be given); a
    # chain's step names its own (chain.StepRestorer: restore for task, no callback).
    given_from = "given to the Restorer"
    spelled: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        task: str | None = None,
        *,
        preset: str | Path | None = None,
        backend: str | None = None,
        source: int | None = None,
        connect: bool = False,
        connection_file: str | Path | None = None,
        callback: ProgressCallback | None = None,
        **options: Any,
    ) -> None:
        task_key = self.spelled.get("task", "task")
        damage_fields, preset_options, given = split_options(task, preset, options, task_key)
        self.backend = resolve_backend(backend, preset_options, given)
        backend_options = resolve_options(self.backend, preset_options, given)
        self.settings = {
            k: setting_number(k, backend_options.pop(k, v)) for k, v in DEFAULTS.items()
        }
        self.damage: Damage = damage_from_dict(damage_fields)
        self.auto_gaps = isinstance(self.damage, Inpaint) and self.damage.gaps == "auto"
        # now, not at the first piece; a preset's error names it, a mistyped key its nearest
        keys = {*signature(Restorer).parameters, *DEFAULTS, *(f.name for f in fields(self.damage))}
        offered = {self.spelled.get(key, key) for key in keys - {"options"}} - {""}
        check_options(self.backend, self.damage, backend_options, preset, preset_options,
                      self.given_from, offered)  # fmt: skip
        self.options = backend_options
        self.source = checked_source(self.damage, source)
        if not isinstance(connect, bool):  # "false" in a chain file would have been true
            raise DamageError(f"connect {connect!r}: expected true or false")
        self.connect = connect
        self.connection_file = Path(connection_file) if connection_file else None
        self.callback = callback
        shortest, longest = (self.settings[f"dropout_{e}_seconds"] for e in ("min", "max"))
        if shortest >= longest:
            raise DamageError(
                f"dropout_min_seconds {shortest:g} / dropout_max_seconds {longest:g}: "
                "the shortest dropout must be shorter than the longest"
            )
        chunk, overlap = self.settings["chunk_seconds"], self.settings["overlap_seconds"]
        if chunk <= 2 * overlap or overlap <= 0:
            raise DamageError(
                f"chunk_seconds {chunk:g} / overlap_seconds {overlap:g}: "
                "need overlap > 0 and chunk > 2 x overlap"
            )

    @property
    def task(self) -> str:
        return self.damage.task

    def __repr__(self) -> str:
        return f"Restorer(task={self.task!r}, backend={self.backend!r})"

    def __call__(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Restore ``audio``: ``(samples,)``, ``(channels, samples)`` or, as pedalboard also
        takes it (``soundfile.read`` gives it), ``(samples, channels)``: an array with more rows
        than columns is read a frame per row. float32, the same shape and layout out."""
        given = np.asarray(audio)
        if given.dtype.kind != "f":  # int16 would be read as amplitudes of thousands
            given_audio(given, "restorer")  # its one rule and words
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, numbers.Real)
            or not (math.isfinite(sample_rate) and sample_rate >= 1)
        ):
            raise InputError(f"restorer: sample_rate {sample_rate!r}: expected a number of Hz")
        x = given.astype(np.float32, copy=False)
        if x.ndim not in (1, 2):
            raise InputError(f"restorer: expected (samples,) or (channels, samples), got {x.shape}")
        frames_in_rows = x.ndim == 2 and x.shape[0] > x.shape[1]
        planar = x[None, :] if x.ndim == 1 else x.T if frames_in_rows else x
        stream = self.stream(int(round(sample_rate)), planar.shape[0], planar.shape[1])
        out = np.concatenate([stream.push(np.ascontiguousarray(planar)), stream.finish()], axis=1)
        return out[0] if x.ndim == 1 else np.ascontiguousarray(out.T) if frames_in_rows else out

    @staticmethod
    def note_of(stream: OverlapStream | RegionStream) -> str | None:
        """What a file's report should say of what ``stream`` (made by :meth:`stream`) left as
        it came in (pieces, or silent runs ``gaps="auto"`` did not fill) and of given gaps it
        took over a dropout's edges, or ``None``."""
        piece = stream.restore
        if not isinstance(piece, _PieceRestorer):
            return None
        finder = stream.finder if isinstance(stream, RegionStream) else None
        said = finder is None or finder.longer or finder.pauses or finder.dipped or finder.gated
        if said or piece.gap_lines:
            notes = (piece.note(), finder and _dipped(finder, piece.sample_rate),
                     finder and _left_alone(finder, piece.sample_rate),
                     *_extended(stream, piece.sample_rate), *piece.gap_lines)  # fmt: skip
            return "; ".join(note for note in notes if note) or None
        nothing = f"inpaint: {in_chain_words(NOTHING_FOUND['inpaint'])}"  # batch has no --gap
        return piece.note() if piece.pieces else nothing

    @staticmethod
    def repairs_of(stream: OverlapStream | RegionStream) -> dict[str, int]:
        """How many clicks a declick, or gaps an inpaint, made by :meth:`stream` repaired in
        the file, as the report's field (:data:`REPAIR_COUNTS`; ``{}`` for another task): each
        once, where two overlapping pieces (chunks that share a second) both repaired it."""
        piece = stream.restore
        if not isinstance(piece, _PieceRestorer) or piece.repaired is None:
            return {}
        count = len(joined(piece.repaired, reach=-1))  # two clicks that meet are two
        return {REPAIR_COUNTS[piece.restorer.task]: count}

    def stream(
        self, sample_rate: int, channels: int, total: int, lossy: bool = False
    ) -> OverlapStream | RegionStream:
        """A block-by-block processor for ``total`` samples of ``channels``-channel audio
        (``lossy``: decoded from a lossy codec, ``AudioInfo.lossy``: ``gaps="auto"`` reads
        dropouts as its dips too, :mod:`diffmusic_engine.diagnose.coded`)."""
        piece = _PieceRestorer(self, sample_rate, lossy)
        if isinstance(self.damage, Inpaint):
            return self._inpaint_stream(piece, sample_rate, channels, total, lossy)
        check_damage(self.damage, total / sample_rate, sample_rate, channels)
        chunk = int(round(self.settings["chunk_seconds"] * sample_rate))
        overlap = int(round(self.settings["overlap_seconds"] * sample_rate))
        # each chunk's phase or top band is rebuilt anew: their crossfade keeps the power
        independent = isinstance(self.damage, PhaseRetrieval | SuperResolution)
        keeps = isinstance(self.damage, KEEPS_SILENCE)  # dropouts given back across seams too
        silent = functools.partial(silent_samples, sample_rate=sample_rate) if keeps else None
        return OverlapStream(
            piece, total, channels, chunk, overlap, keep_power=independent, silent=silent
        )

    def _inpaint_stream(
        self, piece: _PieceRestorer, sample_rate: int, channels: int, total: int, lossy: bool
    ) -> RegionStream:
        seconds = {k: v * sample_rate for k, v in self.settings.items() if k.endswith("seconds")}
        finder, spans, extend = None, [], None
        if self.auto_gaps:
            every = dropouts.DropoutScanner.at_rate(
                sample_rate,
                min_seconds=self.settings["dropout_min_seconds"],
                max_seconds=self.settings["dropout_max_seconds"],
                silence=10.0 ** (self.settings["dropout_threshold_db"] / 20.0),
            )
            longest = every.max_length // every.edge_frame  # frames
            dips = coded.DipScanner(every.edge_frame, longest) if lossy else None
            # and the dropouts of some channels; and, lossy coded, the codec's dips
            finder = ChannelScanner(every, channels, dips)
        else:
            check_damage(self.damage, total / sample_rate, sample_rate, channels)
            spans = [gap_samples(gap, sample_rate) for gap in self.damage.gaps]
            extend = functools.partial(_extend, sample_rate=sample_rate)
        return RegionStream(
            piece, total, channels, spans,
            context=int(round(seconds["context_seconds"])),
            margin=int(np.ceil(self.damage.crossfade * sample_rate)) + 2,
            finder=finder, extend=extend,
        )  # fmt: skip


def _extend(piece: np.ndarray, spans: list[tuple[int, int]], sample_rate: int) -> list:
    """Given ``spans`` in ``piece`` taken over the dropouts at their edges, as the engine does."""
    return selections.extend(spans, selections.find(piece, sample_rate), sample_rate)


def _extended(stream: OverlapStream | RegionStream, rate: int) -> list[str]:
    """The lines naming the given gaps that ``stream`` took over a dropout at their edges."""
    pairs = stream.extended if isinstance(stream, RegionStream) else []
    return [f"inpaint: {selections.extension_line(given, filled, rate)}"
            for given, filled in pairs if selections.told(given, filled, rate)]  # fmt: skip


def _gap_lines(
    piece: np.ndarray, start: int, damage: Inpaint, rate: int, coded_frame: int
) -> list[str]:
    """The engine's lines for the given gaps of ``damage`` in ``piece`` (which starts at sample
    ``start`` of the file), told in the file's time: gaps over music, and gaps where only some
    channels dropped out (the engine says the same, in the piece's time; ``coded_frame``:
    :func:`selections.coded_frame`)."""
    lines = selections.audio_lines(piece, rate, damage.gaps, offset=start, coded_frame=coded_frame)
    kept = _kept_lines(piece, start, damage, rate, coded_frame)
    return [f"inpaint: {line}" for line in lines] + kept


def _kept_lines(
    piece: np.ndarray, start: int, damage: Inpaint, rate: int, coded_frame: int
) -> list[str]:
    """The engine's lines for the gaps of ``damage`` in ``piece`` where only some channels
    dropped out (it keeps the others), told in the file's time (``piece`` starts at sample
    ``start`` of the file; ``coded_frame``: :func:`selections.coded_frame`)."""
    spans = [gap_samples(gap, rate) for gap in damage.gaps]
    kept = selections.kept_channels(piece, spans, coded_frame)
    return [f"inpaint: {selections.kept_line((first + start, stop + start), live, rate)}"
            for (first, stop), live in kept]  # fmt: skip


def _dipped(finder: ChannelScanner, rate: int) -> str:
    """The note naming the dropouts ``finder`` found as dips through a lossy codec (the input
    was lossy coded: no digital silence left in them), or ``""``."""
    if not finder.dipped:
        return ""
    count, listed = len(finder.dipped), _listed(finder.dipped, rate)
    return f"inpaint: {count} dropout(s) found as dips through the lossy codec: {listed}"


def _left_alone(finder: ChannelScanner, rate: int) -> str:
    """The note naming the silent runs ``finder`` left alone: too long to fill as dropouts, or
    pauses between songs (the music fades into them); and the gates whose offs, a lossy
    codec's dips, it left alone."""
    notes = []
    if finder.longer:
        notes.append(
            f"inpaint: {len(finder.longer)} silent run(s) longer than dropout_max_seconds "
            f"({finder.max_length / rate:g} s) left alone: {_listed(finder.longer, rate)}; if "
            "they are dropouts, give them as gaps or raise dropout_max_seconds"
        )
    if finder.pauses:
        listed = _listed(finder.pauses, rate)
        notes.append(f"inpaint: {pauses_line(len(finder.pauses), listed, give_as='gaps')}")
    if finder.gated:
        gates = [[(first / rate, stop / rate) for first, stop in gate] for gate in finder.gated]
        notes.append(f"inpaint: {gates_line(gates, give_as='gaps')}")
    return "; ".join(notes)


def _repaired(damage: Damage, restoration: Restoration, start: int, rate: int) -> list:
    """The spans (file samples) the restoration of a piece starting at sample ``start``
    repaired: the clicks its details list, or the gaps of ``damage`` it filled."""
    if isinstance(damage, Inpaint):
        spans = [gap_samples(gap, rate) for gap in damage.gaps]
    else:  # declick's, in seconds at whole samples of the piece
        clicks = restoration.details.get(REPAIRED_CLICKS, [])
        spans = [(round(a * rate), round(b * rate)) for a, b in clicks]
    return [(first + start, stop + start) for first, stop in spans]


def _listed(runs: list[tuple[int, int]], rate: int) -> str:
    """``runs`` (samples) in seconds, the first few (:func:`listed_text`)."""
    return listed_text([(a / rate, b / rate) for a, b in runs])


class _PieceRestorer:
    """Restores one piece of the file: shifts gaps to the piece, fixes ``cutoff="auto"``."""

    def __init__(self, restorer: Restorer, sample_rate: int, lossy: bool = False) -> None:
        self.restorer = restorer
        self.sample_rate = sample_rate
        self.lossy = lossy  # the file was lossy coded: a gap's channels may have dipped in it
        self.damage = restorer.damage
        self.options = dict(restorer.options)  # the file's: a dark band's level, once decided
        self.passed_why = NOTHING_FOUND["super-resolution"]  # why a piece passes undamaged
        self.pieces = 0
        self.unchanged: list[str] = []  # why, for each piece that came back as it went in
        # given gaps over music, or over some channels only; fills far under their gap's sides
        self.gap_lines: list[str] = []
        # the clicks repaired or gaps filled (file samples), for the report; None: not counted
        self.repaired = [] if isinstance(self.damage, Declick | Inpaint) else None

    def __call__(
        self, piece: np.ndarray, start: int, spans: tuple[tuple[int, int], ...] | None
    ) -> np.ndarray:
        check_audio(piece, "restorer input")
        self.pieces += 1
        damage = self._damage_for(piece, start, spans)
        if damage is None:  # nothing to restore (a full-band file for super-resolution)
            if not isinstance(self.damage, Declick):  # none of the clicks given lies here
                self.unchanged.append(self.passed_why)
            return piece.copy()
        restoration = self._run(np.ascontiguousarray(piece), damage)
        if isinstance(damage, SuperResolution) and self.restorer.backend == "dsp":
            self._keep_band_level(restoration)
        if restoration.unchanged and restoration.unchanged != SILENT:  # a silent stretch of a
            self.unchanged.append(restoration.unchanged)  # file (an intro) is no piece left out
        if self.repaired is not None and not restoration.unchanged:
            self.repaired += _repaired(damage, restoration, start, self.sample_rate)
        at = start / self.sample_rate  # a piece's times, the file's in the note
        for a, b, *levels in restoration.details.get(FILL_LEVELS, []):
            self.gap_lines.append(f"inpaint: {fill_level_line(a + at, b + at, *levels)}")
        coded_frame = selections.coded_frame(self.sample_rate, self.lossy)
        if isinstance(damage, Inpaint) and not self.restorer.auto_gaps:
            self.gap_lines += _gap_lines(piece, start, damage, self.sample_rate, coded_frame)
        elif isinstance(damage, Inpaint):  # a dropout found on some channels: which
            self.gap_lines += _kept_lines(piece, start, damage, self.sample_rate, coded_frame)
        track = restoration.tracks[self.restorer.source - 1 if self.restorer.source else 0]
        if restoration.sample_rate != self.sample_rate:
            track = resample(track, restoration.sample_rate, self.sample_rate)
        if track.shape != piece.shape:
            raise DamageError(
                f"{self.restorer.backend} {damage.task}: returned {track.shape} for {piece.shape}"
            )
        return np.asarray(track, dtype=np.float32)

    def note(self) -> str | None:
        """``"TASK: k of n piece(s) unchanged (WHY)"`` for the file's report, or ``None`` when
        every piece was restored."""
        if not self.unchanged:
            return None
        whys = "; ".join(dict.fromkeys(map(in_chain_words, self.unchanged)))  # each once, in order
        count = f"{len(self.unchanged)} of {self.pieces} piece(s)"
        return f"{self.restorer.task}: {count} unchanged ({whys})"

    def _damage_for(
        self, piece: np.ndarray, start: int, spans: tuple[tuple[int, int], ...] | None
    ) -> Damage | None:
        if isinstance(self.damage, Inpaint):  # gaps in file samples -> time within the piece
            rate = self.sample_rate
            gaps = tuple(Gap((a - start) / rate, (b - start) / rate) for a, b in spans or ())
            return Inpaint(gaps=gaps, crossfade=self.damage.crossfade)
        if isinstance(self.damage, Declick) and self.damage.clicks:  # file time -> the piece's
            at, length = start / self.sample_rate, piece.shape[1] / self.sample_rate
            clicks = tuple(
                Gap(max(c.start - at, 0.0), min(c.end - at, length))
                for c in self.damage.clicks
                if c.end > at and c.start < at + length
            )
            return replace(self.damage, clicks=clicks) if clicks else None  # fmt: skip
        if isinstance(self.damage, SuperResolution) and self.damage.cutoff == "auto":
            # Detected once, on the first piece, and kept for the whole file; no band limit
            # (the engine's rule for "auto") means that the file passes through.
            cutoff = band_limit(piece, self.sample_rate)
            self.damage = None if cutoff is None else SuperResolution(cutoff)
        return self.damage

    def _keep_band_level(self, restoration: Restoration) -> None:
        """The first piece's decision on a dark recording's band (rebuilt lower, or not at all)
        kept for the whole file, as its cutoff is: decided piece by piece, the band came and
        went at chunk seams (a dark intro without it, the chorus with it)."""
        if self.options.get(REBUILT_LEVEL_DB) is not None:  # given, or decided on a piece before
            return
        level = restoration.details.get(REBUILT_LEVEL_DB)
        if level is not None:
            self.options[REBUILT_LEVEL_DB] = level
        elif restoration.unchanged and "top_level_db" in restoration.details:  # too dark
            self.damage, self.passed_why = None, restoration.unchanged

    def _run(self, piece: np.ndarray, damage: Damage) -> Restoration:
        r = self.restorer
        if r.connect:
            from bridge.client import restore_via_daemon

            return restore_via_daemon(
                piece, self.sample_rate, damage, backend=r.backend, options=dict(self.options),
                callback=r.callback, connection_file=r.connection_file, lossy=self.lossy,
            )  # fmt: skip
        return restore(
            piece, self.sample_rate, damage, backend=r.backend, options=self.options,
            callback=r.callback, lossy=self.lossy,
        )  # fmt: skip
