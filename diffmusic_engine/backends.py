"""The registry of restoration backends and what they return, importable without torch.

Each entry is ``"module:function"``; the function follows :class:`Backend` and its module is
imported on first use, so the dsp path never imports diffusers and a CLI that only parses flags
never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from diffmusic_engine.damage import Damage
    from diffmusic_engine.progress import ProgressCallback

BACKENDS = {
    "dsp": "diffmusic_engine.dsp:restore_dsp",
    "diffusion": "diffmusic_engine.diffusion:restore_diffusion",
}
DEFAULT_BACKEND = "dsp"
# The details key that says why a restoration is its input unchanged (nothing found to restore,
# or nothing a method could remove without harm); absent when the audio was changed. Clients
# show it to the user, so that "nothing done" is never silent.
UNCHANGED = "unchanged"
# The details key that lists the dropouts ``gaps="auto"`` found and filled: [[start, end], ...]
# in seconds (absent when the gaps were given).
FOUND_GAPS = "gaps_found"
# The details key that lists those of ``gaps_found`` that only the rule for lossy coded input
# found (a dip far under the music, the codec's ringing in place of digital silence:
# diagnose.coded): [[start, end], ...] in seconds, absent if none.
LOSSY_GAPS = "gaps_found_lossy"
# The details key that lists the silent runs ``gaps="auto"`` left alone as pauses between songs
# (the music fades into them; diagnose.dropouts): [[start, end], ...] in seconds, absent if none.
PAUSES = "pauses_left_alone"
# The details key that lists the trains of a lossy codec's dips, or of even runs of digital
# silence, ``gaps="auto"`` left alone as a stutter gate's offs (diagnose.coded, GATE_COUNT or
# more close together; a burst of as many dropouts reads the same): a list per gate of its dips,
# [[[start, end], ...], ...] in seconds, absent if none.
GATES = "gates_left_alone"
# The details key that holds the line naming digital silence at the file's start or end that
# ``gaps="auto"`` left alone, the music beside it not fading (diagnose.cut_ends: a transfer cut
# there, or a file that starts or stops on a hit, which reads the same): a list of
# that one line, shown to the user; absent if none.
CUT_ENDS = "cut_ends_left_alone"
# The details key that lists given gaps whose input was not a dropout, or wider than the one in
# them (as loud as the audio around them): one line each, shown to the user, since their music
# was replaced.
GAPS_WITH_AUDIO = "gaps_with_audio"
# The details key that lists given gaps taken over the dropout at their edges (a selection a
# few ms short of them had left its silence in, and clicks): one line each, shown to the user.
EXTENDED_GAPS = "gaps_extended"
# The details key that lists the dsp fills that lie far under the music on both sides of their
# gap, or whose half does under the side beside it (dsp.fill_level; raised): [[start, end, part,
# fill, before, after, written], ...], start and end in seconds, part "whole", "first half" or
# "second half", the levels in dBFS of that part in the channel farthest under (a side null where
# the gap has none), each shown to the user as a warning (bridge.notes.fill_level_line).
FILL_LEVELS = "fill_levels"
# The details key that lists given gaps where only some channels dropped out, the others kept as
# they were: one line each, shown to the user.
KEPT_CHANNELS = "channels_kept"
# The details key that gives the gain (dB, negative) a declipped track was written with: its
# rebuilt peaks went over the full scale of the integer samples written, and clipped again the
# output would have been the input (set by the CLI's writer; shown to the user).
OUTPUT_GAIN_DB = "output_gain_db"
# The details key that lists the channels a declip left as they were although clipped, at a
# level of their own under the one declipped (one line each, shown to the user as a warning).
CLIPPED_LOWER = "channels_clipped_lower"
# The details key that gives the level each channel was declipped at, where ``--level auto``
# found the channels clipped at different levels: [level, ...] per channel (shown to the user).
CHANNEL_LEVELS = "channel_levels"
# The details key that gives each channel's negative side's level, where ``--level auto`` found
# the two sides clipped apart (``channel_levels`` then holds the positive sides').
NEGATIVE_LEVELS = "negative_levels"
# The details key that gives the level (dB) a super-resolution's rebuilt band was added at: 0 as
# measured, under 0 on a dark recording's peaky top (shown to the user then).
REBUILT_LEVEL_DB = "rebuilt_level_db"
# The details key that says a blind dereverb ran WPE without its late-reverberation mask (a
# sample rate under the mask's 32 kHz): one line, shown to the user.
LATE_MASK_NOTE = "late_mask_note"
# Where a dereverb option is set (no flag sets one), as the engine's reasons and bridge's notes
# advise it: the batch report and placement.lua replace these words with their users' own.
IN_A_DEREVERB_PRESET = "in a dereverb preset's [options] (restore --preset FILE)"
# The details key listing blind dereverb's options given to a dereverb with an impulse response,
# which leaves them out (a note names them).
LEFT_OUT = "left_out"
# The details key that lists the stretches an inpaint re-estimated, merged where they overlap:
# [[first, stop), ...] in samples of the audio's rate. The dsp backend's are the gaps widened by
# their crossfades; the diffusion backend's the gaps alone (its crossfades lie inside them).
REGIONS = "regions"
# The details key that lists the clicks a declick repaired: [[start, end], ...] in seconds (the
# diffusion backend's: the clicks given, at whole samples).
REPAIRED_CLICKS = "clicks"
# The details key that says declick found the clicks itself (true) rather than being given them:
# then an attack may have been taken for a click, and the notes say so.
CLICKS_DETECTED = "clicks_detected"
# Where each backend declares its options: ``function(damage) -> {name: Option}``, found
# without importing diffusers (see :mod:`diffmusic_engine.options`); its module also has
# ``task_options(task)``, every option of a task whatever the damage (the task a flag names),
# and may have ``check_supported(damage, options)``, raising for what the backend cannot restore.
OPTION_SPECS = {
    "dsp": "diffmusic_engine.dsp.options:options_for",
    "diffusion": "diffmusic_engine.diffusion.options:options_for",
}


@dataclass(frozen=True)
class Restoration:
    """A backend's result: one track (``(channels, samples)`` float32) per output.

    Every task yields one track except ``separate``, which yields one per source. ``details``
    holds what the backend decided on the way (a detected cutoff, iterations run, ...) and,
    under :data:`UNCHANGED`, why the track is the input unchanged.
    """

    tracks: tuple[np.ndarray, ...]
    sample_rate: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def audio(self) -> np.ndarray:
        """The single restored track (not for separation, which has several)."""
        if len(self.tracks) != 1:
            raise ValueError(f"this restoration has {len(self.tracks)} tracks; use .tracks")
        return self.tracks[0]

    @property
    def unchanged(self) -> str | None:
        """Why the tracks are the input unchanged (one line), or ``None`` if they were restored."""
        return self.details.get(UNCHANGED)


class Backend(Protocol):
    def __call__(
        self,
        audio: np.ndarray,
        sample_rate: int,
        damage: Damage,
        *,
        options: dict[str, Any],
        callback: ProgressCallback | None,
    ) -> Restoration: ...


def get_backend(name: str) -> Backend:
    """The backend function registered as ``name``; else the error ``options.check_one_of``
    says (its nearest name: the Python API's ``backend="difusion"`` had had none)."""
    from diffmusic_engine.options import check_one_of  # options imports this module

    check_one_of("backend", name, BACKENDS)
    module, function = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), function)
