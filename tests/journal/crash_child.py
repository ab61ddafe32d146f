"""Child process for the crash test: writes jobs to a journal in a loop until it is killed.

Usage: crash_child.py DIRECTORY FIRST_INDEX. For each index i it submits job ``job-<i>`` with the
inputs ``crash_input(i)`` and prints ``submitted <i>`` once ``submit`` has returned (an
acknowledgement); then it runs and finishes the previous job with ``crash_output(i - 1)`` and
prints ``finished <i-1>``. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bridge.journal import Journal


def crash_input(index: int) -> np.ndarray:
    # 0.1 to 0.6 s of stereo 48 kHz: big enough that a kill often lands inside a blob write.
    samples = 4800 + (index * 7919) % 24000
    return np.random.default_rng(index).standard_normal((2, samples)).astype(np.float32)


def crash_output(index: int) -> np.ndarray:
    return crash_input(index)[::-1] * np.float32(0.5)


def main() -> None:
    directory, first = Path(sys.argv[1]), int(sys.argv[2])
    journal = Journal(directory)
    journal.recover()
    index = first
    while True:
        journal.submit(f"job-{index}", {"index": index}, {"audio": crash_input(index)})
        print(f"submitted {index}", flush=True)
        if index > first:
            previous = f"job-{index - 1}"
            journal.mark_running(previous)
            journal.progress(previous, 1, 2)
            journal.finish(previous, [crash_output(index - 1)], {"index": index - 1})
            print(f"finished {index - 1}", flush=True)
        index += 1


if __name__ == "__main__":
    main()
