"""A page that fails shows a visitor one line and nothing of the server (no traceback, no path, no
exception text); the shop's admin sees what went wrong and where. In the app itself (AppTest), with
sign-in configured and one page public."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import APP

pytestmark = pytest.mark.slow  # runs the Streamlit app
SECRET_DETAIL = "/srv/shop/private/orders-2026.csv could not be read by role shop_admin"
SIGN_IN = {"auth": {"redirect_uri": "https://vitrine.shop.com/oauth2callback", "cookie_secret": "c" * 32,
                    "client_id": "vitrine", "client_secret": "not-used-here",
                    "server_metadata_url": "https://id.shop.com/.well-known/openid-configuration"},
           "vitrine": {"access": {"public_pages": ["similar-customers"], "admins": ["boss@shop.com"]}}}


@pytest.fixture
def failing_page(monkeypatch):
    """Similar customers fails past its own checks, with server details in the exception."""
    from ui import similar_customers

    def broken(chosen):
        raise RuntimeError(SECRET_DETAIL)

    monkeypatch.setattr(similar_customers, "_data", broken)


def _texts(at: AppTest) -> str:
    return " ".join(str(getattr(e, "value", "")) for kind in ("error", "code", "markdown", "text", "exception",
                                                              "caption", "warning", "info") for e in getattr(at, kind))


def _open(user: dict, secrets: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets.update(secrets)
    at.user = user
    at.run()
    at.switch_page("ui/pages/similar_customers.py").run()
    return at


def test_a_visitor_sees_one_line_and_no_detail(failing_page):
    at = _open({"is_logged_in": False}, SIGN_IN)
    assert not at.exception
    assert at.button(key="access_sign_in_None").label == "Sign in"  # a visitor: sign-in is offered
    assert [e.value for e in at.error] == ["The Similar customers page failed; the details are in the server's log."]
    assert "orders-2026" not in _texts(at) and "RuntimeError" not in _texts(at) and "Traceback" not in _texts(at)


def test_the_shop_s_admin_sees_what_failed(failing_page):
    admin = {"is_logged_in": True, "email": "boss@shop.com", "email_verified": True, "iss": "https://id.shop.com"}
    at = _open(admin, SIGN_IN)
    assert not at.exception
    assert any(c.value == "Signed in as boss@shop.com (admin)" for c in at.caption)
    assert len(at.error) == 1 and "RuntimeError" in at.error[0].value and "orders-2026.csv" in at.error[0].value
    assert "\n" not in at.error[0].value
    assert any("Traceback" in c.value for c in at.code)
