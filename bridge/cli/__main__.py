"""``python -m bridge.cli``: the ``diffmusic`` command, as the console script and ``python -m
bridge`` run it (a user trial had tried this and got "cannot be directly executed")."""

import sys

from bridge.cli import main

sys.exit(main())
