"""Whether a damage description fits the audio it is applied to, checked before any work starts
(``restore``, ``degrade``, the daemon's submit, the batch restorer): its spans end inside the
audio and leave samples to fill them from, a cutoff lies under Nyquist, an FFT is no longer than
the audio, declip's levels are one a channel, an impulse-response file exists and an impulse
response given as samples has one channel or one per channel and is not silent (a daemon had
journalled such jobs and failed them only once they ran).

The fields' own rules (a gap's end after its start, a level above 0) are the dataclasses' in
:mod:`diffmusic_engine.damage`; these need the audio's length, rate and channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffmusic_engine.damage import (
    Damage,
    Declick,
    Declip,
    Dereverb,
    Gap,
    Inpaint,
    PhaseRetrieval,
    SuperResolution,
    gap_samples,
)
from diffmusic_engine.errors import DamageError, not_a_file
from diffmusic_engine.impulse_response import check_impulse_response


def _check_known_samples(gaps: tuple[Gap, ...], samples: int, sample_rate: int) -> None:
    """Raise :class:`DamageError` if the gaps leave no sample to fill them from (a client that
    sent only the dropout: the fill came back silent, with no word)."""
    reached = 0  # the gaps, merged in order of their starts, cover [0, reached)
    for gap in sorted(gaps, key=lambda g: g.start):
        first, stop = gap_samples(gap, sample_rate)
        if first > reached:
            return
        reached = max(reached, stop)
    if reached >= samples:
        raise DamageError(
            f"the gaps cover the whole audio ({samples / sample_rate:.3f} s): nothing around "
            "them to fill them from; send the audio around the gaps too"
        )


def _ends_after(gap: Gap, sample_rate: int, samples: int) -> bool:
    """Whether ``gap``'s last sample lies after ``samples`` (as :func:`gap_samples` rounds it,
    a span shorter than a sample included; an end of 1e308 s is compared before rounding, which
    overflows)."""
    end = gap.end * sample_rate
    return end > samples + 1 or gap_samples(gap, sample_rate)[1] > samples


def _after_the_audio(duration: float) -> str:
    """Why a span given is refused, and what to give: a span had been refused with no remedy,
    and a time read off a DAW's timeline is the project's, not the file's."""
    return (
        f"ends after the audio ({duration:.3f} s); give times within it, in seconds from the "
        "start of the file"
    )


def check_damage(damage: Damage, duration: float, sample_rate: int, channels: int = 1) -> None:
    """Raise :class:`DamageError` if ``damage`` does not fit audio of this length and rate."""
    nyquist = sample_rate / 2
    # a span ends after the audio when its last sample does (gap_samples): an end a client
    # wrote as 1.234568 for 1.2345678 s is the end
    samples = round(duration * sample_rate)
    if isinstance(damage, Inpaint) and damage.gaps != "auto":
        for gap in damage.gaps:
            if _ends_after(gap, sample_rate, samples):
                raise DamageError(f"gap {gap}: {_after_the_audio(duration)}")
        _check_known_samples(damage.gaps, samples, sample_rate)
    elif isinstance(damage, SuperResolution):
        if damage.cutoff != "auto" and damage.cutoff >= nyquist:
            raise DamageError(
                f"cutoff {damage.cutoff:g} Hz: at or above Nyquist ({nyquist:g} Hz at "
                f"{sample_rate} Hz)"
            )
    elif isinstance(damage, PhaseRetrieval):
        if damage.n_fft > duration * sample_rate:
            raise DamageError(f"n_fft {damage.n_fft}: longer than the audio")
    elif isinstance(damage, Declick):
        for gap in damage.clicks:
            if _ends_after(gap, sample_rate, samples):
                raise DamageError(f"click {gap}: {_after_the_audio(duration)}")
    elif isinstance(damage, Declip) and damage.channel_levels:
        if len(damage.channel_levels) != channels:
            raise DamageError(f"channel_levels: {len(damage.channel_levels)} given for "
                              f"{channels} channel(s); give one per channel, or level")  # fmt: skip
    elif isinstance(damage, Dereverb) and isinstance(damage.rir, Path):
        check_rir_file(damage.rir)
    elif isinstance(damage, Dereverb) and isinstance(damage.rir, np.ndarray):
        check_impulse_response(damage.rir, channels)


def check_rir_file(path: Path) -> None:
    """Raise :class:`DamageError` unless ``path`` is a file: the line names it as the impulse
    response and says what to give (a client reading it to send had said only "no such file")."""
    if not path.is_file():
        raise DamageError(
            f"impulse response {path}: {not_a_file(path)}; give the room's impulse-response "
            'file, or "blind" to estimate the room'
        )
