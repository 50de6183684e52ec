"""Which local files a catalogue may name: only those inside the folder its pictures live in.

A catalogue's `image` column is data, so it may hold `/etc/passwd`, `../../.streamlit/secrets.toml`
or a picture that is a symlink out of the folder. Every reader of a picture file (the embed job,
the app's pages) asks `inside` first; the path is resolved (symlinks followed, `..` removed)
before it is compared, so no spelling of a path gets out."""
from __future__ import annotations

from pathlib import Path


def resolved(path: Path | str) -> Path | None:
    """The path with symlinks followed and `..` removed; None for a symlink loop or a bad name."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # a loop; a name with a NUL byte
        return None


def inside(path: Path | str, root: Path | str) -> bool:
    """Whether `path`, resolved, is `root` (resolved) or lies under it."""
    target, base = resolved(path), resolved(root)
    return target is not None and base is not None and target.is_relative_to(base)
