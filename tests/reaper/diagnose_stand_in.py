"""A strict stand-in for ``diffmusic diagnose FILE --json``, and only for that command.

The real ``diagnose`` (wt/rooms) reports reverb, band limit and dropouts; clicks and clipping
(issue 16) come from another branch. To test how the REAPER actions read those entries, the
tests point the ``cli`` setting at a wrapper around this script, which checks the call exactly
as the real command takes it and prints the report it was given (docs/protocol.md's contract):

    python diagnose_stand_in.py --report REPORT.json diagnose FILE --json --stop-file PATH

Anything else (another command, a missing or unreadable FILE, no --json) is an error line and
exit 2, so a script that calls it wrongly fails the test.

A report may pin when the user's edit falls: ``"edited": [MARK, "before"]`` (the edit, which
writes the file MARK, came before the diagnosis started: while the item was read) or ``[MARK,
"during"]`` (MARK absent at the start; the diagnosis answers once the edit has written it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import soundfile as sf


def main(argv: list[str]) -> int:
    if (len(argv) != 7 or argv[0] != "--report" or argv[2] != "diagnose" or argv[4] != "--json"
            or argv[5] != "--stop-file"):  # fmt: skip
        print(json.dumps({"event": "error", "message": f"stand-in: unexpected call {argv}"}))
        return 2
    audio = Path(argv[3])
    try:
        info = sf.info(str(audio))
    except (OSError, RuntimeError) as error:
        print(json.dumps({"event": "error", "message": f"{audio}: {error}"}))
        return 2
    report = json.loads(Path(argv[1]).read_text())
    expected = report.pop("expect_seconds", None)  # the item as the action must send it
    if expected is not None and abs(info.duration - expected) > 1e-3:
        message = f"stand-in: {audio} lasts {info.duration} s, expected {expected} s"
        print(json.dumps({"event": "error", "message": message}))
        return 2
    problem = _edit_out_of_place(*report.pop("edited", (None, None)))
    if problem:
        print(json.dumps({"event": "error", "message": f"stand-in: {problem}"}))
        return 2
    print(json.dumps({"event": "diagnosis", **report}), flush=True)
    return 0


def _edit_out_of_place(mark: str | None, when: str | None) -> str | None:
    """Why the edit that writes ``mark`` did not fall ``when`` it should; None if it did."""
    if mark is None:
        return None
    if when == "before":
        return None if Path(mark).exists() else "the edit had not come before the diagnosis"
    if Path(mark).exists():
        return "the edit came before the diagnosis started"
    deadline = time.monotonic() + 30
    while not Path(mark).exists():
        if time.monotonic() > deadline:
            return "no edit came during the diagnosis"
        time.sleep(0.02)
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
