"""The API served by a real uvicorn on a free port of 127.0.0.1, in this process (so the test can
move the rate limiter's and the poll's clock instead of sleeping)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import uvicorn_server


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    url: str
    keys: dict[str, str]  # name -> the key itself
    clock: Clock
    artifacts: Path

    def get(self, path: str, key: str | None = "reader", **kw) -> httpx.Response:
        headers = {**({"Authorization": f"Bearer {self.keys[key]}"} if key else {}), **kw.pop("headers", {})}
        return httpx.get(self.url + path, headers=headers, timeout=60, **kw)

    def post(self, path: str, key: str | None = "reader", **kw) -> httpx.Response:
        headers = {**({"Authorization": f"Bearer {self.keys[key]}"} if key else {}), **kw.pop("headers", {})}
        return httpx.post(self.url + path, headers=headers, timeout=120, **kw)


@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_visual_index, tiny_shop_workspace):
    import settings
    from api.app import create_app
    from api.keys import Keys, add_key, read_keys
    from api.store import Store
    from tests.conftest import _use_tiny_index

    root = tmp_path_factory.mktemp("api")
    artifacts = root / "artifacts"
    shutil.copytree(tiny_shop_workspace[0], artifacts, symlinks=True)
    keys_file = root / "api_keys.toml"
    tokens = {"reader": add_key(keys_file, "reader", "read", 0), "admin": add_key(keys_file, "admin", "admin", 0),
              "slow": add_key(keys_file, "slow", "read", 2),
              "narrow": add_key(keys_file, "narrow", "read", 0, datasets=["superstore", "tiny"])}
    clock = Clock()
    with pytest.MonkeyPatch.context() as mp:
        _use_tiny_index(mp, tiny_visual_index)
        mp.setattr(settings, "ARTIFACTS_DIR", artifacts)
        store = Store(artifacts, poll_seconds=30, clock=clock)
        app = create_app(store, Keys(read_keys(keys_file), clock=clock), ["https://shop.example.com"], docs=True)
        with uvicorn_server(app) as url:
            yield Served(url, tokens, clock, artifacts)
