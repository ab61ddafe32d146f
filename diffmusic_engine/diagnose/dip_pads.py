"""A lossy coded input's dropouts as :func:`.coded.sifted` gives them out: each that holds a dip
through the codec reaches PAD_FRAMES further into the music (the codec's smear, :mod:`.coded`),
and is told as found by the rule for lossy coded input (``scanner.dips``: diagnose's ``"lossy":
true``, restore's ``gaps_found_lossy``, the batch's note) only where it holds none of the
scanner's own runs (digital silence, or dither or a held value with abrupt edges), which find it
without that rule: a 400 ms dropout through MP3 keeps 359 ms of digital silence, and a dip at its
smeared edge had named it "a dip through the codec" (a user trial)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diffmusic_engine.diagnose.spans import holding

if TYPE_CHECKING:  # (dropouts imports coded, which imports this module)
    from diffmusic_engine.diagnose.dropouts import DropoutScanner


def padded(
    scanner: DropoutScanner,
    found: list[tuple[int, int]],
    runs: list[tuple[int, int]],
    added: list[tuple[int, int]],
    length: int,
    position: int = 0,
) -> list[tuple[int, int]]:
    """The dropouts ``found`` (sifted, samples of the ``length`` samples of audio ``scanner``
    read from ``position``, in order) that hold one of the dips ``added`` PAD_FRAMES wider on
    each side, never past a neighbouring dropout or the audio's ends; those that hold none of
    ``runs`` (the scanner's own) are also kept in ``scanner.dips``, in recording samples."""
    from diffmusic_engine.diagnose.coded import PAD_FRAMES  # (it imports this module)

    pad, out = PAD_FRAMES * scanner.edge_frame, []
    holds_dip, by_scanner = set(holding(found, added)), set(holding(found, runs))
    for index, (first, stop) in enumerate(found):
        if (first, stop) in holds_dip:
            before = found[index - 1][1] if index else 0
            after = found[index + 1][0] if index + 1 < len(found) else length
            told = (first, stop) not in by_scanner
            first, stop = max(first - pad, before), min(stop + pad, after)
            if told:
                scanner.dips.append((first + position, stop + position))
        out.append((first, stop))
    return out
