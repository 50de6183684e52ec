"""How a command-line run of Vitrine ends, the same for `python -m recommend` and `python -m embed`:
a user's error is one line and exit 2, Ctrl-C is exit 130 with a word on what was kept, output
into a closed pipe (`... | head -1`) ends quietly with the status a shell expects; anything else
is a bug and keeps its traceback."""
from __future__ import annotations

import os
import sys
from typing import Callable

from common.errors import USER_ERRORS

BROKEN_PIPE_STATUS = 128 + 13  # what a shell reports for a process ended by SIGPIPE


def run(command: Callable[[], int], interrupted: str = "Interrupted.") -> int:
    """Run `command` (returns an exit status) and turn the endings above into exit statuses."""
    try:
        status = int(command() or 0)
        sys.stdout.flush()  # a closed pipe shows here, not later as "Exception ignored" at exit
        return status
    except BrokenPipeError:
        # Python would flush stdout again at exit and complain; point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
