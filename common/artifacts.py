"""Artifact folders: written whole or not at all, read only when whole, of the right kind and format.

Every artifact (each recommender's output, the visual index) is a folder with a `manifest.json`
that says its `kind`, its `format_version`, what built it, and the size and SHA-256 of every file
(`contents`). A folder is built beside its final place under a name unique to its writer and
swapped in at the end, so a crash never leaves half an artifact that loads. A reader opens it
with `open_artifact`, which refuses a missing, foreign, older or damaged folder with an
`ArtifactError` naming the command that rebuilds it.
"""
from __future__ import annotations

import csv
import datetime as _dt
import glob
import hashlib
import json
import os
import platform
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from common.errors import ArtifactError
from common.redact import redact_tree

try:
    import fcntl
except ImportError:  # not on Windows: threads are still serialised
    fcntl = None

MANIFEST = "manifest.json"
# Digests are checked on load only for files up to this size: hashing a large memory-mapped
# index on every load would defeat the memory map (sizes are always checked).
VERIFY_DIGEST_MAX_BYTES = 4 * 1024 * 1024
# An old version is removed only this long after a newer one replaced it: readers that resolved
# it just before the swap finish reading it first.
VERSION_GRACE_SECONDS = 60.0


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

    The folder becomes `<final>.v<N>` and `final` a symbolic link to it, replaced in one atomic
    rename: a reader never finds `final` missing or half-written, and one that resolved the link
    keeps reading its version (the previous one is kept; older ones are removed). On an exception
    the temporary folder is removed and `final` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, final)


def _versions(final: Path) -> dict[int, Path]:
    found = {}
    for path in final.parent.glob(f"{glob.escape(final.name)}.v*"):
        number = path.name[len(final.name) + 2:]
        if number.isdigit():
            found[int(number)] = path
    return found


def _set_aside(final: Path) -> None:
    """A real folder at `final` (written before versions existed) becomes version 0."""
    if final.exists() and not final.is_symlink():
        zero = final.with_name(f"{final.name}.v0")
        shutil.rmtree(zero, ignore_errors=True)
        os.replace(final, zero)


def _swap_in(tmp: Path, final: Path) -> None:
    """Move `tmp` to the next free version and point `final` at it."""
    _set_aside(final)
    while True:  # two writers may pick the same number: the second rename fails, and it takes the next
        target = final.with_name(f"{final.name}.v{max(_versions(final), default=0) + 1}")
        try:
            os.rename(tmp, target)
            break
        except OSError:
            if not target.exists():
                raise
    link = final.with_name(f"{final.name}.link-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.symlink(target.name, link, target_is_directory=True)
    except (OSError, NotImplementedError):  # no symbolic links here: a plain rename (a short gap)
        _set_aside(final)
        os.rename(target, final)
        return
    os.replace(link, final)
    _remove_old_versions(final)


def _remove_old_versions(final: Path) -> None:
    """Keep the current version and the one before it; remove older ones once they have been
    replaced for VERSION_GRACE_SECONDS, so a reader that resolved one just before never loses it."""
    try:
        current = int(Path(os.readlink(final)).name.rsplit(".v", 1)[1])
    except (OSError, ValueError, IndexError):
        return
    versions = _versions(final)
    older = sorted(n for n in versions if n < current)
    now = time.time()
    for number, successor in zip(older[:-1], older[1:]):
        try:
            replaced_for = now - versions[successor].stat().st_mtime
        except OSError:
            continue
        if replaced_for > VERSION_GRACE_SECONDS:
            shutil.rmtree(versions[number], ignore_errors=True)


@dataclass
class Draft:
    """An artifact being written: put files in `path`; `manifest` is written when the block ends."""

    path: Path
    manifest: dict = field(default_factory=dict)


def _rows(path: Path) -> int | None:
    """Data rows of a CSV (its header not counted) or the first dimension of an .npy; else None."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return max(sum(1 for row in csv.reader(f) if row) - 1, 0)
    if path.suffix == ".npy":
        import numpy as np  # only artifacts with arrays pay for it

        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    return None


def _facts(path: Path) -> dict:
    facts = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    rows = _rows(path)
    if rows is not None:
        facts["rows"] = rows
    return facts


def _contents(folder: Path) -> dict[str, dict]:
    return {p.name: _facts(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


@contextmanager
def write_artifact(final: Path, kind: str, format_version: int, manifest: dict | None = None,
                   rebuild: str | None = None) -> Iterator[Draft]:
    """Write an artifact folder atomically: yields a Draft; at the end its manifest gets the kind,
    the format version, the command that rebuilds it (`rebuild`, which may hold `{folder}`) and
    each file's size, digest and rows, and the folder is swapped in. Every string of the manifest
    is redacted first (common/redact.py), whoever put it there."""
    with atomic_dir(Path(final)) as tmp:
        draft = Draft(tmp, {"kind": kind, "format_version": format_version, **(manifest or {})})
        yield draft
        draft.manifest.update(kind=kind, format_version=format_version)
        if rebuild:
            draft.manifest["rebuild"] = rebuild.replace("{folder}", str(final))
        draft.manifest.setdefault("created", utc_now())
        draft.manifest["contents"] = _contents(tmp)
        redacted = redact_tree(draft.manifest)  # defence in depth: no secret is ever written
        draft.manifest.clear()
        draft.manifest.update(redacted)
        write_json_atomic(tmp / MANIFEST, draft.manifest)


def write_tables(final: Path, kind: str, format_version: int, manifest: dict, tables: dict,
                 rebuild: str | None = None) -> Path:
    """An artifact made only of tables: {file name: DataFrame}, each written as CSV without its index."""
    with write_artifact(final, kind, format_version, manifest, rebuild) as draft:
        for name, table in tables.items():
            table.to_csv(draft.path / name, index=False)
    return Path(final)


def stamp(folder: Path) -> float:
    """The one "has it changed?" check: the time `folder`'s manifest was written, through the
    link that points at its current version (0.0 when none is built). A rebuild swaps the link to
    a new version with a new manifest, so caches keyed by it read the new one."""
    try:
        return (Path(folder) / MANIFEST).resolve().stat().st_mtime
    except OSError:
        return 0.0


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


def open_artifact(folder: Path, kind: str, format_version: int, rebuild: str, *, shown: Path | None = None) -> dict:
    """The manifest of a whole artifact of this kind and format at `folder`, else ArtifactError.

    `rebuild` is the command that builds it again; every message ends with it and names `shown`
    (the path the user gave, when `folder` is the version it resolved to).
    """
    folder = Path(folder)
    shown = folder if shown is None else shown
    hint = f"build it with `{rebuild}`"
    try:
        manifest = read_manifest(folder)
    except ArtifactError as exc:
        raise ArtifactError(f"{str(exc).rstrip('.')}; {hint}.".replace(str(folder), str(shown))) from exc
    if isinstance(manifest.get("rebuild"), str) and manifest.get("kind") == kind:
        hint = f"build it with `{manifest['rebuild']}`"  # the very command that built it
    if manifest.get("kind") != kind:
        raise ArtifactError(f"{shown} holds a {manifest.get('kind')!r} artifact, not {kind!r}; {hint}.")
    if manifest.get("format_version") != format_version:
        raise ArtifactError(f"{shown} was written in format {manifest.get('format_version')!r}; this version "
                            f"of Vitrine reads format {format_version}: re{hint}.")
    for name, facts in (manifest.get("contents") or {}).items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{shown} is damaged: {name} is missing; re{hint}.")
        size = path.stat().st_size
        if size != facts.get("bytes"):
            raise ArtifactError(f"{shown} is damaged: {name} has {size:,} bytes, the manifest says "
                                f"{facts.get('bytes'):,}; re{hint}.")
        if size <= VERIFY_DIGEST_MAX_BYTES and file_sha256(path) != facts.get("sha256"):
            raise ArtifactError(f"{shown} is damaged: {name} differs from what was written; re{hint}.")
    return manifest


@contextmanager
def reading(folder: Path, rebuild: str) -> Iterator[None]:
    """Turn a file that cannot be read back (missing, cut short, garbled) into an ArtifactError."""
    try:
        yield
    except (OSError, ValueError, KeyError, EOFError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(f"{folder} is incomplete or unreadable ({detail}); rebuild it with `{rebuild}`.") from exc


@dataclass
class Opened:
    """An artifact open for reading: the version folder `path`, its `manifest`, and `table` to read
    one of its CSV files, checked against the rows the manifest recorded."""

    path: Path
    manifest: dict
    shown: Path
    rebuild: str

    def table(self, name: str, **options):
        import pandas as pd  # only readers of tables pay for it

        table = pd.read_csv(self.path / name, **options)
        rows = (self.manifest.get("contents") or {}).get(name, {}).get("rows")
        if rows is not None and len(table) != rows:
            raise ArtifactError(f"{self.shown} is damaged: {name} has {len(table):,} rows, the manifest says "
                                f"{rows:,}; rebuild it with `{self.rebuild}`.")
        return table


@contextmanager
def loading(folder: Path, kind: str, format_version: int, rebuild: str) -> Iterator[Opened]:
    """Open an artifact for reading: yields an Opened artifact of this kind and format, whole, and
    turns any file that cannot be read back inside the block into an ArtifactError. The link is
    resolved once, so every file read comes from the same version even if a writer swaps a new
    one in meanwhile. `rebuild` may hold `{folder}`."""
    folder = Path(folder)
    rebuild = rebuild.replace("{folder}", str(folder))
    real = Path(os.path.realpath(folder))
    with reading(folder, rebuild):
        manifest = open_artifact(real, kind, format_version, rebuild, shown=folder)
        if isinstance(manifest.get("rebuild"), str):
            rebuild = manifest["rebuild"]
        with reading(folder, rebuild):
            yield Opened(real, manifest, folder, rebuild)


def verify(folder: Path) -> dict:
    """Check every file of an artifact against its manifest: size, SHA-256 (whatever the size) and
    rows. Returns the manifest; ArtifactError naming the file and the rebuild command otherwise."""
    folder = Path(folder)
    real = Path(os.path.realpath(folder))
    manifest = read_manifest(real) if (real / MANIFEST).is_file() else None
    if manifest is None:
        raise ArtifactError(f"No artifact at {folder} (missing {MANIFEST}); build it first.")
    rebuild = manifest.get("rebuild") or "the command that built it (see its manifest.json)"
    contents = manifest.get("contents")
    if not contents:
        raise ArtifactError(f"{folder} has no file list in its manifest (written before verification existed); "
                            f"rebuild it with `{rebuild}`.")
    for name, expected in contents.items():
        path = real / name
        if not path.is_file():
            raise ArtifactError(f"{folder} is damaged: {name} is missing; rebuild it with `{rebuild}`.")
        try:
            found = _facts(path)
        except (OSError, ValueError, EOFError, csv.Error, UnicodeDecodeError) as exc:
            raise ArtifactError(f"{folder} is damaged: {name} cannot be read ({exc}); rebuild it with `{rebuild}`.") from exc
        for fact in ("bytes", "sha256", "rows"):
            if fact in expected and found.get(fact) != expected[fact]:
                raise ArtifactError(f"{folder} is damaged: {name} {fact} {found.get(fact)!r}, the manifest says "
                                    f"{expected[fact]!r}; rebuild it with `{rebuild}`.")
    return manifest


_BUILD_LOCKS: dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


@contextmanager
def build_lock(final: Path) -> Iterator[None]:
    """One build of `final` at a time: across the threads of this process (the app's visitors) and
    across processes (an advisory lock on `<final>.lock`, where the OS has them). A second builder
    waits, then should load what the first one wrote instead of building again."""
    final = Path(final)
    key = os.path.abspath(final)
    with _BUILD_LOCKS_GUARD:
        lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    with lock:
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(final.with_name(f"{final.name}.lock"), "a+") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)
