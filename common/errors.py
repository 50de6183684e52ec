"""The two errors a user can cause; anything else raised is a bug and keeps its traceback.

CLIs and pages catch exactly these two and show their message as one line.
"""
from __future__ import annotations


class InputError(ValueError):
    """The user's input (a file, a column, an id, a threshold, k) cannot be used; the message
    says what is wrong and how to fix it."""


class ArtifactError(RuntimeError):
    """A built folder is missing, from an older format, or damaged; the message names the
    command that rebuilds it."""


USER_ERRORS = (InputError, ArtifactError)
