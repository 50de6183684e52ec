"""ui/access.py's decision, request by request: who is an analyst or an admin, which pages and data
sets each sees, and when an app without sign-in is open (this computer only) or closed (anyone else).
The browser test with a real OpenID provider is tests/security/test_signin.py."""
from __future__ import annotations

import pytest

from common.errors import InputError
from ui.access import ADMIN, ANALYST, ANALYST_PAGES, VISITOR, decide, read_policy

ISSUER = "https://id.shop.com"
AUTH = {"auth": {"redirect_uri": "https://vitrine.shop.com/oauth2callback", "cookie_secret": "x" * 32,
                 "client_id": "vitrine", "client_secret": "s", "server_metadata_url":
                 f"{ISSUER}/.well-known/openid-configuration"},
        "vitrine": {"access": {"public_pages": ["visual-search"], "analysts": ["@shop.com", "ana@agency.example"],
                               "admins": ["Boss@Shop.com"]}}}
LOCAL = {"host": "localhost:8501"}


def user(email: str, verified=True, iss: str = ISSUER) -> dict:
    return {"is_logged_in": True, "email": email, "email_verified": verified, "iss": iss}


def signed(email: str, **kw):
    return decide(AUTH, user(email, **kw), LOCAL, None, "", {})


@pytest.mark.parametrize("email, role", [
    ("ana@shop.com", ANALYST), ("ANA@SHOP.COM", ANALYST), ("ana@agency.example", ANALYST), ("boss@shop.com", ADMIN),
    ("eve@evilshop.com", VISITOR), ("eve@shop.com.evil.org", VISITOR), ("eve@sub.shop.com", VISITOR),
    ("bob@agency.example", VISITOR), ("shop.com", VISITOR)])
def test_a_domain_entry_matches_exactly_that_domain(email, role):
    who = signed(email)
    assert who.role == role
    assert who.workspaces == (role != VISITOR)
    assert ("your-data" in who.pages) == (role == ADMIN)


def test_an_unverified_address_or_another_issuer_is_only_a_visitor():
    for who in (signed("boss@shop.com", verified=False), signed("boss@shop.com", verified="false"),
                signed("boss@shop.com", iss="https://evil.example"), signed("boss@shop.com", iss="")):
        assert who.role == VISITOR and not who.workspaces and who.pages == {"visual-search"}
        assert who.warn and "only the public pages" in who.notice
    assert signed("boss@shop.com", verified="true").role == ADMIN  # Cognito sends the text "true"


def test_a_visitor_who_is_not_signed_in_gets_the_public_pages_and_a_sign_in_button():
    who = decide(AUTH, {"is_logged_in": False}, LOCAL, None, "", {})
    assert (who.role, who.pages, who.workspaces, who.sign_in, who.signed_in) == (
        VISITOR, {"visual-search"}, False, True, False)
    assert who.providers == (None,)


@pytest.mark.parametrize("headers, ip, bound, why", [
    ({"host": "localhost:8501", "x-forwarded-for": "203.0.113.9"}, None, "", "X-Forwarded-For"),
    ({"host": "localhost:8501", "forwarded": "for=203.0.113.9"}, None, "", "Forwarded"),
    (LOCAL, None, "0.0.0.0", "bound to 0.0.0.0"),
    (LOCAL, "192.0.2.7", "", "came from 192.0.2.7"),
    ({"host": "vitrine.shop.com"}, None, "", "addressed to vitrine.shop.com")])
def test_without_sign_in_anyone_but_this_computer_sees_no_workspace(headers, ip, bound, why):
    who = decide({}, {}, headers, ip, bound, {})
    assert who.role == VISITOR and not who.workspaces and who.pages == ANALYST_PAGES and "your-data" not in who.pages
    assert why in who.notice and "[auth]" in who.notice
    opened = decide({}, {}, headers, ip, bound, {"VITRINE_INSECURE_OPEN_PAGES": "i-understand"})
    assert opened.role == ADMIN and opened.workspaces and opened.warn
    assert decide({}, {}, headers, ip, bound, {"VITRINE_INSECURE_OPEN_PAGES": "yes"}).role == VISITOR


def test_without_sign_in_this_computer_sees_everything_and_is_told_so():
    for ip, bound in ((None, ""), ("127.0.0.1", "127.0.0.1"), ("::ffff:127.0.0.1", "localhost")):
        who = decide({}, {}, LOCAL, ip, bound, {})
        assert who.role == ADMIN and who.workspaces and "to this computer only" in who.notice


@pytest.mark.parametrize("section, named", [
    ({"public_pages": ["your-data"]}, "your-data"), ({"public_pages": ["nowhere"]}, "nowhere"),
    ({"analysts": ["@shop"]}, "@shop"), ({"admins": ["boss"]}, "boss"), ({"analyst": ["@shop.com"]}, "analyst"),
    ({"sql_free_text": "no"}, "sql_free_text"), ({"analysts": "@shop.com,@b.com"}, "@shop.com,@b.com")])
def test_a_wrong_access_section_is_refused_naming_the_entry(section, named):
    with pytest.raises(InputError, match=named) as caught:
        read_policy({"vitrine": {"access": section}})
    assert "\n" not in str(caught.value)
