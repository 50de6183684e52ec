"""How fast the app answers a visitor, page by page, in headless Chromium against the real
`streamlit run` on 127.0.0.1 (demo data; a visual index of the first 60 demo products with
random weights, built here in a few seconds, so no download is needed).

For each page it prints the time to first paint of a new session (a new tab opening the page's
URL, until the page's content is drawn and the script has finished; the browser has Streamlit's
scripts cached, as after any visit, and a browser with nothing cached is reported too) beside
the server's part of it alone (a protocol client, no browser). Then the time a typical control
takes to update the page (upload, "More like this", a slider, a picker), next to the time of
the computation behind it alone, measured in this process in the same run. The cold start (server start, then the first visit: model and index load) is
reported on its own line.

    python bench/ui_latency.py [--repeats 3] [--limit-seconds 400]

Targets on a 2-core machine: a new session's page in <= 2 s once the process is warm, and an
update within 0.5 s plus its computation's own time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from app_server import CHROMIUM_ARGS, ROOT, app_server  # bench/, beside this script
from harness import best_of, describe  # bench/harness.py, beside this script
from soak import Session  # a websocket client of Streamlit's protocol: the server's part alone

sys.path.insert(0, str(ROOT))
IMAGES = ROOT / "data" / "fashion" / "images"
IDLE = "() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state') === 'notRunning'"
# Set before an action: true once the script has run again and finished (no race with a quick run).
WATCH = """() => {
  window.__ran = false;
  const app = document.querySelector('[data-test-script-state]');
  new MutationObserver(() => { if (app.getAttribute('data-test-script-state') === 'running') window.__ran = true; })
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RAN = "() => window.__ran && " + IDLE[6:]
# What shows that a page is drawn, by URL path.
READY = {
    "": "text=Choose a photo to start",
    "basket-rules": "text=What to show next to an item",
    "similar-products": "[data-testid='stDataFrame']",
    "similar-customers": "text=Recommended for this customer",
    "similar-movies": "[data-testid='stDataFrame']",
}


def first_paint(context, base: str, path: str) -> float:
    """A new session (a new tab of `context`) opens the page; seconds until it is drawn and idle."""
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(f"{base}/{path}", wait_until="commit")
    page.locator(READY[path]).first.wait_for(timeout=180_000)
    page.wait_for_function(IDLE, timeout=180_000)
    seconds = time.perf_counter() - t0
    page.close()
    return seconds


def server_part(base: str, path: str) -> float:
    """A new session's first run of the page as the server sees it (no browser): seconds."""
    import asyncio

    async def run() -> float:
        session = Session(base)
        import websockets

        session.ws = await websockets.connect(base.replace("http", "ws") + "/_stcore/stream",
                                              subprotocols=["streamlit"], max_size=None)
        try:
            return await session.rerun([], page=path)
        finally:
            await session.ws.close()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        return pool.submit(lambda: asyncio.run(run())).result()


def fresh_browser_paint(browser, base: str, path: str) -> float:
    """The same for a browser that has nothing cached (a first-time visitor)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        return first_paint(context, base, path)
    finally:
        context.close()


def timed(page, action, prepare=None) -> float:
    """Seconds from an action (after `prepare`, untimed: opening a list) to the page's rerun
    having finished."""
    if prepare:
        prepare()
    page.evaluate(WATCH)
    t0 = time.perf_counter()
    action()
    page.wait_for_function(RAN, timeout=180_000, polling=20)
    return time.perf_counter() - t0


def open_page(context, base: str, path: str):
    page = context.new_page()
    page.goto(f"{base}/{path}", wait_until="commit")
    page.locator(READY[path]).first.wait_for(timeout=180_000)
    page.wait_for_function(IDLE, timeout=180_000)
    return page


def slider_step(page, label: str):
    """(prepare, act): focus the slider, then one step to the right."""
    thumb = page.get_by_role("slider", name=label)
    return thumb.focus, lambda: thumb.press("ArrowRight")


def pick_option(page, box, nth: int):
    """(prepare, act): open the list, then click its nth option."""
    return box.click, lambda: page.get_by_role("option").nth(nth).click()


def computations(index: Path, photo: bytes) -> dict[str, float]:
    """The work behind each control, alone in this process (best of three, seconds)."""
    import settings
    from embed import index as visual_index
    from embed.query import QueryEngine
    from recommend.rules import defaults
    from recommend.rules.model import build as build_rules
    from recommend.similar_customers import answer as customers_answer
    from recommend.similar_customers import build as build_customers
    from recommend.similar_movies import build as build_movies
    from recommend.similar_movies.model import DEFAULT_CENTRE, DEFAULT_MIN_RATINGS
    from recommend.similar_products.model import answer as products_answer
    from shop.registry import Registry

    best = best_of

    engine = QueryEngine.open(index, "none")
    engine.embedder.warm_up()
    vector = engine.embed(photo)[0]
    first = str(engine.index.items["id"].iloc[0])
    baskets = Registry().get("groceries").baskets()
    ratings, movies = Registry().get("movielens").ratings()
    purchases = Registry().get("online_retail").purchases()
    customers = build_customers(purchases.table, purchases.cols)
    someone = str(customers.neighbours["customer"].drop_duplicates().iloc[5])
    products = Registry().get("superstore").build_with("similar_products", "ease")
    item = str(products.products["item"].iloc[3])
    return {
        "upload": best(lambda: visual_index.search(engine.index, engine.embed(photo)[0], settings.TOP_K)),
        "more like this": best(lambda: visual_index.answer(engine.index, first, k=settings.TOP_K)),
        "search vector only": best(lambda: visual_index.search(engine.index, vector, settings.TOP_K)),
        "rules slider": best(lambda: build_rules(baskets, min_support=defaults.MIN_SUPPORT,
                                                 min_confidence=defaults.MIN_CONFIDENCE + 0.05,
                                                 min_lift=defaults.MIN_LIFT), n=1),
        "movies slider": best(lambda: build_movies(ratings, movies, k=10, min_ratings=DEFAULT_MIN_RATINGS + 1,
                                                   centre=DEFAULT_CENTRE), n=1),
        "customer picker": best(lambda: customers_answer(customers, someone)),
        "product picker": best(lambda: products_answer(products, item, 5)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="new sessions per page (the median is shown)")
    p.add_argument("--limit-seconds", type=float, default=400, help="stop the measurements after this long")
    args = p.parse_args()
    print(describe(), flush=True)
    deadline = time.perf_counter() + args.limit_seconds
    photo_path = sorted(IMAGES.glob("*.jpg"))[7]
    rows: list[tuple[str, float, str]] = []
    with app_server("vitrine-ui-latency-") as app:
        base, startup, index = app.base, app.startup_seconds, app.index
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("VITRINE_CHROMIUM", "/usr/bin/chromium"),
                                         args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            cold = first_paint(context, base, "")
            print(f"cold start: server up in {startup:.1f} s; first visit (model and index load, demo artifacts "
                  f"built) {cold:.1f} s", flush=True)
            for path in READY:  # every page once, so each page's first-use work is done (warm process)
                first_paint(context, base, path)
            print(f"{'page':18} {'new session (median)':>22} {'nothing cached':>16} {'server part':>13}")
            for path in READY:
                times = [first_paint(context, base, path) for _ in range(args.repeats)
                         if time.perf_counter() < deadline]
                fresh = fresh_browser_paint(browser, base, path)
                own = statistics.median(server_part(base, path) for _ in range(3))
                print(f"{path or 'visual-search':18} {statistics.median(times):>20.2f} s {fresh:>14.2f} s "
                      f"{own:>11.2f} s   "
                      f"({', '.join(f'{t:.2f}' for t in times)})", flush=True)
            page = open_page(context, base, "")
            rows.append(("upload a photo", timed(page, lambda: page.locator("input[type=file]").first
                                                 .set_input_files(str(photo_path))), "upload"))
            page.get_by_role("button", name="More like this").nth(4).wait_for()
            rows.append(("More like this", timed(page, lambda: page.get_by_role("button", name="More like this")
                                                 .first.click()), "more like this"))
            page = open_page(context, base, "basket-rules")
            prepare, act = slider_step(page, "Min confidence")
            rows.append(("rules: min confidence slider", timed(page, act, prepare), "rules slider"))
            page = open_page(context, base, "similar-movies")
            prepare, act = slider_step(page, "Minimum number of ratings")
            rows.append(("movies: min ratings slider", timed(page, act, prepare), "movies slider"))
            page = open_page(context, base, "similar-customers")
            prepare, act = pick_option(page, page.get_by_role("combobox").last, 5)
            rows.append(("customers: pick another", timed(page, act, prepare), "customer picker"))
            page = open_page(context, base, "similar-products")
            prepare, act = pick_option(page, page.get_by_role("combobox").last, 3)
            rows.append(("products: pick another", timed(page, act, prepare), "product picker"))
            browser.close()
        peak = app.memory_mb("VmHWM")
    alone = computations(index, photo_path.read_bytes())
    print(f"{'control':32} {'page update':>12} {'computation alone':>18} {'overhead':>10}")
    for label, seconds, work_key in rows:
        c = alone[work_key]
        print(f"{label:32} {seconds:>10.2f} s {c:>16.3f} s {seconds - c:>8.2f} s")
    print(f"(search from a stored vector alone: {1000 * alone['search vector only']:.1f} ms)")
    print(f"server peak resident memory: {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
