"""Which local files a catalogue may name: only those inside the folder its pictures live in.

A catalogue's `image` column is data, so it may hold `/etc/passwd`, `../../.streamlit/secrets.toml`
or a picture that is a symlink out of the folder. Every reader of a picture file (the embed job,
the app's pages) asks `inside` first; the path is resolved (symlinks followed, `..` removed)
before it is compared, so no spelling of a path gets out."""
from __future__ import annotations

import os
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


def escaping(folder: Path | str, names: list[str], root: Path | str) -> list[bool]:
    """For each of `names` (relative to `folder`, or absolute), whether it is not inside `root`: as
    `inside`, with the folder and the root resolved once. A plain file name in a folder inside the
    root needs only one lstat (is it a symlink?), not a walk of every component of its path
    (44,000 pictures: 0.24 s, against 1.6 s resolving each)."""
    base, start = resolved(root), resolved(folder)
    if base is None or start is None:
        return [True] * len(names)
    start_inside = start.is_relative_to(base)

    def held(name: str) -> bool:
        if (start_inside and name not in ("", ".", "..") and os.sep not in name and "\0" not in name
                and not os.path.islink(start / name)):
            return True
        return inside(start / name, base)

    return [not held(name) for name in names]
