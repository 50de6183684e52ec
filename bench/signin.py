"""What sign-in adds to each page: the same page opened by an analyst signed in through a real
OpenID Connect provider, against the same app without [auth] (open to this computer), in one run.

    python bench/signin.py [--rounds 15] [--page similar-products]

Starts the test provider (oidc-provider on Node.js, tests/security/oidc: `npm ci` there first) and
two `streamlit run` servers on 127.0.0.1 on the demo data: one with [auth] and [vitrine.access],
one without. Signs in once (that round trip is timed on its own), then, alternating between the
two servers so that drift on the machine falls on both, opens the page in a new tab `--rounds`
times (a new Streamlit session each time: the sign-in cookie is read and st.user decoded anew)
until its content is drawn. Prints the median and p95 of each, the difference and the ratio, and
the time of one access decision (ui/access.py decide()), which every rerun makes.
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.app_server import CHROMIUM_ARGS, free_port  # noqa: E402
from bench.harness import describe, percentiles  # noqa: E402
from tests.helpers import chromium  # noqa: E402
from tests.security.signin_servers import app, oidc_provider, secrets_toml, sign_in  # noqa: E402

DRAWN = {"similar-products": "most similar per product", "similar-customers": "most similar customers",
         "basket-rules": "rules"}  # text the page shows once its script has drawn the results


def _open(context, url: str, text: str) -> float:
    """Seconds from a new tab's navigation to `text` drawn."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(text).first.wait_for(timeout=120_000)
    seconds = time.perf_counter() - started
    page.close()
    return seconds




def _decision_us() -> float:
    """Microseconds of one access decision for a signed-in analyst (what each rerun adds)."""
    from ui.access import decide

    auth = {"auth": {"client_id": "c", "server_metadata_url": "https://id.shop.com/.well-known/openid-configuration"},
            "vitrine": {"access": {"analysts": ["@shop.com"], "admins": ["boss@shop.com"]}}}
    user = {"is_logged_in": True, "email": "ana@shop.com", "email_verified": True, "iss": "https://id.shop.com"}
    runs = 2000
    return min(timeit.repeat(lambda: decide(auth, user, {"host": "localhost"}, None, "", {}),
                             number=runs, repeat=5)) / runs * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15, help="page opens on each server")
    p.add_argument("--page", choices=sorted(DRAWN), default="similar-products")
    args = p.parse_args()
    print(describe())
    work = Path(tempfile.mkdtemp(prefix="bench_signin_"))
    signed_port, open_port = free_port(), free_port()
    redirect = f"http://localhost:{signed_port}/oauth2callback"
    client_secret = secrets.token_urlsafe(24)
    with oidc_provider(redirect, "vitrine-bench", client_secret) as issuer:
        secrets_file = work / "secrets.toml"
        secrets_file.write_text(secrets_toml(redirect, secrets.token_hex(32), "vitrine-bench", client_secret, issuer,
                                             access='analysts = ["@shop.com"]'))
        with app(work / "artifacts", signed_port, secrets_file, work / "audit-signed.log") as signed_url, \
                app(work / "artifacts", open_port, None, work / "audit-open.log") as open_url, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            signed, plain = browser.new_context(), browser.new_context()
            page = signed.new_page()
            started = time.perf_counter()
            sign_in(page, signed_url, "ana@shop.com")
            page.get_by_text("Signed in as ana@shop.com").wait_for(timeout=120_000)
            round_trip = time.perf_counter() - started
            page.close()
            text = DRAWN[args.page]
            for context, url in ((signed, signed_url), (plain, open_url)):  # warm: caches filled on each server
                _open(context, f"{url}/{args.page}", text)
            times: dict[str, list[float]] = {"signed": [], "open": []}
            for _ in range(args.rounds):
                times["signed"].append(_open(signed, f"{signed_url}/{args.page}", text))
                times["open"].append(_open(plain, f"{open_url}/{args.page}", text))
            browser.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: percentiles(v, 95)[0] for k, v in times.items()}
    print(f"sign-in round trip (app -> provider's form -> back, signed in): {round_trip * 1000:.0f} ms, once a session")
    print(f"/{args.page} in a new tab, {args.rounds} rounds each, alternating:")
    print(f"  signed in as an analyst: median {med['signed'] * 1000:.0f} ms, p95 {p95['signed'] * 1000:.0f} ms")
    print(f"  no [auth] (baseline):    median {med['open'] * 1000:.0f} ms, p95 {p95['open'] * 1000:.0f} ms")
    print(f"  added by sign-in: median {(med['signed'] - med['open']) * 1000:+.0f} ms, "
          f"ratio {med['signed'] / med['open']:.3f}x (p95 {p95['signed'] / p95['open']:.3f}x)")
    print(f"one access decision (every rerun): {_decision_us():.1f} us")


if __name__ == "__main__":
    main()
