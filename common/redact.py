"""One home for removing secrets from text before it is written anywhere (a manifest, a recorded
command line, a log line, an error message, a page).

What counts as a secret: the password of a URL's user part (`postgresql://u:pw@h/db`), the value
of a query parameter or `name=value` pair whose name is a password, token, key, secret or
signature (`?password=`, `sslpassword`, `sslkey`, fsspec's `key`/`secret`/`token`, S3 pre-signed
`X-Amz-Signature`, Azure's `sig`/`AccountKey=`...), a `Bearer`/`Basic` credential, and the value
of a command-line flag so named (`--password X`). Each is replaced by `***`; the rest of the text
stays as it was, so a message still names the host, database and table. SQLAlchemy's
`render_as_string(hide_password=True)` hides only the user part's password: this also does the
query. Standard library only, so every module (common.errors included) may use it.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable

MASK = "***"

# Names (lower case, "-" and "_" removed) whose value is a secret.
SECRET_NAMES = frozenset({
    "password", "passwd", "pwd", "pass", "sslpassword", "sslkey", "sslcert_key", "sslkeypassword",
    "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "sessiontoken", "securitytoken",
    "secret", "clientsecret", "secretkey", "secretaccesskey", "key", "apikey", "accesskey", "accesskeyid",
    "accountkey", "privatekey", "clientkey", "sastoken", "sig", "signature", "credential", "credentials",
    "xamzsignature", "xamzcredential", "xamzsecuritytoken", "awssecretaccesskey", "awssessiontoken",
    "awsaccesskeyid", "connectionstring", "sharedaccesssignature", "sharedaccesskey", "auth", "authorization",
})
# ... and any name ending so (db_password, github_token, storage_account_key...).
SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "accesskey", "accountkey", "privatekey",
                   "signature", "credential", "credentials")


def _normal(name: str) -> str:
    return re.sub(r"[-_.\s]", "", name).lower()


def is_secret_name(name: str) -> bool:
    """Whether a parameter, option or flag called `name` holds a secret (`--sql-password`, `X-Amz-Signature`)."""
    normal = _normal(name.lstrip("-"))
    return normal in SECRET_NAMES or normal.endswith(SECRET_SUFFIXES)


# scheme://user:password@host — the password runs to the last "@" that a host follows (SQLAlchemy
# accepts "/", "#", "?" and "@" in it unencoded), so it may also swallow a query holding an "@": more
# hidden, never less; a user part without a password is left alone.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@'\"<>`]*:)(?P<password>[^\s'\"<>`]*)"
                       r"@(?=[^\s@'\"<>`/?#]*(?:[/?#\s'\"<>`]|$))")
# user:password@host without a scheme (SQLAlchemy quotes what it cannot parse), after a start, a space or a quote.
_BARE_USERINFO = re.compile(r"(?P<head>(?:^|(?<=[\s'\"(\[]))[\w.+%\-]+:)(?P<password>[^\s@/'\"<>`]+)@(?=[\w\[])")
# name=value after a start, a space, "?", "&", ";", ",", "(" or a quote: a query parameter, a libpq
# DSN ("host=h password=pw"), an Azure connection string ("AccountKey=..."), a logged option.
_PAIR = re.compile(r"(?P<head>(?:^|(?<=[\s?&;,(\[{'\"]))(?P<name>[A-Za-z][\w.\-]*)\s?=\s?)"
                   r"(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,'\"#)\]}]+)")
_BEARER = re.compile(r"(?P<head>\b(?:Bearer\s+|Authorization:\s*(?:Basic|Token|Digest)?\s*))"
                     r"(?P<value>(?=[^\s]*[\d._~+/=\-])[A-Za-z0-9._~+/=\-]{8,})", re.IGNORECASE)


def _pair(match: re.Match) -> str:
    if not is_secret_name(match["name"]):
        return match[0]
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['head']}{quote}{MASK}{quote}"


def redact(text: Any) -> Any:
    """`text` with every secret in it replaced by `***` (see the module docstring); anything that
    is not a string is returned as it is."""
    if not isinstance(text, str) or not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@" if m["password"] else m[0], text)
    text = _BARE_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _PAIR.sub(_pair, text)
    return _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_url(url: Any) -> Any:
    """A URL without its user part's password or secret query parameters
    (`postgresql://u:***@h/db?sslmode=require&password=***`)."""
    return redact(url)


def redact_command(argv: Iterable[str]) -> list[str]:
    """A command line without secrets: every element redacted (URLs, `name=value`), and the value
    of a flag named as a secret (`--password X`, `--token=X`) masked whole."""
    out: list[str] = []
    mask_next = False
    for arg in map(str, argv):
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        if arg.startswith("-") and len(arg) > 1 and not arg[1:2].isdigit():
            flag, eq, value = arg.partition("=")
            if is_secret_name(flag):
                if eq:
                    out.append(f"{flag}={MASK}")
                else:
                    out.append(arg)
                    mask_next = True
                continue
        out.append(redact(arg))
    return out


def redact_tree(obj: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings...) with every string redacted; the value
    under a key named as a secret is masked whole."""
    if isinstance(obj, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v else redact_tree(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_tree(v) for v in obj)
    return redact(obj)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message, traceback and stack before any handler
    writes it. Install it on handlers (`install_logging_redaction()` does every root handler), as a
    logger's own filters do not see records propagated from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as logging does
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_logging_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one RedactingFilter to every handler of `logger` (the root logger by default) that lacks
    one, and to the logger itself; returns the filter."""
    logger = logger or logging.getLogger()
    found = next((f for f in logger.filters if isinstance(f, RedactingFilter)), None)
    redacting = found or RedactingFilter()
    if found is None:
        logger.addFilter(redacting)
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    return redacting


def redacted_logging(*names: str) -> None:
    """Every log line of this process redacted: a stderr handler on the root logger when it has
    none (else Python's last-resort handler would print records unfiltered), and a RedactingFilter
    on the handlers of the root and of each named logger (those that do not propagate, such as
    uvicorn's and Streamlit's own). Idempotent: the app calls it on every rerun."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        if root.level == logging.WARNING:  # Python's default: keep the app's info lines (audit) too
            root.setLevel(logging.INFO)
    install_logging_redaction(root)
    for name in names:
        install_logging_redaction(logging.getLogger(name))
