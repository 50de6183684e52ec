"""Who may do what in the app: the one home of that decision.

Sign-in is Streamlit's own (`st.login`, `st.user`, `st.logout`: OpenID Connect through Authlib),
configured under `[auth]` of `.streamlit/secrets.toml`; who may do what is written once, under
`[vitrine.access]` of the same file:

    [vitrine.access]
    public_pages = ["visual-search"]        # page URL paths a visitor who is not signed in may open
    analysts = ["@shop.com", "ana@agency.example"]   # every page, and the shop's workspaces
    admins = ["boss@shop.com"]              # also Your data: databases, building workspaces, free-text SQL
    sql_free_text = true                    # false: nobody types SQL; the table picker lists readable tables
    sql_schemas = ["shop"]                  # where that picker looks (default: the role's search path)
    issuers = ["https://accounts.google.com"]  # optional; default: each [auth] provider's own issuer

An address entry matches that address; `"@shop.com"` matches every address of exactly that
domain (not `evilshop.com`, not `shop.com.evil.org`, not `a.shop.com`); both case-insensitive.
Only identities whose `email_verified` is true, issued by the configured issuer, count.

Without `[auth]` the app is open as before, but only to this computer: a request from loopback,
naming a loopback host, with no proxy header, while the server is bound to loopback or to every
interface. Reachable by others, it hides the shop's workspaces and Your data until sign-in is
configured, unless VITRINE_INSECURE_OPEN_PAGES=i-understand.

Admin actions go to the audit log (`audit`): a JSON-lines file (VITRINE_AUDIT_LOG, default
<artifacts>/audit.log) and the `vitrine.audit` logger; who, what, when (UTC), the data set; no secret.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Mapping

from common.errors import InputError
from common.netguard import host_name, is_loopback
from common.redact import redact
from ui.pages import ADMIN_PAGES, PAGES

VISITOR, ANALYST, ADMIN = "visitor", "analyst", "admin"
INSECURE_ENV = "VITRINE_INSECURE_OPEN_PAGES"
INSECURE_VALUE = "i-understand"
AUDIT_ENV = "VITRINE_AUDIT_LOG"
# A request that carries any of these came through a proxy: someone else may be on the other side.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via")
WELL_KNOWN = "/.well-known/openid-configuration"

log = logging.getLogger("vitrine.access")
audit_log = logging.getLogger("vitrine.audit")
_audit_lock = threading.Lock()


@dataclass(frozen=True)
class Policy:
    """`[vitrine.access]` read and checked, plus the issuer of each `[auth]` provider."""
    public_pages: frozenset[str] = frozenset()
    analysts: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    sql_free_text: bool = True
    sql_schemas: tuple[str, ...] | None = None
    issuers: frozenset[str] | None = None  # explicit; None: the provider's own (`provider_issuers`)
    provider_issuers: Mapping[str, str] = field(default_factory=dict)  # provider name -> issuer


@dataclass(frozen=True)
class Access:
    """What this request may see and do."""
    role: str  # VISITOR, ANALYST or ADMIN
    pages: frozenset[str]  # URL paths of the pages it may open
    workspaces: bool  # may see the shop's workspaces (in every picker, by link)
    email: str | None = None
    signed_in: bool = False
    sign_in: bool = False  # sign-in is configured and this visitor may use it
    sql_free_text: bool = True
    sql_schemas: tuple[str, ...] | None = None
    notice: str | None = None  # one line about how the app is open, shown under the title
    warn: bool = False  # the notice is a warning
    providers: tuple[str | None, ...] = ()  # one sign-in button each: None is [auth] itself, else [auth.<name>]

    @property
    def admin(self) -> bool:
        """Your data, databases, building workspaces, free-text SQL, and error details."""
        return self.role == ADMIN

    def may_open(self, url_path: str) -> bool:
        return url_path in self.pages


ALL_PAGES = frozenset(p.slug for p in PAGES)
ANALYST_PAGES = ALL_PAGES - ADMIN_PAGES


def _plain(value: Any) -> Any:
    """Secrets sections (AttrDict) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _strings(section: Mapping, key: str) -> tuple[str, ...]:
    value = section.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"[vitrine.access] {key} must be a list of strings in .streamlit/secrets.toml, "
                         f'e.g. {key} = ["..."].')
    return tuple(v.strip() for v in value if v.strip())


def _entry(key: str, text: str) -> str:
    entry = text.strip().lower()
    if entry.startswith("@"):
        domain = entry[1:]
        if not domain or "@" in domain or "." not in domain.strip(".") or domain != domain.strip("."):
            raise InputError(f"[vitrine.access] {key}: {text!r} is not a domain; write it as \"@shop.com\".")
        return entry
    local, at, domain = entry.rpartition("@")
    if not at or not local or not domain or "." not in domain:
        raise InputError(f"[vitrine.access] {key}: {text!r} is neither an address (ana@shop.com) nor a domain "
                         "(\"@shop.com\").")
    return entry


def issuer_of(metadata_url: str) -> str:
    """The issuer an OpenID provider's metadata URL belongs to (the URL less the well-known path)."""
    url = metadata_url.strip()
    return (url[:-len(WELL_KNOWN)] if url.endswith(WELL_KNOWN) else url).rstrip("/")


def provider_issuers(auth: Mapping) -> dict[str, str]:
    """{provider name: issuer} of `[auth]` (the "default" provider) and each `[auth.<name>]`."""
    found = {}
    if isinstance(auth.get("server_metadata_url"), str):
        found["default"] = issuer_of(auth["server_metadata_url"])
    for name, section in auth.items():
        if isinstance(section, Mapping) and isinstance(section.get("server_metadata_url"), str):
            found[str(name)] = issuer_of(section["server_metadata_url"])
    return found


def read_policy(secrets: Mapping) -> Policy:
    """The policy in `secrets` (the whole secrets file as a mapping); InputError naming the entry
    that is wrong. No section: nobody is an analyst or admin, no page is public."""
    secrets = _plain(secrets)
    section = secrets.get("vitrine", {}).get("access", {}) if isinstance(secrets.get("vitrine"), dict) else {}
    if not isinstance(section, dict):
        raise InputError("[vitrine.access] in .streamlit/secrets.toml must be a table.")
    known = {"public_pages", "analysts", "admins", "sql_free_text", "sql_schemas", "issuers"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise InputError(f"[vitrine.access] has no setting {unknown[0]!r}; the settings are: {', '.join(sorted(known))}.")
    public = _strings(section, "public_pages")
    for page in public:
        if page in ADMIN_PAGES:
            raise InputError(f"[vitrine.access] public_pages: {page!r} is for admins only and cannot be public.")
        if page not in ALL_PAGES:
            raise InputError(f"[vitrine.access] public_pages: there is no page {page!r}; the pages are: "
                             f"{', '.join(sorted(ANALYST_PAGES))}.")
    free = section.get("sql_free_text", True)
    if not isinstance(free, bool):
        raise InputError("[vitrine.access] sql_free_text must be true or false.")
    schemas = _strings(section, "sql_schemas") if "sql_schemas" in section else None
    issuers = frozenset(i.rstrip("/") for i in _strings(section, "issuers")) if "issuers" in section else None
    auth = secrets.get("auth") if isinstance(secrets.get("auth"), dict) else {}
    return Policy(public_pages=frozenset(public),
                  analysts=tuple(_entry("analysts", e) for e in _strings(section, "analysts")),
                  admins=tuple(_entry("admins", e) for e in _strings(section, "admins")),
                  sql_free_text=free, sql_schemas=schemas, issuers=issuers, provider_issuers=provider_issuers(auth))


def matches(email: str, entry: str) -> bool:
    """Whether `email` is the address `entry`, or of exactly the domain `"@domain"`; case-insensitive."""
    email, entry = email.strip().lower(), entry.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return False
    return domain == entry[1:] if entry.startswith("@") else email == entry


def _verified(user: Mapping) -> bool:
    value = user.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")  # Cognito sends "true"


def role_of(user: Mapping, policy: Policy) -> tuple[str, str | None]:
    """(role, why it is only a visitor) of a signed-in identity (`st.user` as a mapping)."""
    if not user.get("is_logged_in"):
        return VISITOR, "not signed in"
    email = user.get("email")
    if not isinstance(email, str) or not email.strip():
        return VISITOR, "the identity has no email address"
    if not _verified(user):
        return VISITOR, f"{email} is not a verified address at the identity provider"
    issuer = str(user.get("iss") or "").rstrip("/")
    wanted = (policy.issuers if policy.issuers is not None
              else {policy.provider_issuers[p]} if (p := str(user.get("provider") or "default")) in policy.provider_issuers
              else set())
    if not issuer or issuer not in wanted:
        return VISITOR, f"{email} was not signed in by this shop's identity provider"
    if any(matches(email, e) for e in policy.admins):
        return ADMIN, None
    if any(matches(email, e) for e in policy.analysts):
        return ANALYST, None
    return VISITOR, f"{email} is not on this shop's list of analysts"


def exposure(headers: Mapping[str, str], remote_ip: str | None, server_address: str | None) -> str | None:
    """Why this request may come from someone other than this computer's user, or None when it is
    local: from loopback (`remote_ip` None or loopback), naming a loopback host, with no proxy
    header, the server bound to loopback or to every interface (Streamlit's default, "")."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    for name in PROXY_HEADERS:
        if name in lower:
            return f"the request came through a proxy ({name.title()} header)"
    address = (server_address or "").strip()
    if address and not is_loopback(address):
        return f"the server is bound to {address}"
    if remote_ip and not is_loopback(remote_ip):
        return f"the request came from {remote_ip}"
    host = lower.get("host")
    if host and not is_loopback(host):
        return f"the request was addressed to {host_name(host)}"
    return None


def decide(secrets: Mapping, user: Mapping, headers: Mapping[str, str], remote_ip: str | None,
           server_address: str | None, env: Mapping[str, str]) -> Access:
    """The access of one request, from everything that decides it (pure: the tests call it directly)."""
    policy = read_policy(secrets)
    auth = _plain(secrets.get("auth"))
    if isinstance(auth, dict) and auth:
        providers = ((None,) if "client_id" in auth else ()) + tuple(
            n for n, s in auth.items() if isinstance(s, dict) and "client_id" in s)
        common = dict(sql_free_text=policy.sql_free_text, sql_schemas=policy.sql_schemas, providers=providers)
        email = user.get("email") if user.get("is_logged_in") else None
        role, why = role_of(user, policy)
        if role == ADMIN:
            return Access(ADMIN, ALL_PAGES, True, email=email, signed_in=True, **common)
        if role == ANALYST:
            return Access(ANALYST, ANALYST_PAGES, True, email=email, signed_in=True, **common)
        notice = None if not user.get("is_logged_in") else (
            f"Signed in, but {why}: you see only the public pages. Ask the shop's admin to add you.")
        return Access(VISITOR, policy.public_pages, False, email=email if isinstance(email, str) else None,
                      signed_in=bool(user.get("is_logged_in")), sign_in=not user.get("is_logged_in"),
                      notice=notice, warn=notice is not None, **common)
    why = exposure(headers, remote_ip, server_address)
    if why is None:
        return Access(ADMIN, ALL_PAGES, True, notice="No sign-in is configured: everything is open, to this computer "
                      "only (served on loopback). Configure [auth] before others can reach it (docs/deploying.md).")
    if env.get(INSECURE_ENV) == INSECURE_VALUE:
        return Access(ADMIN, ALL_PAGES, True, warn=True, notice=f"No sign-in is configured and {why}, yet every page "
                      f"and workspace is open to anyone ({INSECURE_ENV}={INSECURE_VALUE}).")
    return Access(VISITOR, ANALYST_PAGES, False, warn=True,
                  notice=f"The shop's workspaces and Your data are hidden: {why} and no sign-in is configured. "
                         "Configure [auth] in .streamlit/secrets.toml (docs/deploying.md).")


def _secrets() -> dict:
    import streamlit as st

    try:
        return _plain(st.secrets) if st.secrets.load_if_toml_exists() else {}
    except Exception:  # noqa: BLE001 - a secrets file that cannot be read: as if there were none, logged
        log.exception("Could not read the secrets file")
        return {}


def _user() -> dict:
    import streamlit as st

    try:
        return _plain(st.user)
    except Exception:  # noqa: BLE001 - no identity (a bare script run): not signed in
        return {}


def current() -> Access:
    """The access of the request being served (from st.secrets, st.user and st.context)."""
    import streamlit as st

    headers = dict(st.context.headers) if st.context.headers is not None else {}
    ip = st.context.ip_address  # None from loopback; AppTest has no connection (a stand-in object)
    return decide(_secrets(), _user(), headers, ip if isinstance(ip, str) else None,
                  st.get_option("server.address"), os.environ)


def audit_path() -> Path:
    import settings

    return Path(os.environ.get(AUDIT_ENV) or Path(settings.ARTIFACTS_DIR) / "audit.log")


def audit(what: str, dataset: str | None = None, who: Access | None = None, **details: Any) -> None:
    """Record an admin action (a workspace built or replaced, free-text SQL run, an export): one JSON
    line in the audit file and on the `vitrine.audit` logger; every text passes through redact()."""
    who = who if who is not None else current()
    record = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "who": who.email or "local user",
              "role": who.role, "what": what, "dataset": dataset,
              **{k: redact(v) if isinstance(v, str) else v for k, v in details.items()}}
    line = json.dumps(record, ensure_ascii=False, default=str)
    audit_log.info(line)
    path = audit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _audit_lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(line + "\n")
    except OSError:  # the action still happened: the logger has it
        log.exception("Could not write the audit log %s", path)
