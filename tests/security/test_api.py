"""The API starts closed, as an attacker would try it: no keys file, an empty or misspelt one, a
malformed entry, a public address, keys added and removed while it runs, a key reaching past its
data sets, rates that never admit or never limit, bodies too large or sent to waste its time,
photos that hold the event loop, data set names that grow its locks, a reload that fails, ids
that crash it, and what it tells a caller without a key."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from tests.helpers import ROOT, encode, product_picture
from tests.helpers import uvicorn_server as serving
from tests.security.api_server import api_command, api_process, bearer, children, each_worker, run_api, wait_for

NOT_A_KEY_FILE = {
    "missing": None,
    "empty": "",
    "directory": "DIR",
    "misspelt table": '[key.shop]\nscope = "read"\nsha256 = "' + "0" * 64 + '"\n',
}


def _keys_path(tmp_path, text):
    path = tmp_path / "keys.toml"
    if text == "DIR":
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    return path


@pytest.mark.parametrize("kind", list(NOT_A_KEY_FILE))
def test_it_refuses_to_serve_open_on_a_public_address(tmp_path, kind):
    keys = _keys_path(tmp_path, NOT_A_KEY_FILE[kind])
    done = run_api("--host", "0.0.0.0", "--port", "0", "--no-visual", "--keys-file", str(keys))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "add-key" in lines[0], done.stderr


MALFORMED = {
    "sha256 not text": ("shop", 'scope = "read"\nsha256 = 5\n'),
    "rate NaN": ("shop", 'scope = "read"\nrate = nan\nsha256 = "' + "a" * 64 + '"\n'),
    "negative rate": ("shop", 'scope = "read"\nrate = -1\nsha256 = "' + "a" * 64 + '"\n'),
    "unknown scope": ("shop", 'scope = "root"\nsha256 = "' + "a" * 64 + '"\n'),
    "non-ASCII name": ('"café"', 'scope = "read"\nsha256 = "' + "a" * 64 + '"\n'),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_key_stops_the_start_naming_the_entry(tmp_path, kind):
    name, body = MALFORMED[kind]
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.ok]\nscope = "read"\nsha256 = "{"b" * 64}"\n\n[keys.{name}]\n{body}')
    done = run_api("--host", "127.0.0.1", "--port", "0", "--no-visual", "--keys-file", str(keys))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"[keys.{name.strip(chr(34))}]" in lines[0], done.stderr


def test_no_auth_is_for_this_machine_only(tmp_path):
    done = run_api("--no-auth", "--host", "0.0.0.0", "--port", "0", "--no-visual")
    assert done.returncode == 2 and "--no-auth serves this machine only" in done.stderr


def test_no_auth_refuses_a_request_that_came_through_a_proxy(tmp_path):
    with api_process("--no-auth", "--keys-file", str(tmp_path / "none.toml")) as (url, _):
        assert httpx.get(url + "/v1/next-to", params={"item": "pasta"}, timeout=60).status_code == 200
        proxied = httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 403 and "--no-auth" in proxied.json()["detail"]
        forwarded = httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers={"Forwarded": "for=203.0.113.9"})
        assert forwarded.status_code == 403
        for host in ("evil.example:8000", "203.0.113.9", "shop.localhost.evil.example"):  # DNS rebinding's Host
            rebound = httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers={"Host": host})
            assert rebound.status_code == 403 and "localhost" in rebound.json()["detail"], host
        for host in ("localhost", "127.0.0.1:1", "[::1]:8000"):
            assert httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers={"Host": host}).status_code == 200


@pytest.fixture(scope="module")
def closed_api(tmp_path_factory):
    """The API of an empty keys file on loopback, in this process."""
    from api.app import create_app
    from api.keys import Keys, read_keys
    from api.store import Store

    root = tmp_path_factory.mktemp("closed")
    app = create_app(Store(root / "artifacts"), Keys(read_keys(root / "keys.toml")))
    with serving(app) as url:
        yield url


def test_without_keys_nothing_is_served_on_loopback_either(closed_api):
    assert httpx.get(closed_api + "/v1/next-to", params={"item": "pasta"}, timeout=60).status_code == 401
    assert httpx.post(closed_api + "/v1/admin/reload", timeout=60).status_code == 401
    assert httpx.get(closed_api + "/v1/similar-items", params={"id": "1"}, timeout=60).status_code == 401


def test_health_and_readiness_say_only_up_and_ready_and_there_are_no_docs(closed_api):
    assert httpx.get(closed_api + "/healthz").json() == {"status": "ok"}
    assert set(httpx.get(closed_api + "/readyz").json()) == {"ready"}
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(closed_api + path).status_code in (401, 404), path  # closed like any other path


def test_paths_outside_the_routes_need_a_key_too_and_a_browser_preflight_passes(tmp_path):
    from api.app import create_app
    from api.keys import Keys, add_key, read_keys
    from api.store import Store

    token = add_key(tmp_path / "keys.toml", "reader", "read", 0)
    app = create_app(Store(tmp_path / "artifacts"), Keys(read_keys(tmp_path / "keys.toml")), ["https://shop.example.com"])
    with serving(app) as url:
        for path, with_key in (("/v1/nothing-here", 404), ("/admin", 403), ("/v1/admin/status", 403),
                               ("/v1/admin", 403), ("/v1/admin-x", 403)):
            assert httpx.get(url + path).status_code == 401, path
            assert httpx.get(url + path, headers=bearer(token)).status_code == with_key, path  # read scope only
        origin = {"Origin": "https://shop.example.com"}
        preflight = httpx.options(url + "/v1/next-to", headers={**origin, "Access-Control-Request-Method": "GET",
                                                                 "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
        refused = httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers=origin)
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "https://shop.example.com"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(api_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_key_added_or_removed_takes_effect_without_a_restart(tmp_path):
    keys = tmp_path / "keys.toml"
    with api_process("--keys-file", str(keys)) as (url, proc):
        def status(token=None):
            return httpx.get(url + "/v1/next-to", params={"item": "pasta"}, timeout=60,
                             headers=bearer(token) if token else {}).status_code

        assert status() == 401
        made = _cli("add-key", "--name", "shop-front", "--keys-file", str(keys))
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert wait_for(lambda: status(token) == 200, 15)
        listed = _cli("list-keys", "--keys-file", str(keys))
        assert listed.returncode == 0 and listed.stdout.startswith("shop-front\tread\t50/s\t*")
        assert token not in listed.stdout and keys.read_text().count("sha256") == 1
        gone = _cli("remove-key", "--name", "shop-front", "--keys-file", str(keys))
        assert gone.returncode == 0, gone.stderr
        assert wait_for(lambda: status(token) == 401, 15)
        broken = _cli("remove-key", "--name", "shop-front", "--keys-file", str(keys))
        assert broken.returncode == 2 and "No key named 'shop-front'" in broken.stderr


def test_add_key_refuses_what_the_server_could_not_read(tmp_path):
    keys = tmp_path / "keys.toml"
    for args, said in [(("--name", "café"), "not allowed"), (("--name", "a", "--rate", "nan"), "--rate"),
                       (("--name", "a", "--rate", "-2"), "--rate"), (("--name", "a", "--rate", "inf"), "--rate"),
                       (("--name", "a", "--datasets", "../etc"), "not allowed")]:
        done = _cli("add-key", *args, "--keys-file", str(keys))
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
        assert done.stdout == ""  # no key was made
    assert not keys.exists() or "sha256" not in keys.read_text()


def test_a_rate_below_one_request_a_second_still_admits(tmp_path):
    from api.keys import Keys, read_keys

    made = _cli("add-key", "--name", "trickle", "--rate", "0.5", "--keys-file", str(tmp_path / "k.toml"))
    assert made.returncode == 0, made.stderr
    now = [100.0]
    keys = Keys(read_keys(tmp_path / "k.toml"), clock=lambda: now[0])
    key = keys.check(made.stdout.strip())
    assert keys.take(key) == 0  # the first request is admitted
    assert keys.take(key) > 0  # the second, at once, is not
    now[0] += 2.0
    assert keys.take(key) == 0  # two seconds later, one more


def test_the_token_file_holds_the_key_with_mode_0600_and_nothing_is_printed(tmp_path):
    token_file, keys = tmp_path / "shop-front.key", tmp_path / "keys.toml"
    done = _cli("add-key", "--name", "shop-front", "--token-file", str(token_file), "--keys-file", str(keys))
    assert done.returncode == 0, done.stderr
    token = token_file.read_text().strip()
    assert token.startswith("vtr_") and token not in done.stdout + done.stderr
    assert (token_file.stat().st_mode & 0o777) == 0o600 and (keys.stat().st_mode & 0o777) == 0o600
    again = _cli("add-key", "--name", "shop-front", "--token-file", str(token_file), "--if-missing",
                 "--keys-file", str(keys))
    assert again.returncode == 0 and token_file.read_text().strip() == token  # left as it was


def _raw_request(url: str, head: str, body: bytes = b"", wait: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(head.encode() + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data


@pytest.fixture(scope="module")
def shop_api(tmp_path_factory, tiny_shop_workspace):
    """The API over a copy of the tiny workspace with three keys (reader, admin, only-tiny), in this process."""
    from api.app import create_app
    from api.keys import Keys, add_key, read_keys
    from api.store import Store

    root = tmp_path_factory.mktemp("shop_api")
    artifacts = root / "artifacts"
    shutil.copytree(tiny_shop_workspace[0], artifacts, symlinks=True)
    keys_file = root / "keys.toml"
    tokens = {"reader": add_key(keys_file, "reader", "read", 0), "admin": add_key(keys_file, "admin", "admin", 0)}
    store = Store(artifacts, poll_seconds=0.2, weights="none")
    with serving(create_app(store, Keys(read_keys(keys_file)))) as url:
        yield url, tokens, store, artifacts, keys_file


@pytest.mark.slow
def test_a_key_is_checked_before_the_body_is_read(shop_api):
    url = shop_api[0]
    # Headers promise 10 MB that never come: the answer must not wait for them.
    head = ("POST /v1/visual-search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 10000000\r\n\r\n")
    started = time.monotonic()
    answer = _raw_request(url, head, wait=10)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_bodies_past_the_limit_are_refused_and_leave_no_file(shop_api, tmp_path, monkeypatch):
    import tempfile

    import settings

    url, tokens = shop_api[0], shop_api[1]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where an upload would be spooled
    declared = _raw_request(url, "POST /v1/visual-search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                            f"{tokens['reader']}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                            f"Content-Length: {settings.MAX_IMAGE_BYTES * 3}\r\n\r\n")
    assert declared.startswith(b"HTTP/1.1 413"), declared[:80]

    def chunks():  # chunked: no Content-Length to trust
        yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n"
        for _ in range(40):
            yield b"\0" * (1024 * 1024)

    try:
        streamed = httpx.post(url + "/v1/visual-search", headers={**bearer(tokens["reader"]),
                              "Content-Type": "multipart/form-data; boundary=b"}, content=chunks(), timeout=60)
        assert streamed.status_code == 413
    except httpx.WriteError:  # the server answered and closed while the body was still coming
        pass
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 2 * 1024 * 1024
    small = httpx.post(url + "/v1/admin/reload", headers=bearer(tokens["admin"]), content=b"x" * 200_000)
    assert small.status_code == 413


@pytest.mark.slow
def test_a_visual_search_runs_off_the_event_loop(shop_api, monkeypatch):
    from embed.query import QueryEngine

    url, tokens = shop_api[0], shop_api[1]
    on_loop = []
    search = QueryEngine.search

    def watched(self, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(QueryEngine, "search", watched)
    photo = encode(product_picture(3))
    answer = httpx.post(url + "/v1/visual-search", headers=bearer(tokens["reader"]), data={"dataset": "tiny"},
                        files={"image": ("p.jpg", photo, "image/jpeg")}, timeout=120)
    assert answer.status_code == 200, answer.text
    assert on_loop == [False]


def test_names_of_data_sets_that_do_not_exist_leave_nothing_behind(tmp_path):
    from api.store import Store

    store = Store(tmp_path)
    for i in range(300):
        with pytest.raises(LookupError):
            store.get("products", f"nope{i}")
    assert len(store._locks) == 0 and len(store._entries) == 0


@pytest.mark.slow
def test_a_key_reads_only_its_data_sets(shop_api):
    url, keys_file = shop_api[0], shop_api[4]
    made = _cli("add-key", "--name", "only-tiny", "--datasets", "tiny", "--keys-file", str(keys_file))
    assert made.returncode == 0, made.stderr
    from api.keys import Keys, read_keys

    key = Keys(read_keys(keys_file)).check(made.stdout.strip())
    assert key.datasets == ("tiny",) and key.reads("tiny") and not key.reads("superstore")
    assert "every data set" in _cli("add-key", "--name", "all", "--keys-file", str(keys_file)).stderr


@pytest.mark.slow
def test_a_limited_key_over_http(tmp_path, tiny_shop_workspace):
    from api.app import create_app
    from api.keys import Keys, read_keys
    from api.store import Store

    keys_file = tmp_path / "keys.toml"
    made = _cli("add-key", "--name", "only-tiny", "--rate", "0", "--datasets", "tiny", "--keys-file", str(keys_file))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    with serving(create_app(Store(tiny_shop_workspace[0]), Keys(read_keys(keys_file)))) as url:
        ok = httpx.get(url + "/v1/similar-products", params={"id": "4", "dataset": "tiny"}, headers=bearer(token))
        assert ok.status_code == 200
        for params in ({"id": "OFF-BI-10001524"}, {"id": "4", "dataset": "superstore"}, {"id": "4", "dataset": "nope"}):
            refused = httpx.get(url + "/v1/similar-products", params=params, headers=bearer(token), timeout=60)
            assert refused.status_code == 403, params


@pytest.mark.slow
def test_digits_that_are_not_ascii_are_an_unknown_id(shop_api):
    url, tokens = shop_api[0], shop_api[1]
    for odd in ("²", "٣", "1" * 40):
        answer = httpx.get(url + "/v1/similar-items", params={"id": odd}, headers=bearer(tokens["reader"]), timeout=120)
        assert answer.status_code == 404, (odd, answer.text)


@pytest.mark.slow
def test_a_failed_reload_keeps_the_good_version_serving(shop_api):
    url, tokens, store, artifacts = shop_api[:4]
    ask = {"id": "4", "dataset": "tiny"}
    before = httpx.get(url + "/v1/similar-products", params=ask, headers=bearer(tokens["reader"]), timeout=60)
    assert before.status_code == 200
    part = (artifacts / "tiny").resolve() / "similar_products"
    damaged = part / "similar_products.csv"
    damaged.unlink()  # a new file, not the fixture's (the copy shares its files by hard links)
    damaged.write_text("not what the manifest says\n")
    os.utime((artifacts / "tiny").resolve() / "manifest.json")  # a "rebuild" the poll will see
    loads = []
    real_load = store._load
    store._load = lambda *a: loads.append(a) or real_load(*a)
    try:
        time.sleep(0.3)  # past the poll interval
        for _ in range(5):
            again = httpx.get(url + "/v1/similar-products", params=ask, headers=bearer(tokens["reader"]), timeout=60)
            assert again.status_code == 200 and again.json() == before.json()
        assert len(loads) == 1  # tried once, not on every request
        reloaded = httpx.post(url + "/v1/admin/reload", headers=bearer(tokens["admin"]), timeout=120)
        assert reloaded.status_code == 200
        assert "products:tiny" in reloaded.json()["failed"]
        status = httpx.get(url + "/v1/admin/status", headers=bearer(tokens["admin"])).json()
        assert "products:tiny" in status["failed"] and "products:tiny" in status["loaded"]
        assert httpx.get(url + "/v1/admin/status", headers=bearer(tokens["reader"])).status_code == 403
    finally:
        store._load = real_load


@pytest.mark.slow
def test_workers_are_real_processes(tmp_path):
    keys = tmp_path / "keys.toml"
    token = _cli("add-key", "--name", "w", "--keys-file", str(keys)).stdout.strip()
    admin = _cli("add-key", "--name", "ops", "--scope", "admin", "--keys-file", str(keys)).stdout.strip()
    with api_process("--workers", "2", "--keys-file", str(keys)) as (url, proc):
        assert wait_for(lambda: len(children(proc.pid)) == 2, 60), children(proc.pid)
        for _ in range(4):
            answer = httpx.get(url + "/v1/next-to", params={"item": "pasta"}, headers=bearer(token), timeout=120)
            assert answer.status_code == 200
        answered = each_worker(url, admin, lambda seen: len(seen) == 2)  # each connection to one of them
        assert set(answered) == set(children(proc.pid))


@pytest.mark.slow
def test_a_keys_rate_holds_across_workers(tmp_path):
    """Two worker processes share each key's bucket: 48 requests from 16 connections at once get
    at most the key's burst and what it earned meanwhile, not twice that (each worker's own
    bucket let 12 through in 0.9 s)."""
    from concurrent.futures import ThreadPoolExecutor

    keys = tmp_path / "keys.toml"
    token = _cli("add-key", "--name", "w", "--rate", "4", "--keys-file", str(keys)).stdout.strip()
    warm = _cli("add-key", "--name", "warm", "--rate", "0", "--keys-file", str(keys)).stdout.strip()

    def ask(with_token):
        with httpx.Client(timeout=60) as client:  # a connection of its own: any worker may take it
            return client.get(url + "/v1/next-to", params={"item": "pasta"}, headers=bearer(with_token)).status_code

    with api_process("--workers", "2", "--keys-file", str(keys)) as (url, proc):
        assert wait_for(lambda: len(children(proc.pid)) >= 2, 60), children(proc.pid)
        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(ask, [warm] * 32)) == {200}  # both workers have loaded the rules
            bursts = []
            for _ in range(3):  # which worker takes a connection is the kernel's choice: three tries
                time.sleep(1.5)  # the bucket full again
                started = time.monotonic()
                codes = list(pool.map(ask, [token] * 48))
                bursts.append((codes.count(200), codes.count(429), time.monotonic() - started))
    assert all(ok + refused == 48 and refused for ok, refused, _ in bursts), bursts
    assert all(ok <= 4 + 4 * elapsed + 1 for ok, _, elapsed in bursts), bursts


def test_a_websocket_is_closed_before_any_route(tmp_path):
    """No route takes a websocket; one added later must not bypass the key check either."""
    import asyncio

    from api.app import Guard
    from api.keys import Keys

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    guard = Guard(app, Keys([]))
    asyncio.run(guard({"type": "websocket", "path": "/v1/next-to", "headers": []}, receive, send))
    assert reached == [] and sent == [{"type": "websocket.close", "code": 1008}]
    asyncio.run(guard({"type": "lifespan"}, receive, send))
    assert reached == ["lifespan"]

