"""Given gaps (a REAPER time selection, ``--gap START:END``, the API's) against the dropouts
(:mod:`.dropouts`, the one rule) in the audio.

A selection a few milliseconds short of a dropout's edges left that much of its silence in: the
fill crossfaded from it, and kept it, as a click at each true edge (3 ms short on each side of
200 ms dropouts in real music: 88 silent samples and a step of up to 69x the music's typical
sample difference; docs/results.md "Gap selections that miss the dropout's edges").
:func:`extend` takes each given gap over the dropouts it overlaps, and over those within
:data:`REACH_SECONDS` of its edges when that moves them little (:data:`MOST_SECONDS`). A
selection wider than the dropout in it replaces the music beside it: :func:`audio_lines` names
that, and music selected where there is no dropout.
"""

from __future__ import annotations

import numpy as np

from diffmusic_engine.damage import Gap, gap_samples
from diffmusic_engine.diagnose import dropouts, held
from diffmusic_engine.diagnose.spans import seconds_text

# A dropout that overlaps a given gap, or lies this close to its edge, is taken into it...
REACH_SECONDS = 0.005
# ... when that moves the gap's edge by at most this much (a selection a little off the
# dropout's edges; a silence running on far past the selection is the user's to give)
MOST_SECONDS = 0.05
# Extensions shorter than this are made but not told (a gap copied from diagnose's findings,
# rounded to 0.1 ms, is a sample or two short)
TOLD_SECONDS = 0.0001
# A given gap this close (dB) to the level around it held music, not a dropout (a tape dropout
# is tens of dB down, a digital one silent)
AUDIO_IN_GAP_DB = -6.0
# A gap wider than the dropout in it is told when the music beside the dropout, this long in all,
# is within AUDIO_IN_GAP_DB of the level around the gap (measured as a whole, a gap mostly
# dropout read far under it: 1.4 s over a 1 s dropout, 0.4 s of a mix replaced, no warning);
# a selection within a couple of ms of the dropout's edges replaces too little to be told
BESIDE_SECONDS = 0.005
# A channel whose samples in a given gap are digital silence (dropouts.SILENCE) for at least this
# share dropped out there (the share leaves room for a selection a little wider than the dropout)
SILENT_SHARE = dropouts.SILENT_SHARE
# ... and holds that value (digital silence, or within held.HELD_NEAR of its median) in under
# this share of the audio beside the gap (its length on each side): a dropout ends at its edges.
# A quiet channel on a coarse grid sits at one step (or at 0) in the gap and beside it; read as
# dropped, the other channel was kept as it was, the damage given there with it: of 2000 random
# gaps in the 10 real mixes, -20 dB in 8 bits (as they are / one step of DC on the left) 244 /
# 897 named a channel, -40 dB in 16 bits (none / 10 steps) 30 / 159; at 0.05: 10 / 14 / 6 / 8.
# Given over the one-channel held dropouts of docs/results.md ("... a slow tone, and one
# channel"), it names 232 of 240 as before (at 0.25: 57 / 68 / 20 / 28; 0.1: 16 / 22 / 10 / 12)
EDGE_SHARE = 0.05

Span = tuple[int, int]  # [first, stop) in samples


def coded_frame(sample_rate: int, lossy: bool) -> int:
    """:func:`live_channels`' ``coded_frame``: the frame a ``lossy`` coded input's dips are read
    in, as :func:`.dropouts.find_all` reads them (its scanner's edge frame); 0: not lossy."""
    return dropouts.DropoutScanner.at_rate(sample_rate).edge_frame if lossy else 0


def find(audio: np.ndarray, sample_rate: int) -> list[Span]:
    """The dropouts in ``(channels, samples)`` ``audio`` (:func:`.dropouts.find`), in samples."""
    return [(round(a * sample_rate), round(b * sample_rate))
            for a, b in dropouts.find(audio, sample_rate)]  # fmt: skip


def extend(spans: list[Span], runs: list[Span], sample_rate: int) -> list[Span]:
    """Each of ``spans`` taken over the dropouts ``runs`` that overlap it (whole: what is left
    of a dropout beside a fill is a hole), and over those within :data:`REACH_SECONDS` of its
    edges as far as :data:`MOST_SECONDS`; never over a run that another of ``spans`` overlaps
    (the user gave it as a gap of its own)."""
    reach, most = (round(x * sample_rate) for x in (REACH_SECONDS, MOST_SECONDS))
    extended = []
    for index, (first, stop) in enumerate(spans):
        others = spans[:index] + spans[index + 1 :]
        near = [(a, b) for a, b in runs if a <= stop + reach and b >= first - reach
                and not any(a < d and c < b for c, d in others)]  # fmt: skip
        taken = [(a, b) for a, b in near if (a < stop and first < b)  # overlapping
                 or (first - a <= most and b - stop <= most)]  # fmt: skip
        extended.append((min([first] + [a for a, _ in taken]), max([stop] + [b for _, b in taken])))
    return extended


def told(given: Span, filled: Span, sample_rate: int) -> bool:
    """Whether moving ``given`` to ``filled`` is worth a line (:data:`TOLD_SECONDS`)."""
    moved = max(given[0] - filled[0], filled[1] - given[1])
    return moved >= TOLD_SECONDS * sample_rate


def extension_line(given: Span, filled: Span, sample_rate: int) -> str:
    """What the user is told of a gap :func:`extend` moved, ``given`` to ``filled``."""
    earlier, later = (1000 * x / sample_rate for x in (given[0] - filled[0], filled[1] - given[1]))
    return (
        f"gap {_seconds(given, sample_rate)} extended to {_seconds(filled, sample_rate)} "
        f"({earlier:.1f} ms earlier, {later:.1f} ms later) over the dropout found at its edge, "
        "which it had left partly unfilled"
    )


def audio_lines(
    audio: np.ndarray,
    sample_rate: int,
    gaps: tuple[Gap, ...],
    runs: list[Span] | None = None,
    offset: int = 0,
    coded_frame: int = 0,
) -> list[str]:
    """A line for each of ``gaps`` that replaced music: wider than the dropouts ``runs`` in it,
    with :data:`BESIDE_SECONDS` or more beside them within :data:`AUDIO_IN_GAP_DB` of the level
    of the audio around it (a gap's length either side), or, holding no dropout, within that of
    it as a whole (a misplaced selection had been replaced in silence). ``runs`` ``None``:
    :func:`find` in ``audio``, only once a gap holds sound that loud (the batch had scanned
    every piece for it, a third time). Times are told ``offset`` samples later (a piece of a
    longer file); ``coded_frame``: as for :func:`kept_channels`."""
    lines = []
    for gap in gaps:
        first, stop = gap_samples(gap, sample_rate)
        told_span = (first + offset, stop + offset)
        if live_channels(audio, first, stop, coded_frame) is not None:
            continue  # some channels dropped out: the others are kept (kept_line)
        around = np.concatenate(
            [audio[:, max(0, 2 * first - stop) : first], audio[:, stop : 2 * stop - first]], axis=1
        )
        inside, outside = (_rms(x) for x in (audio[:, first:stop], around))
        loud = outside * 10 ** (AUDIO_IN_GAP_DB / 20)
        if outside == 0 or np.max(np.abs(audio[:, first:stop]), initial=0.0) < loud:
            continue  # nothing in it as loud as the music around
        runs = find(audio, sample_rate) if runs is None else runs
        held = [(a, b) for a, b in runs if first <= a and b <= stop]
        if held and _beside(audio[:, first:stop], [(a - first, b - first) for a, b in held],
                            round(BESIDE_SECONDS * sample_rate)) >= loud:  # fmt: skip
            lines.append(_wider(told_span, held, offset, sample_rate))
        elif not held and inside >= loud:
            lines.append(
                f"gap {_seconds(told_span, sample_rate)} held audio at "
                f"{20 * np.log10(inside):.1f} dBFS, "
                f"{20 * np.log10(inside / outside):+.1f} dB from the audio around it: not a "
                "dropout; its music was replaced"
            )
    return lines


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def _beside(gap: np.ndarray, held: list[Span], least: int) -> float:
    """The level (RMS) of ``gap``'s samples outside the runs ``held`` (in its samples), or 0
    when they are fewer than ``least``."""
    outside = np.ones(gap.shape[1], bool)
    for a, b in held:
        outside[a:b] = False
    return _rms(gap[:, outside]) if np.count_nonzero(outside) >= least else 0.0


def live_channels(
    audio: np.ndarray, first: int, stop: int, coded_frame: int = 0
) -> np.ndarray | None:
    """Which channels held music in the gap ``[first, stop)`` while another dropped out there
    (a tape head's dropout on one track: :data:`SILENT_SHARE` of its samples digital silence,
    or held at a DC offset: :func:`.dropouts.dropped_channels`, and that value not held beside
    the gap: :data:`EDGE_SHARE`; lossy coded, ``coded_frame``: dipped under its own music, as
    :func:`.dropouts.find_all` names such a dropout's channel); ``None`` when every channel is
    alike (all dropped out, or none). Beside a channel that dropped out, one that stays as quiet
    as a dithered dropout (``dropouts.QUIET``) dropped out too: 16-bit TPDF dither of one LSB is
    digital silence about half the time, and one channel of a dithered dropout had read as
    holding music, left a hole and said so."""
    dropped = dropouts.dropped_channels(audio, first, stop, coded_frame)
    if dropped.any() and not dropped.all():  # the others would be kept: it must end at the gap
        dropped &= _held_in_alone(audio, first, stop)
    if dropped.any():
        quiet = np.abs(audio[:, first:stop]) <= dropouts.QUIET
        dropped |= np.mean(quiet, axis=1) >= SILENT_SHARE
    return None if dropped.all() or not dropped.any() else ~dropped


def kept_channels(
    audio: np.ndarray, spans: list[Span], coded_frame: int = 0
) -> list[tuple[Span, np.ndarray]]:
    """Of the gaps ``spans`` (samples into ``audio``), those where only some channels dropped
    out, each with the channels kept as they were (:func:`live_channels`; ``coded_frame``: lossy
    coded, :func:`coded_frame`): the one choice of which channels a gap is filled on, for the
    engine's fill and its lines and for the batch's lines (each had read it from the audio
    itself)."""
    return [((first, stop), live) for first, stop in spans
            if (live := live_channels(audio, first, stop, coded_frame)) is not None]  # fmt: skip


def _held_in_alone(audio: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Per channel, whether the value it holds in ``[first, stop)`` (its median: digital silence
    within SILENCE of 0, else within HELD_NEAR of it) holds under :data:`EDGE_SHARE` of the
    audio beside it, the gap's length on each side (none beside: it does)."""
    length = stop - first
    median = np.median(audio[:, first:stop], axis=1, keepdims=True)
    near = np.where(np.abs(median) <= dropouts.SILENCE, dropouts.SILENCE, held.HELD_NEAR)
    beside = np.concatenate(
        [audio[:, max(0, first - length) : first], audio[:, stop : stop + length]], axis=1
    )
    if not beside.shape[1]:
        return np.ones(audio.shape[0], bool)
    return np.mean(np.abs(beside - median) <= near, axis=1) < EDGE_SHARE


def kept_line(span: Span, live: np.ndarray, sample_rate: int) -> str:
    """What the user is told of a gap ``span`` where only some channels dropped out."""

    def named(mask: np.ndarray) -> str:
        return ", ".join(str(c + 1) for c in np.flatnonzero(mask))

    return (
        f"gap {_seconds(span, sample_rate)}: channel(s) {named(~live)} of {live.size} dropped "
        "out and were filled; "
        f"channel(s) {named(live)} held music there and were kept as they were"
    )


def _wider(span: Span, held: list[Span], offset: int, sample_rate: int) -> str:
    """The line for a gap ``span`` (told as it is) wider than the dropouts ``held`` in it
    (``offset`` samples earlier)."""
    extra = 1000 * (span[1] - span[0] - sum(b - a for a, b in held)) / sample_rate
    named = ", ".join(_seconds((a + offset, b + offset), sample_rate) for a, b in held)
    return (
        f"gap {_seconds(span, sample_rate)} is {extra:.1f} ms wider "
        f"than the dropout at {named} in it: the music "
        "beside the dropout was replaced too; select the dropout alone to keep it"
    )


def _seconds(span: Span, sample_rate: int) -> str:
    """``4.0030-4.1970 s``: a span in samples (:func:`.spans.seconds_text`)."""
    return seconds_text(span[0] / sample_rate, span[1] / sample_rate)
