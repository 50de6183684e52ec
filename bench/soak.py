"""Soak: many visitors on one app process. 20 concurrent sessions for 60 s against the real
`streamlit run` on 127.0.0.1 (demo data, a 60-product visual index with random weights): most
are light websocket clients that speak Streamlit's protocol (so the load does not eat the two
cores a browser each would), a few are real headless Chromium pages. Each session alternates a
visual query (upload a photo on the home page, wait for the five results) and a title search on
the Similar movies page (each page reruns alone). Prints requests served, p50/p95 latency of a
visual query next to a single session's in the same run, errors (must be 0) and the server's
peak resident memory.

    python bench/soak.py [--sessions 20] [--browsers 3] [--seconds 60]

Bounded in time and count; talks to 127.0.0.1 only. XSRF protection is off for this server
only, so the protocol clients can upload without a browser's cookie.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import requests
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from app_server import BENCH_PRODUCTS, CHROMIUM_ARGS, ROOT, app_server  # bench/, beside this script
from harness import describe, percentiles  # bench/harness.py, beside this script

IMAGES = ROOT / "data" / "fashion" / "images"
TITLES = ["toy story", "matrix", "star wars", "amelie", "godfather", "jurassic", "forrest", "alien"]
# The picture of the shopper's photo on the page (its media URL is new for every upload).
SHOWN = "() => document.querySelector(\"[data-testid='stImage'] img\")?.src || ''"


class Session:
    """One visitor over Streamlit's websocket protocol: rerun the script with widget values."""

    def __init__(self, base: str):
        self.base, self.ws, self.id, self.widgets = base, None, "", {}

    async def open(self) -> float:
        self.ws = await websockets.connect(self.base.replace("http", "ws") + "/_stcore/stream",
                                           subprotocols=["streamlit"], max_size=None)
        return await self.rerun([])

    async def rerun(self, states, page: str = "") -> float:
        """Send one rerun of `page` (its URL path; "" is the home page) and wait for the script to
        finish; seconds. Raises on an error on the page."""
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = page
        msg.rerun_script.widget_states.widgets.extend(states)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        self.buttons = 0
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(self.ws.recv(), 120))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.id = fm.new_session.initialize.session_id
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                element = fm.delta.new_element
                which = element.WhichOneof("type")
                if which == "exception" or (which == "alert" and element.alert.format == element.alert.ERROR):
                    raise RuntimeError(f"error on the page: {str(element)[:200]}")
                if which in ("file_uploader", "text_input"):
                    widget = getattr(element, which)
                    key = widget.id.rsplit("-", 1)[-1]
                    self.widgets["vs_upload" if key.startswith("vs_upload_") else key] = widget.id
                if which == "button" and element.button.label == "More like this":
                    self.buttons += 1
            elif kind == "script_finished":
                return time.perf_counter() - started

    async def visual_query(self, image: Path) -> float:
        """Upload a photo and rerun until the five results show; seconds for the whole of it."""
        started = time.perf_counter()
        ask = BackMsg()
        ask.file_urls_request.request_id = uuid.uuid4().hex
        ask.file_urls_request.session_id = self.id
        ask.file_urls_request.file_names.append(image.name)
        await self.ws.send(ask.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(self.ws.recv(), 120))
            if fm.WhichOneof("type") == "file_urls_response":
                urls = fm.file_urls_response.file_urls[0]
                break
        data = image.read_bytes()
        put = await asyncio.to_thread(requests.put, self.base + urls.upload_url,
                                      files={"file": (image.name, data, "image/jpeg")}, timeout=60)
        put.raise_for_status()
        if "vs_upload" not in self.widgets:
            await self.rerun([])
        state = BackMsg().rerun_script.widget_states.widgets.add()
        state.id = self.widgets["vs_upload"]
        state.file_uploader_state_value.CopyFrom(FileUploaderState(uploaded_file_info=[UploadedFileInfo(
            name=image.name, size=len(data), file_id=urls.file_id, file_urls=urls)]))
        await self.rerun([state])
        if self.buttons != 5:
            raise RuntimeError(f"{self.buttons} results for {image.name}, expected 5")
        return time.perf_counter() - started

    async def title_search(self, title: str) -> float:
        """Open the Similar movies page if this session has not yet, then search a title there."""
        if "sm_query" not in self.widgets:
            await self.rerun([], page="similar-movies")
        state = BackMsg().rerun_script.widget_states.widgets.add()
        state.id = self.widgets["sm_query"]
        state.string_value = title
        return await self.rerun([state], page="similar-movies")


async def protocol_visitor(base, images, until, log, rng):
    session = Session(base)
    try:
        await session.open()
    except Exception as exc:  # noqa: BLE001
        log["errors"].append(f"could not open a session: {type(exc).__name__}: {exc}"[:300])
        return
    while time.monotonic() < until:
        try:
            log["visual"].append(await session.visual_query(rng.choice(images)))
            log["title"].append(await session.title_search(rng.choice(TITLES)))
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            log["errors"].append(f"{type(exc).__name__}: {exc}"[:300])
    await session.ws.close()


async def browser_visitor(browser, base, images, until, log, rng):
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        await page.goto(base, wait_until="domcontentloaded", timeout=180_000)
        await page.get_by_text("Choose a photo to start").wait_for(timeout=180_000)
    except Exception as exc:  # noqa: BLE001
        log["errors"].append(f"browser could not open the app: {type(exc).__name__}"[:300])
        return
    last = None
    while time.monotonic() < until:
        try:
            shown = await page.evaluate(SHOWN)
            last = rng.choice([i for i in images if i != last])  # the same file again would not rerun
            started = time.perf_counter()
            await page.locator("input[type=file]").first.set_input_files(str(last), timeout=120_000)
            # this upload's results, not the last one's: the photo shown above them has changed
            await page.wait_for_function(f"() => ({SHOWN[6:]}) !== {json.dumps(shown)}", timeout=120_000, polling=50)
            await page.get_by_role("button", name="More like this").nth(4).wait_for(timeout=120_000)
            log["browser"].append(time.perf_counter() - started)
            if await page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count():
                log["errors"].append("error shown in a browser")
        except Exception as exc:  # noqa: BLE001
            log["errors"].append(f"browser {type(exc).__name__}: {exc}"[:300])
    await page.close()


async def soak(base, images, sessions, browsers, seconds):
    single = Session(base)
    await single.open()
    alone = [await single.visual_query(images[i]) for i in range(8)]
    await single.ws.close()
    log = {"visual": [], "title": [], "browser": [], "errors": []}
    until = time.monotonic() + seconds
    tasks = [protocol_visitor(base, images, until, log, random.Random(i)) for i in range(sessions - browsers)]
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=os.environ.get("VITRINE_CHROMIUM", "/usr/bin/chromium"),
                                          args=CHROMIUM_ARGS)
        tasks += [browser_visitor(browser, base, images, until, log, random.Random(100 + i)) for i in range(browsers)]
        await asyncio.gather(*tasks)
        await browser.close()
    return alone, log


def pct(values, q):
    return percentiles(values, q)[0] * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--browsers", type=int, default=3)
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args()
    print(describe(), flush=True)
    images = sorted(IMAGES.glob("*.jpg"))[:BENCH_PRODUCTS]
    # XSRF protection off for this server only, so the protocol clients can upload without a cookie
    with app_server("vitrine-soak-", xsrf=False) as app:
        asyncio.run(_warm(Session(app.base)))  # the first run builds the demo artifacts and loads the model
        alone, log = asyncio.run(soak(app.base, images, args.sessions, args.browsers, args.seconds))
        peak = app.memory_mb("VmHWM")
    served = len(log["visual"]) + len(log["title"]) + len(log["browser"])
    print(f"{args.sessions} sessions ({args.sessions - args.browsers} protocol clients, {args.browsers} Chromium) "
          f"for {args.seconds:.0f} s: {served} requests served ({len(log['visual'])} visual queries, "
          f"{len(log['title'])} title searches, {len(log['browser'])} browser uploads), "
          f"{len(log['errors'])} errors")
    print(f"visual query, one session alone:  p50 {pct(alone, 50):7.0f} ms   p95 {pct(alone, 95):7.0f} ms")
    print(f"visual query, {args.sessions} sessions:      p50 {pct(log['visual'], 50):7.0f} ms   "
          f"p95 {pct(log['visual'], 95):7.0f} ms   ratio p50 {pct(log['visual'], 50) / pct(alone, 50):.1f}x")
    print(f"title search (its page reruns):   p50 {pct(log['title'], 50):7.0f} ms   p95 {pct(log['title'], 95):7.0f} ms")
    print(f"browser upload to five results:   p50 {pct(log['browser'], 50):7.0f} ms   "
          f"p95 {pct(log['browser'], 95):7.0f} ms")
    print(f"server peak resident memory: {peak:,.0f} MB")
    for error in log["errors"][:5]:
        print("  error:", error)
    return 1 if log["errors"] else 0


async def _warm(session: Session) -> None:
    await session.open()
    await session.ws.close()


if __name__ == "__main__":
    sys.exit(main())
