"""What a restoration's details tell the user, worded once for every client: the CLI's stderr
lines, the ``notes`` of its ``--json`` done line and ``--status-file`` (which the REAPER scripts
show), and the batch report's pause line. docs/protocol.md ("The CLI") documents the contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.connection import default_connection_path
from diffmusic_engine.backends import (
    CHANNEL_LEVELS,
    CLICKS_DETECTED,
    CLIPPED_LOWER,
    CUT_ENDS,
    EXTENDED_GAPS,
    FILL_LEVELS,
    FOUND_GAPS,
    GAPS_WITH_AUDIO,
    GATES,
    IN_A_DEREVERB_PRESET,
    KEPT_CHANNELS,
    LATE_MASK_NOTE,
    LEFT_OUT,
    LOSSY_GAPS,
    NEGATIVE_LEVELS,
    OUTPUT_GAIN_DB,
    PAUSES,
    REBUILT_LEVEL_DB,
    REPAIRED_CLICKS,
    UNCHANGED,
)
from diffmusic_engine.damage import PhaseRetrieval
from diffmusic_engine.diagnose.coded import GATE_COUNT, GATE_FRAMES, GATE_JITTER_FRAMES
from diffmusic_engine.diagnose.pause_edges import (
    FADE_END_DB,
    FADE_FLOOR_DB,
    GATE_STEP_DB,
    PAUSE_DB,
)
from diffmusic_engine.diagnose.short_fades import SHORT_FADE_DB, SHORT_FADE_SECONDS
from diffmusic_engine.diagnose.spans import seconds_text

# An audio file's own phase already fits its STFT magnitude exactly (a signal's STFT is
# consistent): a phase rebuilt from that magnitude gives another signal of it (armygeddon_mix:
# 0.23 log-mel from the input), and random phases written as audio smear the magnitude itself
# (degrade --task phase-retrieval: restored 2.150 from the clean ragtime, the damaged 2.143).
PHASE_REBUILT = (
    "the phase was rebuilt from the input's STFT magnitude alone: the output is another signal "
    "of that magnitude, not the input repaired (the input's own phase fits it exactly); where "
    "the input is the audio you want, keep it"
)
NOTE, WARNING = "note", "warning"  # a note's level: told, or worth a second look
LISTED = 5  # spans named one by one in a note about many (clicks, a batch's silent runs)
# A dropout only the rule for lossy coded input found (diagnose.coded), as diagnose names it
LOSSY_DIP = "a dip through the codec, lossy input's rule"


def notes_of(details: Mapping[str, Any], result: str | None = None) -> list[dict[str, str]]:
    """The notes ``details`` carry, in the order told: ``[{"level": NOTE|WARNING, "text": ...}]``.
    With ``result`` (the output's name) the first says that it is the input unchanged, and why;
    without it that is left to the ``unchanged`` field beside the notes."""
    notes = []
    if result is not None and details.get(UNCHANGED):
        notes.append(_note(f"{result} is the input unchanged: {details[UNCHANGED]}"))
    if found := details.get(FOUND_GAPS):
        notes.append(_note(f"filled {len(found)} dropout(s) found: {spans_text(found)}"))
    if dips := details.get(LOSSY_GAPS):  # the input was lossy coded: no digital silence left
        notes.append(_note(
            f"{len(dips)} of them found as dips through the lossy codec (its ringing 25 dB or "
            f"more under the music where the dropout was): {spans_text(dips)}"
        ))  # fmt: skip
    if pauses := details.get(PAUSES):
        notes.append(_note(pauses_line(len(pauses), spans_text(pauses))))
    if gates := details.get(GATES):
        notes.append(_note(gates_line(gates), WARNING))
    notes += [_note(line) for line in details.get(CUT_ENDS, [])]  # the file's ends, left alone
    notes += [_note(line) for line in details.get(EXTENDED_GAPS, [])]  # a selection too short
    notes += [_note(line) for line in details.get(KEPT_CHANNELS, [])]  # a one-channel dropout
    notes += [_note(fill_level_line(*fill), WARNING) for fill in details.get(FILL_LEVELS, [])]
    if levels := details.get(CHANNEL_LEVELS):  # auto: channels (or sides) clipped apart
        negative = details.get(NEGATIVE_LEVELS)
        each = "side" if negative else "channel"
        notes.append(_note(
            f"declipped each {each} at its own clipping level: {levels_text(levels, negative)}"
        ))  # fmt: skip
    notes += [_note(line, WARNING) for line in details.get(GAPS_WITH_AUDIO, [])]  # misplaced?
    notes += [_note(line, WARNING) for line in details.get(CLIPPED_LOWER, [])]  # left clipped
    if (rebuilt := details.get(REBUILT_LEVEL_DB)) is not None and rebuilt < 0:  # a dark stem
        notes.append(_note(
            f"the rebuilt top band was added {-rebuilt:.0f} dB lower: the recording has little "
            "of its own near the band limit (a dark instrument's stem, or dark music), where "
            "the full band measured worse on real music"
        ))  # fmt: skip
    if (gain := details.get(OUTPUT_GAIN_DB)) is not None:  # a declipped track over full scale
        notes.append(_note(_lowered_line(-gain)))
    if line := details.get(LATE_MASK_NOTE):  # blind dereverb under 32 kHz: WPE alone
        notes.append(_note(line))
    return notes + _changes(details)


def _changes(details: Mapping[str, Any]) -> list[dict[str, str]]:
    """What declick, blind dereverb and phase retrieval changed, told: the first two cannot tell
    a click from a sharp attack, or a room from a recording's own hall, for sure (a user trial:
    declick changed the attacks of 3 of 10 clean recordings, blind dereverb 6 of 10, an
    orchestra's hall the most, and neither said a word); phase retrieval's output is never the
    input repaired (a user trial had restored a file and found it no nearer the clean one)."""
    notes = []
    if details.get("task") == PhaseRetrieval.task:
        notes.append(_note(PHASE_REBUILT))
    if (clicks := details.get(REPAIRED_CLICKS)) and details.get(CLICKS_DETECTED):
        notes.append(_note(
            f"repaired {len(clicks)} click(s): {listed_text(clicks)}; where what was removed "
            "holds music, an attack was taken for a click: lower the sensitivity, or give the "
            "clicks"
        ))  # fmt: skip
    if details.get("method") == "wpe" and (room := details.get("room")):
        told = details.get("told_rt60_s", room["rt60_s"])  # the free decays' may read shorter
        shorter = f"; its free decays read {room['rt60_s']:.2f} s" if told != room["rt60_s"] else ""
        notes.append(_note(
            f"removed {details['removed_db']:.1f} dB of the reverberation of a room read as "
            f"{told:.2f} s (confidence {room['confidence']:.2f}{shorter}); a recording's own "
            f"hall or reverb goes too: {_kept_part(details)}"
        ))  # fmt: skip
    if details.get("method") == "wiener":  # a user trial: the impulse response's said nothing
        left_out = details.get(LEFT_OUT)
        notes.append(_note(
            f"deconvolved by the given impulse response ({details['ir_seconds']:.2f} s; Wiener, "
            f"regularization {details['regularization']:g}): where it rings or sounds thin, "
            + _kept_part(details, [REGULARIZE_LESS])
            + (f"; left out blind dereverb's {', '.join(left_out)}" if left_out else "")
        ))  # fmt: skip
    return notes


def _kept_part(details: Mapping[str, Any], beside: Sequence[tuple[str, str]] = ()) -> str:
    """How to keep part of what dereverb removed, or the share that was (given under 1, it is
    not advised again); ``beside``: other settings of the same preset advised first, the preset
    named once for all."""
    amount = details.get("amount", 1.0)
    if amount >= 1:
        return _in_a_preset([*beside, KEEP_HALF])
    made = f"amount {amount:g} made {amount:.0%} of the change"
    return f"{_in_a_preset(beside)}; {made}" if beside else made


def _in_a_preset(advice: Sequence[tuple[str, str]]) -> str:
    """One or two dereverb preset settings and what each does, the preset named once: REAPER
    says it as its long Settings phrase (placement.lua), which the impulse-response note had
    said twice (372 characters; a user trial)."""
    if len(advice) == 1:
        ((setting, effect),) = advice
        return f"{setting} {IN_A_DEREVERB_PRESET} {effect}"
    settings = " and ".join(f"{setting} {effect}" for setting, effect in advice)
    return f"{settings}, both {IN_A_DEREVERB_PRESET}"


# How a user keeps part of what dereverb removes: there is no flag (a user trial had tried
# --amount, which the note's "option amount" seemed to name); and how the impulse response is
# inverted less. Each a dereverb preset's setting and what it does.
KEEP_HALF = ("amount = 0.5 (0..1)", "keeps half of it")
REGULARIZE_LESS = ("regularization = 0.1", "inverts the response less")

# The command-line advice in the engine's reasons, and the field of a batch chain's step that
# does the same (a user trial: a batch report advised --sensitivity and --click, which
# `batch` does not take).
IN_A_CHAIN = {
    "--sensitivity": "the step's sensitivity",
    "--click START:END": "clicks = [[START, END]] in the step",
    "--level AMPLITUDE": "level = AMPLITUDE in the step",
    "--level auto": 'level = "auto" in the step',
    "--cutoff HZ": "cutoff = HZ in the step",
    "--gap START:END": "gaps = [[START, END]] in the step",
    f"min_rt60 = 0 {IN_A_DEREVERB_PRESET}": "min_rt60 = 0 in the step",
    "--rir FILE": "rir = FILE in the step",
}


def in_chain_words(text: str) -> str:
    """One of the engine's reasons as a batch report says it: its flags as a step's fields."""
    for flag, field in IN_A_CHAIN.items():
        text = text.replace(flag, field)
    return text


def fetch_command(job_id: str, connection_file: Path | str | None = None) -> str:
    """The command that writes a finished job's result, as every message that points to it
    gives it (:func:`client_command`)."""
    return client_command(f"fetch {job_id} -o OUT", connection_file)


def client_command(words: str, connection_file: Path | str | None = None) -> str:
    """``diffmusic WORDS``, as a message advises it: with ``--connection-file`` where the
    daemon is not at the default one (the user's command had named it)."""
    where = ""
    if connection_file and Path(connection_file) != default_connection_path():
        where = f" --connection-file {connection_file}"
    return f"diffmusic {words}{where}"


def reconnecting_line(job_id: str, seconds: float) -> str:
    """What a waiting client says when the daemon stops under its job (which it resumes)."""
    return (
        f"the daemon stopped; job {job_id} resumes when it starts again (waiting up to "
        f"{seconds:g} s)"
    )


def _lowered_line(lowered_db: float) -> str:
    """The line saying that a declipped track was written ``lowered_db`` lower, its peak that
    much over full scale: two decimals under 0.1 dB (a track 0.02 dB over had read "+0.0 dBFS
    ... written 0.0 dB lower"), and under 0.005 dB, which two decimals read 0.00, in words."""
    if round(lowered_db, 2) < 0.01:
        peak, lowered = "just over 0 dBFS", "less than 0.01 dB"
    else:
        decibels = f"{lowered_db:.2f}" if lowered_db < 0.1 else f"{lowered_db:.1f}"
        peak, lowered = f"up to +{decibels} dBFS", f"{decibels} dB"
    return (
        f"declip rebuilt the clipped peaks {peak}, over the full scale of the integer samples "
        f"written: written {lowered} lower so that they are kept (clipped again, the output "
        "would be the input); float samples keep the level (--bit-depth 32f, a .wav)"
    )


SHORT_MS = "-".join(f"{seconds * 1000:g}" for seconds in SHORT_FADE_SECONDS)  # "3-5"


def pauses_line(count: int, listed: str, give_as: str = "--gap") -> str:
    """The line naming ``count`` silent runs left alone as pauses, ``listed`` (``spans_text``),
    and how to have them filled all the same (``give_as``: the CLI's ``--gap``, a batch's
    ``gaps``)."""
    return (
        f"{count} silent run(s) at {listed} left alone as pauses: on one side the music fades or "
        f"decays into them down to nothing (its last 10 ms {PAUSE_DB:g} dB or more under its "
        f"level around, or its last {SHORT_MS} ms {SHORT_FADE_DB:g} dB under the music just "
        f"before, and its last millisecond at {FADE_FLOOR_DB:g} dBFS or under, {FADE_END_DB:g} "
        f"dB under that music or {GATE_STEP_DB:g} dB under the other side's edge); give them as "
        f"{give_as} if they are dropouts"
    )


def gates_line(gates: Sequence[Sequence[Sequence[float]]], give_as: str = "--gap") -> str:
    """The line naming the ``gates`` (each its dips, ``[[start, end], ...]`` in seconds) whose
    offs, dips through the lossy codec or even runs of digital silence (``diagnose.coded.ungated``),
    were left alone, and how to have them filled all the same (``give_as``: the CLI's ``--gap``,
    a batch's ``gaps``): a burst of as many dropouts so close together (and, silent, as even)
    reads the same (what the rule cannot tell); where not every dip is named, where to read them
    all (an underrun every so many buffers reads as a gate of hundreds)."""
    shown = "; ".join(f"{seconds_text(gate[0][0], gate[-1][1])} ({len(gate)} dip(s): "
                      f"{listed_text(gate)})" for gate in gates[:LISTED])  # fmt: skip
    more = f"; and {len(gates) - LISTED} more" if len(gates) > LISTED else ""
    unlisted = len(gates) > LISTED or any(len(gate) > LISTED for gate in gates)
    every = " (every dip is in the gates of diffmusic diagnose FILE --json)" if unlisted else ""
    return (
        f"{len(gates)} train(s) of dips through the lossy codec or runs of digital silence left "
        f"alone as a stutter gate's offs ({GATE_COUNT} or more, each within {GATE_FRAMES} ms of "
        f"the one before; the silent runs {GATE_COUNT} in a row evenly spaced and alike in "
        f"length, within {GATE_JITTER_FRAMES} ms): {shown}{more}; a burst of as many dropouts "
        f"reads the same: listen, and give the dips as {give_as} if they are dropouts{every}"
    )


def fill_level_line(
    start: float,
    end: float,
    part: str,
    fill: float,
    before: float | None,
    after: float | None,
    written: float,
) -> str:
    """The warning of a dsp fill, or one half of it (``part``), far under the music on both
    sides of its gap (``details.fill_levels``, dsp.fill_level: levels in dBFS, a side ``None``
    where the gap has none; a batch's times are the file's), raised to ``written`` or left."""
    sides = " and ".join(f"{level:.0f} dBFS {where}" for level, where in
                         ((before, "before"), (after, "after")) if level is not None)  # fmt: skip
    what = "the fill" if part == "whole" else f"the {part} of the fill"
    done = f"was raised to {written:.0f} dBFS" if written > fill else "was left so"
    why = (
        "the passage copied, or the estimate, was quieter than the gap's surroundings"
        if part == "whole"
        else "the passage copied, or the estimate, fades, stops or holds no note where the music "
        "beside it goes on"
    )
    return (
        f"{what} of the gap {seconds_text(start, end)} came out at {fill:.0f} dBFS, far under "
        f"the music beside it ({sides}), and {done}: {why}; check it by ear, and mark a wider "
        "selection, send more of the song around the gap (a louder repeat to copy), or use the "
        "diffusion backend"
    )


def levels_text(levels: Sequence[float], negative: Sequence[float] | None = None) -> str:
    """Clipping levels, one per channel, as ``channel 1 at 0.8, channel 2 at 0.6``, and with
    the ``negative`` sides' where they differ, ``channel 1 at +0.5 / -0.7`` (the notes and
    ``diagnose`` word them so)."""
    sides = zip(levels, negative or levels, strict=True)
    return ", ".join(
        f"channel {number} at " + (f"{high:.6g}" if high == low else f"+{high:.6g} / -{low:.6g}")
        for number, (high, low) in enumerate(sides, 1)
    )


def listed_text(spans: Sequence[Sequence[float]]) -> str:
    """The first ``LISTED`` of ``[[start, end], ...]`` (seconds) as :func:`spans_text`, and how
    many more."""
    more = f" and {len(spans) - LISTED} more" if len(spans) > LISTED else ""
    return spans_text(spans[:LISTED]) + more


def spans_text(spans: Sequence[Sequence[float]]) -> str:
    """``[[start, end], ...]`` in seconds as ``1.2000-1.3000 s, ...``."""
    return ", ".join(seconds_text(start, end) for start, end in spans)


def _note(text: str, level: str = NOTE) -> dict[str, str]:
    return {"level": level, "text": text}
