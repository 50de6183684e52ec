"""The two errors a user can cause; anything else raised is a bug and keeps its traceback.

CLIs and pages catch exactly these two and show their message as one line.
"""
from __future__ import annotations

from common.redact import redact


class _Redacted:
    """Messages are redacted where the error is made (common/redact.py): a password in a URL never
    reaches a terminal, a log, a page or an API answer, wherever the error is raised."""

    def __init__(self, *args):
        super().__init__(*(redact(a) for a in args))


class InputError(_Redacted, ValueError):
    """The user's input (a file, a column, an id, a threshold, k) cannot be used; the message
    says what is wrong and how to fix it."""


class ArtifactError(_Redacted, RuntimeError):
    """A built folder is missing, from an older format, or damaged; the message names the
    command that rebuilds it."""


USER_ERRORS = (InputError, ArtifactError)


def require_columns(found, wanted, what: str, hint: str = "", shown: int = 12) -> None:
    """The one line for a table that lacks columns it needs: InputError saying what lacks which,
    the columns it has (the first `shown`), and how to name others (`hint`)."""
    found = [str(c) for c in found]
    missing = [c for c in dict.fromkeys(w for w in wanted if w) if c not in found]
    if missing:
        listed = ", ".join(found[:shown]) + (", ..." if len(found) > shown else "")
        raise InputError(f"{what} lacks column(s) {', '.join(map(repr, missing))}; found {listed}."
                         + (f" {hint}" if hint else ""))
