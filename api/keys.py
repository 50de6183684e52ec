"""API keys: made once and shown once, stored only as SHA-256 hashes in a TOML file, compared in
constant time, each with a scope and a rate.

A key is 32 random bytes (secrets.token_urlsafe), so a plain SHA-256 hash is as good as a slow
password hash here: there is nothing to guess. The rate limit is a token bucket per key (`rate`
requests per second, bursts up to `rate`), with an injectable clock so tests never sleep.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from common.errors import InputError

SCOPES = ("read", "admin")  # admin may also read
PREFIX = "vtr_"
DEFAULT_RATE = 50.0


@dataclass(frozen=True)
class Key:
    name: str
    scope: str
    rate: float  # requests per second; 0 for no limit
    sha256: str

    def allows(self, scope: str) -> bool:
        return self.scope == "admin" or scope == self.scope


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_keys(path: Path) -> list[Key]:
    """The keys in a keys file ([keys.NAME] tables); [] when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read the keys file {path}: {exc}.") from exc
    keys = []
    for name, entry in data.get("keys", {}).items():
        try:
            keys.append(Key(name, entry["scope"], float(entry.get("rate", DEFAULT_RATE)), entry["sha256"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"Key {name!r} in {path} lacks scope or sha256 ({exc}); make it again with "
                             "python -m api add-key.") from exc
    return keys


def add_key(path: Path, name: str, scope: str, rate: float = DEFAULT_RATE) -> str:
    """Make a key, store its hash under `name` (replacing a key of that name), return the key itself."""
    if scope not in SCOPES:
        raise InputError(f"--scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
    if rate < 0:
        raise InputError(f"--rate must be 0 (no limit) or more requests per second, not {rate}.")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise InputError(f"Key name {name!r} is not allowed: letters, digits, - and _.")
    token = PREFIX + secrets.token_urlsafe(32)
    keys = {k.name: k for k in read_keys(path)}
    keys[name] = Key(name, scope, float(rate), _digest(token))
    lines = ["# Vitrine API keys: hashes only (python -m api add-key). Never commit this file.", ""]
    for key in keys.values():
        lines += [f"[keys.{key.name}]", f'scope = "{key.scope}"', f"rate = {key.rate:g}", f'sha256 = "{key.sha256}"', ""]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return token


class Keys:
    """Who may call: `check(token)` -> Key or None, in constant time over every stored hash."""

    def __init__(self, keys: list[Key], clock: Callable[[], float] = time.monotonic):
        self.keys, self.clock = list(keys), clock
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def check(self, token: str | None) -> Key | None:
        if not token:
            return None
        digest = _digest(token)
        found = None
        for key in self.keys:  # every hash compared, match or not: the time says nothing
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found

    def take(self, key: Key) -> float:
        """One request of `key`: 0 if allowed, else the seconds until it would be."""
        if key.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key.name, (key.rate, now))
            tokens = min(key.rate, tokens + (now - last) * key.rate)
            if tokens >= 1:
                self._buckets[key.name] = [tokens - 1, now]
                return 0.0
            self._buckets[key.name] = [tokens, now]
            return (1 - tokens) / key.rate
