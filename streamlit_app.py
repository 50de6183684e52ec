"""Vitrine's entry point: a title and one page per tool, each at its own URL; the pages live in ui/.

Only the open page runs on a click (`st.navigation`), so a slider in Similar movies never
re-renders Visual search. Kept thin on purpose: no TensorFlow here (the visual search page
imports embed/ lazily), and the page renders inside a guard so a broken page shows one line
and leaves the others working. Who sees which page is ui/access.py's decision, made per request:
the menu lists only the pages this visitor may open, with sign-in (st.login) where it is configured.
"""
from __future__ import annotations

import logging
import traceback

import streamlit as st

from common.errors import InputError
from common.redact import redact, redacted_logging
from ui import access
from ui.pages import PAGES

log = logging.getLogger("vitrine.app")
redacted_logging("streamlit")  # no secret in a log line, tracebacks included

st.set_page_config(page_title="Vitrine", page_icon="🛍️", layout="wide")
try:
    who = access.current()
except InputError as exc:  # a wrong [vitrine.access]: closed to everyone until it is fixed
    log.error("Refusing to serve: %s", exc)
    st.error(str(exc).splitlines()[0])
    st.stop()


def _sign_in_page() -> None:
    st.info("Sign in to see this shop's pages.")


open_pages = [p for p in PAGES if who.may_open(p.slug)]
shown = [st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url_path or p.slug, default=p.default)
         for p in open_pages]
if not shown:  # nothing is public: a page that only offers the sign-in
    shown = [st.Page(_sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)]
elif not any(p.default for p in open_pages):
    # The root URL is Visual search's for everyone; for a visitor who may not open it, the root leads
    # to the first page they may, so every page keeps one URL (/similar-products) whoever follows a link.
    first = shown[0]
    shown.append(st.Page(lambda: st.switch_page(first), title="Vitrine", url_path="start", default=True,
                         visibility="hidden"))
page = st.navigation(shown, position="top")

head, account = st.columns([5, 2], vertical_alignment="bottom")
head.title("Vitrine")
head.caption("Visual search and recommendations for a shop: find products from a photo, "
             "and see what to suggest next to each product and customer.")
with account:
    if who.signed_in:
        st.caption(f"Signed in as {who.email or 'an unnamed identity'} ({who.role})")
        st.button("Sign out", on_click=st.logout, key="access_sign_out", icon=":material/logout:")
    elif who.sign_in:
        for provider in who.providers:
            label = "Sign in" if provider is None else f"Sign in with {provider.title()}"
            st.button(label, on_click=st.login, args=() if provider is None else (provider,),
                      key=f"access_sign_in_{provider}", type="primary", icon=":material/login:")
if who.notice:
    (st.warning if who.warn else st.caption)(who.notice)

try:
    page.run()
except Exception as exc:  # noqa: BLE001 - the point is that no page error escapes
    log.exception("The %s page failed", page.title)
    if who.admin:  # the shop's admin (or the local user) may read what went wrong; others get one line
        st.error(redact(f"The {page.title} page failed: {type(exc).__name__}: {exc}").splitlines()[0])
        with st.expander("Details"):
            st.code(redact(traceback.format_exc()), language="text")
    else:
        st.error(f"The {page.title} page failed; the details are in the server's log.")
