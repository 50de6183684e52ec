"""Sign-in to the app, end to end: a real OpenID Connect provider (oidc-provider on Node.js,
tests/security/oidc/provider.mjs) on 127.0.0.1, the app under `streamlit run` with an [auth] and a
[vitrine.access] section in a secrets file of its own, and headless Chromium signing in through the
provider's login form. The shop's workspace "tiny" lies in the app's artifacts folder throughout."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from shop.registry import Registry

from tests.helpers import CHROMIUM_ARGS, chromium, free_port
from tests.security.signin_servers import app, oidc_provider, secrets_toml, sign_in

pytestmark = pytest.mark.browser
WIDE = {"width": 1500, "height": 1000}
ERRORS = "[data-testid='stAlertContentError']"
SHOTS = os.environ.get("VITRINE_SIGNIN_SHOTS")  # a folder: the pages are saved there, to look at


@pytest.fixture(scope="module")
def signed_app(tiny_shop_workspace, tmp_path_factory):
    """The app with sign-in through the real provider: yields its URL."""
    artifacts, _ = tiny_shop_workspace
    folder = tmp_path_factory.mktemp("signin")
    port = free_port()
    redirect = f"http://localhost:{port}/oauth2callback"
    client_id, client_secret = "vitrine-app", secrets.token_urlsafe(24)
    with oidc_provider(redirect, client_id, client_secret) as issuer:
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(secrets_toml(redirect, secrets.token_hex(32), client_id, client_secret, issuer, access="""
public_pages = ["similar-products", "similar-customers"]
analysts = ["@shop.com"]
admins = ["boss@shop.com"]
"""))
        with app(artifacts, port, secrets_file, folder / "audit.log") as url:
            yield url


def _nav(page) -> list[str]:
    links = page.locator("[data-testid='stTopNavLink']")
    links.first.wait_for(timeout=120_000)
    return sorted(t.strip().splitlines()[-1].strip() for t in links.all_inner_texts())  # less the icon's name


def _dataset_options(page) -> list[str]:
    """The labels the Data set picker offers (opened, read, closed)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Data set").first
    box.click()
    options = page.locator("[role='option']")
    options.first.wait_for(timeout=30_000)
    labels = [t.strip() for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    return labels


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_an_analyst_signs_in_and_sees_the_workspace_s_similar_customers(signed_app, browser):
    page = browser.new_context(viewport=WIDE).new_page()
    sign_in(page, signed_app, "ana@shop.com")
    page.get_by_text("Signed in as ana@shop.com (analyst)").wait_for(timeout=120_000)
    page.goto(signed_app + "/similar-customers?dataset=tiny", wait_until="domcontentloaded")
    page.get_by_text("(12 customers,").wait_for(timeout=120_000)  # the workspace's 12 customers, not the demo's
    page.get_by_text("most similar customers").wait_for(timeout=60_000)
    assert page.locator(ERRORS).count() == 0
    assert any(label.startswith("tiny (your data") for label in _dataset_options(page))
    assert "Your data" not in _nav(page)  # an analyst, not an admin
    _shot(page, "signed-in-analyst")


def test_an_unlisted_address_signs_in_and_sees_no_workspace(signed_app, browser):
    page = browser.new_context(viewport=WIDE).new_page()
    sign_in(page, signed_app, "eve@evilshop.com")
    page.get_by_text("eve@evilshop.com is not on this shop's list").wait_for(timeout=120_000)
    assert _nav(page) == ["Similar customers", "Similar products"]
    page.goto(signed_app + "/similar-customers?dataset=tiny", wait_until="domcontentloaded")
    refusal = page.locator(ERRORS).filter(has_text="No data set 'tiny' is open to you here")
    refusal.wait_for(timeout=120_000)
    assert "\n" not in refusal.inner_text().strip()
    page.get_by_text("most similar customers").wait_for(timeout=60_000)  # the demo set instead
    assert page.get_by_text("(12 customers,").count() == 0
    assert not any("tiny" in label for label in _dataset_options(page))


def test_an_unverified_address_of_the_shop_s_domain_is_only_a_visitor(signed_app, browser):
    page = browser.new_context(viewport=WIDE).new_page()
    sign_in(page, signed_app, "una@shop.com")
    page.get_by_text("una@shop.com is not a verified address").wait_for(timeout=120_000)
    assert _nav(page) == ["Similar customers", "Similar products"]


def test_a_visitor_who_is_not_signed_in_sees_the_public_pages_and_the_demo_sets(signed_app, browser):
    page = browser.new_context(viewport=WIDE).new_page()
    page.goto(signed_app + "/similar-customers", wait_until="domcontentloaded")
    page.get_by_text("most similar customers").wait_for(timeout=120_000)
    page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Sign in").count() == 1
    assert _nav(page) == ["Similar customers", "Similar products"]
    assert _dataset_options(page) == [ds.label for ds in Registry().datasets("similar_customers", workspaces=False)]
    _shot(page, "signed-out-visitor")
    page.goto(signed_app + "/your-data", wait_until="domcontentloaded")  # not a page for this visitor
    page.get_by_text("Similar products", exact=True).first.wait_for(timeout=60_000)
    assert page.get_by_text("Bring your shop's order lines").count() == 0
    page.goto(signed_app + "/similar-products?dataset=tiny", wait_until="domcontentloaded")
    page.locator(ERRORS).filter(has_text="No data set 'tiny' is open to you here").wait_for(timeout=120_000)


def test_without_sign_in_a_request_through_a_proxy_does_not_see_the_workspace(tiny_shop_workspace, tmp_path, browser):
    artifacts, _ = tiny_shop_workspace
    with app(artifacts, free_port(), None, tmp_path / "audit.log") as url:
        local = browser.new_context(viewport=WIDE).new_page()  # this computer's user: everything, as before
        local.goto(url + "/similar-customers?dataset=tiny", wait_until="domcontentloaded")
        local.get_by_text("(12 customers,").wait_for(timeout=120_000)
        local.get_by_text("No sign-in is configured: everything is open, to this computer only").wait_for()
        assert "Your data" in _nav(local)
        # the same request as a reverse proxy forwards it (the header also rides on the websocket)
        proxied = browser.new_context(viewport=WIDE, extra_http_headers={"X-Forwarded-For": "203.0.113.9"}).new_page()
        proxied.goto(url + "/similar-customers?dataset=tiny", wait_until="domcontentloaded")
        proxied.locator(ERRORS).filter(has_text="No data set 'tiny' is open to you here").wait_for(timeout=120_000)
        proxied.get_by_text("The shop's workspaces and Your data are hidden").wait_for()
        assert "Your data" not in _nav(proxied)
        assert proxied.get_by_text("(12 customers,").count() == 0
        _shot(proxied, "no-auth-through-proxy")
