"""The real servers of the sign-in test and benchmark: the OpenID Connect provider (oidc-provider
on Node.js, tests/security/oidc/provider.mjs) and the app under `streamlit run` reading secrets only
from a file of its own, both on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import ROOT, free_port, wait_healthy

OIDC = Path(__file__).parent / "oidc"


def secrets_toml(redirect: str, cookie_secret: str, client_id: str, client_secret: str, issuer: str,
                 access: str) -> str:
    """A secrets file with [auth] for the provider at `issuer` and `access` as [vitrine.access]."""
    return f"""
[auth]
redirect_uri = "{redirect}"
cookie_secret = "{cookie_secret}"
client_id = "{client_id}"
client_secret = "{client_secret}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ prompt = "login" }}

[vitrine.access]
{access}
"""


@contextmanager
def oidc_provider(redirect_uri: str, client_id: str, client_secret: str):
    """node provider.mjs on a free port of 127.0.0.1: yields its issuer URL."""
    node = shutil.which("node")
    if node is None or not (OIDC / "node_modules" / "oidc-provider").is_dir():
        raise AssertionError("Sign-in needs Node.js and the provider's packages: "
                             "`cd tests/security/oidc && npm ci` (.ci/run does it).")
    port = free_port()
    proc = subprocess.Popen([node, "provider.mjs", str(port), redirect_uri, client_id, client_secret], cwd=OIDC,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready "), f"the OpenID provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def app(artifacts: Path, port: int, secrets_file: Path | None, audit: Path):
    """`streamlit run streamlit_app.py` on 127.0.0.1:port, reading secrets only from `secrets_file`
    (none at all when None), the shop's workspaces in `artifacts`."""
    env = {**os.environ, "VITRINE_ARTIFACTS": str(artifacts), "VITRINE_AUDIT_LOG": str(audit),
           "VITRINE_WEIGHTS": "none"}
    env.pop("VITRINE_INSECURE_OPEN_PAGES", None)
    where = secrets_file if secrets_file is not None else audit.parent / "no-secrets.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
         "--secrets.files", str(where)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield f"http://localhost:{port}"  # the origin of redirect_uri: Streamlit checks it against the cookie
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def sign_in(page, url: str, email: str) -> None:
    """Through the provider's own login form (any password: the test provider checks none), back to the app."""
    page.goto(url + "/", wait_until="domcontentloaded")  # the root: the first page this visitor may open
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name='login']").wait_for(timeout=60_000)  # the provider's own login form
    assert page.url.startswith("http://127.0.0.1:"), page.url
    page.fill("input[name='login']", email)
    page.fill("input[name='password']", "any password")
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(url + "/**", timeout=60_000)
