"""Catalogue images by URL: fetched concurrently (at most `workers` in flight), each within a
deadline, retried with back-off on what may pass (timeouts, dropped connections, 429, 5xx),
refused when larger than the upload limit (checked while streaming, not trusted from the
header), and only over http or https: a redirect is followed only to http(s), at most
MAX_REDIRECTS times. A failed image is an answer with its reason, never an exception, so one
bad URL cannot stop a catalogue's build.

Only public addresses are reached (`common.netguard`): every connection, each redirect's
included, resolves once and connects to the address it checked; a host or range the operator
allowed (`allow`: --allow-fetch-host, VITRINE_FETCH_ALLOW) may be private. No proxy variables
or .netrc are read. A refused address is a failed picture, with its one-line reason.

A request can be conditional (the ETag / Last-Modified a previous build stored): a 304 says the
picture did not change, so its vector is reused without reading the picture again.
"""
from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

import settings
from common.errors import InputError
from common.netguard import Allow, AddressRefused, Resolver, guarded_client
from common.redact import redact_url
from common.pool import ordered_map

MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 10.0
USER_AGENT = "Vitrine-catalogue-fetch/1"


@dataclass(frozen=True)
class Fetched:
    url: str
    data: bytes | None  # None when failed or not modified
    reason: str = ""  # why it failed; "" when it did not
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False  # a conditional request answered 304

    @property
    def ok(self) -> bool:
        return not self.reason


def is_url(text: str) -> bool:
    return isinstance(text, str) and text.split(":", 1)[0].lower() in SCHEMES and "://" in text


def check_url(url: str) -> httpx.URL:
    """The URL, or InputError when it is not an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InputError(f"{url!r} is not a URL: {exc}.") from exc
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise InputError(f"{url!r} is not an http or https URL; give images as http(s) URLs or files.")
    return parsed


class Fetcher:
    """One connection pool for a catalogue's images; `fetch` is safe to call from many threads."""

    def __init__(self, *, workers: int = settings.FETCH_WORKERS, timeout: float = settings.FETCH_TIMEOUT_S,
                 retries: int = settings.FETCH_RETRIES, backoff: float = 0.5,
                 max_bytes: int = settings.MAX_IMAGE_BYTES, sleep: Callable[[float], None] = time.sleep,
                 allow: Allow | Iterable[str] | str | None = None, resolver: Resolver | None = None):
        """`allow`: hosts or ranges reachable although not public (default settings.FETCH_ALLOW);
        `resolver`: host name -> addresses (default the system's; tests inject one)."""
        if workers < 1 or retries < 0 or timeout <= 0:
            raise InputError("Fetching needs at least 1 worker, a positive timeout and 0 or more retries.")
        self.workers, self.timeout, self.retries, self.backoff = workers, timeout, retries, backoff
        self.max_bytes, self._sleep = max_bytes, sleep
        self.allow = allow if isinstance(allow, Allow) else Allow.parse(
            settings.FETCH_ALLOW if allow is None else allow)
        self._client = guarded_client(
            self.allow, resolver, timeout=httpx.Timeout(timeout), follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        """The picture at `url` (conditional on `etag` / `last_modified` when given)."""
        try:
            check_url(url)
        except InputError as exc:
            return Fetched(url, None, str(exc))
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for attempt in range(self.retries + 1):
            found, wait = self._once(url, headers)
            if wait is None or attempt == self.retries:
                return found
            self._sleep(min(wait if wait > 0 else self.backoff * 2 ** attempt, MAX_BACKOFF_S))
        raise AssertionError("unreachable")

    def _once(self, url: str, headers: dict) -> tuple[Fetched, float | None]:
        """One try, following redirects: (the answer, None) when final, or (the answer, seconds
        to wait or 0 for the back-off) when another try may succeed."""
        deadline = time.monotonic() + self.timeout
        current = url
        try:
            for _ in range(MAX_REDIRECTS + 1):
                with self._client.stream("GET", current, headers=headers) as response:
                    if response.has_redirect_location:
                        location = response.headers.get("location", "")
                        nxt = response.url.join(location)
                        if nxt.scheme not in SCHEMES:
                            return Fetched(url, None, f"redirected to a {nxt.scheme or 'relative'} URL, "
                                                      "only http(s) is followed"), None
                        current = str(nxt)
                        continue
                    return self._read(url, response, deadline)
            return Fetched(url, None, f"more than {MAX_REDIRECTS} redirects"), None
        except AddressRefused as exc:  # not public and not allowed: no retry, nothing was sent
            hop = "" if current == url else f" (redirected to {redact_url(current)})"
            return Fetched(url, None, f"{exc}{hop}"), None
        except (httpx.TimeoutException, TimeoutError):
            return Fetched(url, None, f"no answer within {self.timeout:g} s"), 0.0
        except httpx.TransportError as exc:
            return Fetched(url, None, f"could not connect: {exc.__class__.__name__}"), 0.0

    def _read(self, url: str, response: httpx.Response, deadline: float) -> tuple[Fetched, float | None]:
        tags = {"etag": response.headers.get("etag", ""), "last_modified": response.headers.get("last-modified", "")}
        if response.status_code == 304:
            return Fetched(url, None, "", not_modified=True, **tags), None
        if response.status_code != 200:
            reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            if response.status_code in RETRY_STATUS:
                return Fetched(url, None, reason), _retry_after(response.headers.get("retry-after"))
            return Fetched(url, None, reason), None
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            return Fetched(url, None, _too_big(self.max_bytes)), None
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:  # the header may be missing or wrong: count what comes
                return Fetched(url, None, _too_big(self.max_bytes)), None
            if time.monotonic() > deadline:  # a server dripping bytes must not hold a worker forever
                raise httpx.ReadTimeout("deadline")
            chunks.append(chunk)
        if not size:
            return Fetched(url, None, "the server sent an empty body"), None
        return Fetched(url, b"".join(chunks), "", **tags), None

    def fetch_all(self, requests: Iterable[tuple[str, str, str]]) -> Iterator[Fetched]:
        """(url, etag, last_modified) in, Fetched out in the same order, `workers` at a time and
        at most 2 x workers pictures held in memory."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as pool:
            yield from ordered_map(pool, lambda r: self.fetch(*r), requests, 2 * self.workers)


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (a number or an HTTP date), 0 for "use the back-off"."""
    if not value:
        return 0.0
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def _too_big(limit: int) -> str:
    return f"larger than {limit / 1024 ** 2:.0f} MB"
