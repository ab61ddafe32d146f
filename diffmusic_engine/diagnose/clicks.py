"""Clicks: short impulsive bursts, found by the dsp declick detector (AR prediction error) and
kept where declick's repair would repair them; none at a dropout's edge nor at the edge of a gate
left alone, cut to digital silence or, told the input was lossy, read through the codec's dips
(:func:`off_edges`: declick's own finds) or in lossy coded input (:func:`off_gate_edges`:
``diagnose``'s, which reads the file's gates)."""

from __future__ import annotations

import numpy as np

from diffmusic_engine.diagnose import coded, dropouts  # (their names read when called)

# A diagnosis must not report clicks a clean recording does not have; the repair may look harder.
# On 140 s of clean real stems and mixes declick's default (0.5) marked 30 attacks as clicks, 0.25
# one, while still finding most bursts (docs/results.md, "Clicks in clean music").
DIAGNOSE_SENSITIVITY = 0.25
# A hard stutter gate through MP3 steps from the music to its off within a sample: the detector
# reads each step as a click, and the repair smooths the gate's edge away (24 gated real mixes as
# 128 kbps MP3, 1/16 and 1/32 gates: 2-36 finds each, all within 1.4 ms of an off's edge, and the
# repaired spans 10.5-13.2 dB further from the uncoded gated mix than the input was). Within a
# gate the coded scan left alone (its span widened by the longest dip, .coded.MAX_DIP_FRAMES: a
# longer off's dip starts that late), a find with a .coded.DIP_DB step across it is the gate's
# edge: the louder side's loudest 1 ms frame over the quieter side's quietest, STEP_FRAMES each
# side. On the 20 of those files with a gate read: 286 finds -> 3, declick proposed 17 -> 1
# times, +12 dB bursts built into the ons and outside the gates found 269 of 270 times, as before.
# A burst beside an off's edge has the off in the window: bursts built 1 and 2 ms into an on
# (5 files) were found 30 of 31 and 30 of 30 times before, 5 and 30 with 2 frames, 2 and 4 with
# 3 (docs/results.md "Clicks at a gate's edges in an MP3"). A gate cut to digital silence in a
# WAV (.coded.ungated) steps as hard: the rule is the same (hard 1/16 gates over 9 real mixes: 27
# finds at their edges -> 0, bursts found 79 -> 79 of 126; docs/results.md "A gate to digital
# silence", review).
STEP_FRAMES = 2
# A dropout's abrupt edges are badly predicted too: a span within this of a dropout (the one rule,
# diagnose.dropouts) with music beyond it (its far side's 1 ms JUMP_DB over the dropout) is the
# dropout's edge, which its fill takes, not a click (0.3 s cut into each of 18 real recordings at
# 5 places: the diagnosis had listed 13 edges as clicks, and its preset then proposed declick for
# a file whose one damage was a dropout; docs/results.md "Clicks in other kinds of music"). A
# click in a passage so quiet that the rule reads the stretches between clicks as dropouts has
# quiet on both sides: it stays a click.
DROPOUT_GUARD_S = 0.002


def detect(audio: np.ndarray, sample_rate: int) -> list[dict[str, float]]:
    """``[{"start": s, "end": s}, ...]`` in seconds, one per click that declick, at
    :data:`DIAGNOSE_SENSITIVITY`, finds and repairs: a span that does not stand out from the
    music's own prediction error (declick's evidence test) is an attack, not a click. On eight
    clean recordings of other kinds than rock (jazz, a waltz, a trumpet, drums and bass) the
    detector alone listed 20 attacks as clicks in 75 s, the repair's spans none
    (docs/results.md "Clicks in other kinds of music"). It costs the repair's interpolation of
    each span found: 60 s with 100 bursts a second, 5.1 s against 2.0 s for the detector."""
    from diffmusic_engine.backends import REPAIRED_CLICKS
    from diffmusic_engine.damage import Declick
    from diffmusic_engine.dsp.declick import restore_declick

    _, details = restore_declick(
        audio, sample_rate, Declick(), {"sensitivity": DIAGNOSE_SENSITIVITY}, None
    )
    return [
        {"start": round(start, 5), "end": round(end, 5)} for start, end in details[REPAIRED_CLICKS]
    ]


def off_gate_edges(
    found: list[dict[str, float]], gates: list[dict], audio: np.ndarray, sample_rate: int
) -> list[dict[str, float]]:
    """The click finds (:func:`detect`) of ``audio`` that are no gate's edge: none
    at an edge of the ``gates`` (``diagnose``'s, :mod:`.gates`); see the rule above
    :func:`detect`."""
    spans = [(gate["start"] * sample_rate, gate["end"] * sample_rate) for gate in gates]
    gate_edge = _GateEdges(spans, audio, sample_rate)

    def edge(click: dict[str, float]) -> bool:
        return gate_edge(round(click["start"] * sample_rate), round(click["end"] * sample_rate))

    return [click for click in found if not edge(click)]


def off_edges(
    spans: list[tuple[int, int]], audio: np.ndarray, sample_rate: int, lossy: bool = False
) -> list[tuple[int, int]]:
    """The detector's ``spans`` (samples, declick's) that are no dropout's edge (farther than
    DROPOUT_GUARD_S from every dropout of ``audio``, or with no music beyond them) and no edge of
    a gate left alone (:func:`.coded.ungated`: cut to digital silence; ``lossy``: or read through
    a lossy codec's dips, as ``diagnose`` reads them), by the rule above :func:`detect`: declick
    run by hand had smoothed a gate's edges (and through MP3, not told the input was lossy, 81
    spans at them on 30 gated real mixes; docs/results.md "Declick through MP3: a gate's
    edges")."""
    from diffmusic_engine.dsp.declick import mean_power  # (it imports this module)

    dropout_runs, _, _, gates = dropouts.find_all(audio, sample_rate, lossy)
    guard = round(DROPOUT_GUARD_S * sample_rate)
    frame = round(dropouts.EDGE_FRAME_SECONDS * sample_rate)

    def edge_of(span: tuple[int, int], dropout: tuple[int, int, tuple]) -> bool:
        (first, stop), (start, end, _) = span, dropout
        if not (first < end + guard and stop > start - guard):
            return False
        if stop <= start + guard:
            beyond = mean_power(audio, first - frame, first)
        else:
            beyond = mean_power(audio, stop, stop + frame)
        return beyond >= mean_power(audio, start, end) * 10 ** (dropouts.JUMP_DB / 10)

    gate_spans = [(gate[0][0], gate[-1][1]) for gate in gates]  # first dip's start to last's end
    gate_edge = _GateEdges(gate_spans, audio, sample_rate)
    return [span for span in spans if not any(edge_of(span, d) for d in dropout_runs)
            and not gate_edge(*span)]  # fmt: skip


class _GateEdges:
    """Whether a find ``[first, stop)`` (samples of ``audio``) is an edge of one of ``gates``
    (their spans, samples): within one (widened by the longest dip) with a DIP_DB step across it,
    the louder side's loudest frame over the quieter side's quietest, STEP_FRAMES each side; the
    frame the gates were read in, at ``sample_rate``, set up once for all finds."""

    def __init__(self, gates: list, audio: np.ndarray, sample_rate: int) -> None:
        self.gates, self.audio = gates, audio
        self.frame = dropouts.DropoutScanner.at_rate(sample_rate).edge_frame  # the gates' frame
        self.reach, self.side = coded.MAX_DIP_FRAMES * self.frame, STEP_FRAMES * self.frame

    def __call__(self, first: int, stop: int) -> bool:
        reach, side = self.reach, self.side
        if not any(low - reach < stop and first < high + reach for low, high in self.gates):
            return False
        before = coded.frame_power(self.audio[:, max(0, first - side) : first], self.frame)
        after = coded.frame_power(self.audio[:, stop : stop + side], self.frame)
        if not before.size or not after.size:
            return False
        tiny = np.finfo(np.float64).tiny  # digital silence on the quiet side: a step all the same
        step = max(before.max() / max(after.min(), tiny), after.max() / max(before.min(), tiny))
        return step >= 10 ** (coded.DIP_DB / 10)
