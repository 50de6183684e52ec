"""Writing and reading artifact folders: atomic files, atomic folder swaps, manifests.

Every artifact folder holds a `manifest.json`. Files are written under a temporary name and
renamed, and a whole folder is built beside its final place and swapped in, so a crash never
leaves a half-written artifact that loads.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

MANIFEST = "manifest.json"


class ArtifactError(RuntimeError):
    """An artifact folder is missing, incomplete or does not match what the reader expects."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (and Python), for manifests."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json_atomic(path: Path, obj: Any) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `final`; on success swap it in as `final`.

    On an exception the temporary folder is removed and `final` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: Path, kind: str | None = None) -> dict:
    """Read `folder/manifest.json`, checking it exists and (optionally) its `kind`."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"No artifact at {folder} (missing {MANIFEST}); build it first."
        )
    try:
        manifest = read_json(path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Unreadable manifest {path}: {exc}") from exc
    if kind is not None and manifest.get("kind") != kind:
        raise ArtifactError(
            f"{folder} holds a {manifest.get('kind')!r} artifact, not {kind!r}."
        )
    return manifest
