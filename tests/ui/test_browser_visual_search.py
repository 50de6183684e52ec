"""End to end in a real browser: `streamlit run`, headless Chromium uploads a photo and sees
five result images. Needs a Chromium: Debian's /usr/bin/chromium (`.ci/run` installs it),
or one named by $VITRINE_CHROMIUM."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.helpers import ROOT

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


pytestmark = pytest.mark.browser


def chromium() -> str:
    path = os.environ.get("VITRINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("The browser test needs Chromium: `apt-get install chromium` (Debian/Ubuntu), or set "
                    "VITRINE_CHROMIUM to a Chromium binary.", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, "streamlit exited early"
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("streamlit did not become healthy")


def test_upload_in_chromium_shows_five_results(tiny_visual_index, tmp_path):
    index, images, catalog = tiny_visual_index
    port = free_port()
    env = {**os.environ, "VITRINE_VISUAL_INDEX": str(index), "VITRINE_CATALOG_IMAGES": str(images),
           "VITRINE_CATALOG": str(catalog), "VITRINE_WEIGHTS": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.locator("input[type=file]").first.set_input_files(str(images / "4.jpg"), timeout=120_000)
            buttons = page.get_by_role("button", name="More like this")
            buttons.nth(4).wait_for(timeout=120_000)
            assert buttons.count() == 5
            results = page.locator("[data-testid='stImage'] img")
            assert results.count() == 6  # the shopper's photo and five products
            assert page.get_by_text("Black Heels", exact=True).count() == 0  # not its own neighbour
            shot = tmp_path / "visual_search.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
