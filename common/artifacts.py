"""Artifact folders: written whole or not at all, read only when whole, of the right kind and format.

Every artifact (each recommender's output, the visual index) is a folder with a `manifest.json`
that says its `kind`, its `format_version`, what built it, and the size and SHA-256 of every file
(`contents`). A folder is built beside its final place under a name unique to its writer and
swapped in at the end, so a crash never leaves half an artifact that loads. A reader opens it
with `open_artifact`, which refuses a missing, foreign, older or damaged folder with an
`ArtifactError` naming the command that rebuilds it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from common.errors import ArtifactError

MANIFEST = "manifest.json"
# Digests are checked on load only for files up to this size: hashing a large memory-mapped
# index on every load would defeat the memory map (sizes are always checked).
VERIFY_DIGEST_MAX_BYTES = 4 * 1024 * 1024


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


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (constant memory whatever its size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """Yield a fresh temporary folder beside `final`, named for this writer; on success swap it in.

    On an exception the temporary folder is removed and `final` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = Path(tempfile.mkdtemp(prefix=f"{final.name}.old-{os.getpid()}-", dir=final.parent))
    if final.exists():
        os.replace(final, old / final.name)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class Draft:
    """An artifact being written: put files in `path`; `manifest` is written when the block ends."""

    path: Path
    manifest: dict = field(default_factory=dict)


def _contents(folder: Path) -> dict[str, dict]:
    return {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


@contextmanager
def write_artifact(final: Path, kind: str, format_version: int, manifest: dict | None = None) -> Iterator[Draft]:
    """Write an artifact folder atomically: yields a Draft; at the end its manifest gets the kind,
    the format version and each file's size and digest, and the folder is swapped in."""
    with atomic_dir(Path(final)) as tmp:
        draft = Draft(tmp, {"kind": kind, "format_version": format_version, **(manifest or {})})
        yield draft
        draft.manifest.update(kind=kind, format_version=format_version)
        draft.manifest.setdefault("created", utc_now())
        draft.manifest["contents"] = _contents(tmp)
        write_json_atomic(tmp / MANIFEST, draft.manifest)


def write_tables(final: Path, kind: str, format_version: int, manifest: dict, tables: dict) -> Path:
    """An artifact made only of tables: {file name: DataFrame}, each written as CSV without its index."""
    with write_artifact(final, kind, format_version, manifest) as draft:
        for name, table in tables.items():
            table.to_csv(draft.path / name, index=False)
    return Path(final)


def read_manifest(folder: Path) -> dict:
    """`folder/manifest.json` as a dict, or ArtifactError (no rebuild hint: callers add theirs)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"No artifact at {folder} (missing {MANIFEST}).")
    try:
        manifest = read_json(path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Unreadable {path}: {exc}.") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"Unreadable {path}: not a JSON object.")
    return manifest


def open_artifact(folder: Path, kind: str, format_version: int, rebuild: str) -> dict:
    """The manifest of a whole artifact of this kind and format at `folder`, else ArtifactError.

    `rebuild` is the command that builds it again; every message ends with it.
    """
    folder = Path(folder)
    hint = f"build it with `{rebuild}`"
    try:
        manifest = read_manifest(folder)
    except ArtifactError as exc:
        raise ArtifactError(f"{str(exc).rstrip('.')}; {hint}.") from exc
    if manifest.get("kind") != kind:
        raise ArtifactError(f"{folder} holds a {manifest.get('kind')!r} artifact, not {kind!r}; {hint}.")
    if manifest.get("format_version") != format_version:
        raise ArtifactError(f"{folder} was written in format {manifest.get('format_version')!r}; this version "
                            f"of Vitrine reads format {format_version}: re{hint}.")
    for name, facts in (manifest.get("contents") or {}).items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{folder} is damaged: {name} is missing; re{hint}.")
        size = path.stat().st_size
        if size != facts.get("bytes"):
            raise ArtifactError(f"{folder} is damaged: {name} has {size:,} bytes, the manifest says "
                                f"{facts.get('bytes'):,}; re{hint}.")
        if size <= VERIFY_DIGEST_MAX_BYTES and file_sha256(path) != facts.get("sha256"):
            raise ArtifactError(f"{folder} is damaged: {name} differs from what was written; re{hint}.")
    return manifest


@contextmanager
def reading(folder: Path, rebuild: str) -> Iterator[None]:
    """Turn a file that cannot be read back (missing, cut short, garbled) into an ArtifactError."""
    try:
        yield
    except (OSError, ValueError, KeyError, EOFError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(f"{folder} is incomplete or unreadable ({detail}); rebuild it with `{rebuild}`.") from exc


@contextmanager
def loading(folder: Path, kind: str, format_version: int, rebuild: str) -> Iterator[tuple[Path, dict]]:
    """Open an artifact for reading: yields (folder, manifest) of a whole artifact of this kind and
    format, and turns any file that cannot be read back inside the block into an ArtifactError.
    `rebuild` may hold `{folder}`."""
    folder = Path(folder)
    rebuild = rebuild.format(folder=folder)
    manifest = open_artifact(folder, kind, format_version, rebuild)
    with reading(folder, rebuild):
        yield folder, manifest
