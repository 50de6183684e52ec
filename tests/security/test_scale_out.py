"""More than one process behind one address, for real: two app processes (`streamlit run
streamlit_app.py`, sharing one secrets file and so one `[auth]` cookie_secret) and the API with
`--workers 2`, all on one artifacts folder, behind deploy/nginx's config in Debian's nginx on
127.0.0.1, with sign-in through a real OpenID Connect provider and headless Chromium.

Shown: newcomers spread over both app processes; each visitor's every request (the page, the
sign-in and its callback, the websocket) reaches the process that holds their session (nginx's
log of `$upstream_addr`); a rebuilt workspace is served by every API worker once the poll
interval has passed and by every app process on its next rerun."""
from __future__ import annotations

import secrets
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack

import httpx
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import CHROMIUM_ARGS, ROOT, chromium, free_port, write_tiny_shop
from tests.security.api_server import bearer, children, each_worker, wait_for, wait_up
from tests.security.proxy import Nginx, self_signed
from tests.security.signin_servers import app, oidc_provider, secrets_toml, sign_in

pytestmark = pytest.mark.browser
POLL_SECONDS = 2
GONE = "K11"  # the customer the rebuild leaves out


@pytest.fixture(scope="module")
def deployment(tiny_shop_workspace, tmp_path_factory):
    import shutil

    from api.keys import add_key

    root = tmp_path_factory.mktemp("scale_out")
    root.chmod(0o755)  # nginx's workers read the certificate here
    artifacts = root / "artifacts"
    shutil.copytree(tiny_shop_workspace[0], artifacts, symlinks=True)
    certs = self_signed(root / "certs")
    keys = root / "api_keys.toml"
    admin = add_key(keys, "ops", "admin", 0)
    apps, api_port, https = [free_port(), free_port()], free_port(), free_port()
    redirect = f"https://localhost:{https}/oauth2callback"
    client_id, client_secret = "vitrine-app", secrets.token_urlsafe(24)
    with ExitStack() as stack:
        api = subprocess.Popen([sys.executable, "-m", "api", "--port", str(api_port), "--no-visual", "--workers", "2",
                                "--keys-file", str(keys), "--artifacts", str(artifacts),
                                "--poll-seconds", str(POLL_SECONDS)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(lambda: (api.terminate(), api.wait(timeout=30)))
        proxy = Nginx(root / "proxy", certs, apps, api_port, https=https)
        stack.callback(proxy.stop)
        issuer = stack.enter_context(oidc_provider(redirect, client_id, client_secret))
        secrets_file = root / "secrets.toml"  # one file, so one cookie_secret, for both processes
        secrets_file.write_text(secrets_toml(redirect, secrets.token_hex(32), client_id, client_secret, issuer,
                                             access='analysts = ["@shop.com"]'))
        for n, port in enumerate(apps):
            stack.enter_context(app(artifacts, port, secrets_file, root / f"audit-{n}.log"))
        wait_up(f"http://127.0.0.1:{api_port}", api)
        assert wait_for(lambda: len(children(api.pid)) >= 2, 60), "the API's two workers did not start"
        tls = ssl.create_default_context(cafile=str(certs / "fullchain.pem"))
        yield {"proxy": proxy, "apps": [f"127.0.0.1:{port}" for port in apps], "admin": admin, "tls": tls,
               "artifacts": artifacts, "root": root}


def _newcomer(proxy: Nginx, tls) -> str:
    """A first visit (no cookie): the routing id nginx gave it."""
    with httpx.Client(verify=tls, timeout=30) as client:
        answer = client.get(proxy.url + "/_stcore/health")
        assert answer.status_code == 200 and answer.text == "ok"
        return client.cookies["vitrine_node"]


def _visitor(browser, proxy: Nginx, node: str):
    """A browser of its own, carrying the routing id `node` as nginx set it."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "vitrine_node", "value": node, "domain": "localhost", "path": "/",
                          "secure": True, "httpOnly": True, "sameSite": "Lax"}])
    return context


def test_visitors_spread_over_both_app_processes_stay_on_theirs_and_every_process_serves_a_rebuild(deployment):
    from recommend import cli

    proxy, tls, admin = deployment["proxy"], deployment["tls"], deployment["admin"]
    # Newcomers spread over both processes (each gets a random id, hashed consistently).
    newcomers = [_newcomer(proxy, tls) for _ in range(24)]
    where = {node: upstream for node, upstream, _ in proxy.routed() if node in newcomers}
    assert set(where.values()) == set(deployment["apps"]), where
    home = {upstream: node for node, upstream in where.items()}  # one visitor per process

    api = proxy.url + "/api"

    def ask(status: int):
        def one():
            with httpx.Client(verify=tls, timeout=60) as client:  # its own connection: either worker takes it
                answer = client.get(api + "/v1/customers/similar", params={"id": GONE, "dataset": "tiny"},
                                    headers=bearer(admin))
                assert answer.status_code == status, answer.text
        return one

    def version(status: dict) -> tuple | None:
        found = status["loaded"].get("customers:tiny")
        return tuple(found["version"]) if found else None

    before = each_worker(api, admin, lambda seen: len(seen) == 2 and all(map(version, seen.values())),
                         ask(200), verify=tls)
    old = {version(status) for status in before.values()}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        pages = {}
        for upstream, node in home.items():
            page = _visitor(browser, proxy, node).new_page()
            sign_in(page, proxy.url, "ana@shop.com")  # the callback must reach the process that began it
            page.get_by_text("Signed in as ana@shop.com (analyst)").wait_for(timeout=120_000)
            page.goto(proxy.url + "/similar-customers?dataset=tiny", wait_until="domcontentloaded")
            page.get_by_text("(12 customers,").wait_for(timeout=120_000)
            pages[upstream] = page

        orders, _ = write_tiny_shop(deployment["root"] / "shop")
        lines = pd.read_csv(orders, dtype=str)
        lines[lines["customer_id"] != GONE].to_csv(orders, index=False)
        assert cli.main(["build", "--orders", str(orders), "--name", "tiny",
                         "--artifacts", str(deployment["artifacts"])]) == 0
        time.sleep(POLL_SECONDS)  # past the poll interval: from here, every worker serves the rebuild
        after = each_worker(api, admin, lambda seen: len(seen) == 2 and all(
            version(status) not in old for status in seen.values()), ask(404), verify=tls)
        assert set(after) == set(before)  # the same two workers, each now on the rebuilt workspace

        for page in pages.values():  # the same session's next rerun, in each process
            page.locator("body").press("r")
            page.get_by_text("(11 customers,").wait_for(timeout=120_000)
            assert page.get_by_text("(12 customers,").count() == 0
        for page in pages.values():
            page.context.close()  # nginx logs a websocket once it closes
        browser.close()

    def logged() -> dict[str, list[tuple[str, str]]]:
        seen: dict[str, list[tuple[str, str]]] = {}
        for node, upstream, path in proxy.routed():
            seen.setdefault(node, []).append((upstream, path))
        return seen

    assert wait_for(lambda: all(any(path.startswith("/_stcore/stream") for _, path in logged().get(node, []))
                                for node in home.values()), 20)
    for upstream, node in home.items():
        requests = logged()[node]
        assert {up for up, _ in requests} == {upstream}, requests  # every request of the visitor: one process
        for part in ("/_stcore/stream", "/auth/login", "/oauth2callback", "/similar-customers"):
            assert any(path.startswith(part) for _, path in requests), (part, requests)
