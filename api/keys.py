"""API keys: made once and shown once, stored only as SHA-256 hashes in a TOML file, compared in
constant time, each with a scope, a rate and optionally the data sets it may read.

A key is 32 random bytes (secrets.token_urlsafe), so a plain SHA-256 hash is as good as a slow
password hash here: there is nothing to guess. The rate limit is a token bucket per key (`rate`
requests per second, bursts up to max(rate, 1)), with an injectable clock so tests never sleep.

The keys file is strict: anything in it that is not a well-formed key (a misspelt table, a scope
that does not exist, a rate that is not a finite number, a hash that is not 64 hex digits) stops
the server from starting, naming the entry, rather than being skipped: a skipped entry could leave
the API open or a key with more than it was given. `KeyFile` re-reads the file when it changes,
so `add-key` and `remove-key` take effect without a restart.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from api.buckets import Buckets
from common.errors import InputError

SCOPES = ("read", "admin")  # admin may also read
PREFIX = "vtr_"
DEFAULT_RATE = 50.0
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ASCII only: a TOML bare key the file can hold as written
DATASET = re.compile(r"[A-Za-z0-9_-]{1,64}")
HEX64 = re.compile(r"[0-9a-f]{64}")
FIELDS = {"scope", "rate", "sha256", "datasets"}
RECHECK_SECONDS = 1.0  # how often the keys file's stat is looked at (a stat, not a read)
log = logging.getLogger("vitrine.api")


@dataclass(frozen=True)
class Key:
    name: str
    scope: str
    rate: float  # requests per second; 0 for no limit
    sha256: str
    datasets: tuple[str, ...] | None = None  # None: every data set

    def allows(self, scope: str) -> bool:
        return self.scope == "admin" or scope == self.scope

    def reads(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_rate(rate, what: str = "--rate") -> float:
    """A rate as stored: a finite number >= 0 (0 for no limit), else InputError."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
        raise InputError(f"{what} must be 0 (no limit) or a positive number of requests per second, not {rate!r}.")
    return float(rate)


def check_name(name) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InputError(f"Key name {name!r} is not allowed: 1 to 64 ASCII letters, digits, - and _.")
    return name


def check_datasets(datasets) -> tuple[str, ...] | None:
    """A key's data sets: None (every one) or a non-empty tuple of data set names."""
    if datasets is None:
        return None
    if isinstance(datasets, str):
        datasets = [d.strip() for d in datasets.split(",") if d.strip()]
    if not isinstance(datasets, (list, tuple)) or not datasets:
        raise InputError("--datasets must name at least one data set, e.g. --datasets shop_a,shop_b.")
    bad = [d for d in datasets if not isinstance(d, str) or not DATASET.fullmatch(d)]
    if bad:
        raise InputError(f"Data set name(s) {', '.join(map(repr, bad))} not allowed: ASCII letters, digits, - and _.")
    return tuple(dict.fromkeys(datasets))


def _entry(path: Path, name: str, entry) -> Key:
    where = f"[keys.{name}] in {path}"
    try:
        check_name(name)
    except InputError:
        raise InputError(f"{where}: the key name is not 1 to 64 ASCII letters, digits, - and _; "
                         "remove it with python -m api remove-key or make it again with add-key.") from None
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not a table; make the key again with python -m api add-key.")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise InputError(f"{where} has unknown field(s) {', '.join(unknown)}; keys have {', '.join(sorted(FIELDS))}.")
    scope, sha = entry.get("scope"), entry.get("sha256")
    if scope not in SCOPES:
        raise InputError(f"{where}: scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
    if not isinstance(sha, str) or not HEX64.fullmatch(sha):
        raise InputError(f"{where}: sha256 must be the key's SHA-256 as 64 lower-case hex digits; "
                         "make the key again with python -m api add-key.")
    try:
        rate = check_rate(entry.get("rate", DEFAULT_RATE), "rate")
        datasets = check_datasets(entry["datasets"]) if "datasets" in entry else None
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return Key(name, scope, rate, sha, datasets)


def read_keys(path: Path) -> list[Key]:
    """The keys in a keys file ([keys.NAME] tables); [] when the file does not exist; InputError,
    naming the entry, for anything else that is not a well-formed key."""
    path = Path(path)
    if not path.exists():
        return []
    if not path.is_file():
        raise InputError(f"The keys file {path} is not a file; give --keys-file the path of a file "
                         "(python -m api add-key makes it).")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read the keys file {path}: {exc}.") from exc
    unknown = sorted(set(data) - {"keys"})
    if unknown:
        raise InputError(f"The keys file {path} has unknown table(s) {', '.join(map(repr, unknown))}: "
                         "keys are [keys.NAME] tables (python -m api add-key writes them).")
    tables = data.get("keys", {})
    if not isinstance(tables, dict):
        raise InputError(f"The keys file {path}: 'keys' must be a table of [keys.NAME] tables.")
    return [_entry(path, name, entry) for name, entry in tables.items()]


def _write(path: Path, keys: list[Key]) -> None:
    """The keys file, written whole under a temporary name with mode 0600, then swapped in."""
    lines = ["# Vitrine API keys: hashes only (python -m api add-key). Never commit this file.", ""]
    for key in keys:
        lines += [f"[keys.{key.name}]", f'scope = "{key.scope}"', f"rate = {key.rate!r}"]
        if key.datasets is not None:
            lines.append("datasets = [" + ", ".join(f'"{d}"' for d in key.datasets) + "]")
        lines += [f'sha256 = "{key.sha256}"', ""]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def add_key(path: Path, name: str, scope: str, rate: float = DEFAULT_RATE,
            datasets: list[str] | str | None = None) -> str:
    """Make a key, store its hash under `name` (replacing a key of that name), return the key itself."""
    if scope not in SCOPES:
        raise InputError(f"--scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
    check_name(name)
    rate, datasets = check_rate(rate), check_datasets(datasets)
    token = PREFIX + secrets.token_urlsafe(32)
    keys = {k.name: k for k in read_keys(path)}
    keys[name] = Key(name, scope, rate, _digest(token), datasets)
    _write(path, list(keys.values()))
    return token


def remove_key(path: Path, name: str) -> None:
    keys = read_keys(path)
    if name not in {k.name for k in keys}:
        known = ", ".join(k.name for k in keys) or "none"
        raise InputError(f"No key named {name!r} in {path} (keys: {known}).")
    _write(path, [k for k in keys if k.name != name])


class Keys:
    """Who may call: `check(token)` -> Key or None, in constant time over every stored hash."""

    def __init__(self, keys: list[Key], clock: Callable[[], float] = time.monotonic, buckets: Buckets | None = None):
        self.keys, self.clock = list(keys), clock
        self.buckets = buckets or Buckets()  # SharedBuckets: one rate across worker processes

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def current(self) -> list[Key]:
        return self.keys

    def check(self, token: str | None) -> Key | None:
        if not token:
            return None
        digest = _digest(token)
        found = None
        for key in self.current():  # every hash compared, match or not: the time says nothing
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found

    def take(self, key: Key) -> float:
        """One request of `key`: 0 if allowed, else the seconds until it would be. The bucket
        holds at least one request, so a rate below 1 per second still admits one now and then."""
        if key.rate <= 0:
            return 0.0
        capacity = max(key.rate, 1.0)

        def step(tokens: float | None, last: float | None) -> tuple[float, float, float]:
            now = self.clock()  # under the lock: the last writer's time is never after ours
            tokens = capacity if tokens is None else min(capacity, tokens + max(now - last, 0.0) * key.rate)
            return (tokens - 1, now, 0.0) if tokens >= 1 else (tokens, now, (1 - tokens) / key.rate)

        return self.buckets.change(key.name, step)


class KeyFile(Keys):
    """The keys of a keys file, read again when the file changes (its stat, looked at no more than
    every RECHECK_SECONDS). A file that becomes unreadable or malformed keeps the keys last read
    and logs why: a typo must not open the API nor lock every shop page out; `remove-key` writes
    the file whole, so a removed key is gone within a second."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic, buckets: Buckets | None = None):
        self.path = Path(path)
        self._stat = self._stamp()
        super().__init__(read_keys(self.path), clock, buckets)
        self._checked = time.monotonic()  # the real clock: a test's rate clock may stand still
        self._reload_lock = threading.Lock()
        self.error: str | None = None

    def _stamp(self):
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> list[Key]:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            with self._reload_lock:
                self._checked = now
                stamp = self._stamp()
                if stamp != self._stat:
                    try:
                        self.keys = read_keys(self.path)
                        self._stat, self.error = stamp, None
                        log.warning("Keys file %s read again: %d key(s).", self.path, len(self.keys))
                    except InputError as exc:
                        self._stat, self.error = stamp, str(exc)
                        log.error("Keys file %s changed but cannot be used (the keys read before stay): %s",
                                  self.path, exc)
        return self.keys
