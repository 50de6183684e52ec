"""compose.yaml's hosting, run for real where no image can be pulled: the database's first-start SQL
against a real PostgreSQL, the first-key step and the API it starts, and deploy/nginx's config in a
real nginx in front of the real API (TLS, the redirect, body limits, the forwarded headers).

Each step is read from compose.yaml itself (commands, mounts, environment), with the container's
paths remapped into a temporary folder, so what is tested is what `docker compose up` runs."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import ROOT, compose_interpolate, free_port
from tests.security.api_server import bearer, wait_up
from tests.security.proxy import NGINX_CONF, Nginx, self_signed

COMPOSE = ROOT / "compose.yaml"
SHOP_ORIGIN = "https://shop.example.com"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _named_mounts(service: dict, root: Path) -> dict[str, Path]:
    """The service's named volumes (NAME:/path), as folders of `root` (one per volume name)."""
    mounts = {}
    for volume in service.get("volumes", []):
        name, target = volume.split(":")[:2]
        if not name.startswith((".", "/")):
            (root / name).mkdir(exist_ok=True)
            mounts[target] = root / name
    return mounts


def _remap(command: list[str], mounts: dict[str, Path]) -> list[str]:
    out = []
    for arg in command:
        for target, local in mounts.items():
            if arg == target or arg.startswith(target + "/"):
                arg = str(local) + arg[len(target):]
        out.append(arg)
    return out


def _set_flag(command: list[str], flag: str, value: str) -> list[str]:
    assert flag in command, f"{flag} is not in {command}"
    i = command.index(flag)
    return command[:i + 1] + [value] + command[i + 2:]


# --- (1) the database's roles -------------------------------------------------------------------

def _psql(server, sql: str) -> str:
    from tests import postgres as pg

    done = subprocess.run([str(pg.bindir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                           "-p", str(server.port), "-U", pg.USER, "-d", pg.DATABASE, "-c", sql],
                          env={**os.environ, "PGPASSWORD": pg.PASSWORD}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _denied(conn, statement: str) -> bool:
    """True when `statement`, in a read-write transaction, is refused for want of a privilege."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ WRITE")
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


@pytest.mark.slow
def test_compose_makes_a_read_only_reader_and_a_separate_export_role():
    import psycopg

    from tests import postgres as pg

    db = _services()["db"]
    scripts = [v for v in db.get("volumes", []) if ":/docker-entrypoint-initdb.d/" in v]
    assert scripts, "compose.yaml's db runs no SQL at the database's first start (no /docker-entrypoint-initdb.d/ mount)"
    env = {name: str(value) for name, value in db["environment"].items()}
    assert env.get("POSTGRES_DB") == pg.DATABASE
    from_dotenv = sorted({m for v in env.values() for m in re.findall(r"\$\{(\w+)", v)})
    assert {"VITRINE_READER_PASSWORD", "VITRINE_EXPORT_PASSWORD", "POSTGRES_PASSWORD"} <= set(from_dotenv)
    dotenv = {name: f"{name.lower()}-{secrets.token_hex(8)}" for name in from_dotenv}  # each one different
    container_env = {name: compose_interpolate(value, dotenv) for name, value in env.items()}
    reader_pw, export_pw = dotenv["VITRINE_READER_PASSWORD"], dotenv["VITRINE_EXPORT_PASSWORD"]

    server, stop = pg.start()
    try:
        # A database as the postgres image first makes it: no Vitrine role yet (the fixture's own go).
        for role in ("vitrine_reader", "vitrine_export"):
            if _psql(server, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == "1":
                _psql(server, f"DROP OWNED BY {role}")
                _psql(server, f"DROP ROLE {role}")
        _psql(server, "CREATE TABLE customers (id text); INSERT INTO customers VALUES ('c1')")
        for script in scripts:  # as docker-entrypoint.sh runs a .sql file: psql as POSTGRES_USER, its environment
            source = ROOT / script.split(":")[0]
            assert source.suffix == ".sql" and source.is_file(), script
            done = subprocess.run([str(pg.bindir() / "psql"), "-v", "ON_ERROR_STOP=1", "--no-password", "--no-psqlrc",
                                   "-h", "127.0.0.1", "-p", str(server.port), "-U", pg.USER,
                                   "--dbname", container_env["POSTGRES_DB"], "-f", str(source)],
                                  env={**os.environ, **container_env, "PGPASSWORD": pg.PASSWORD},
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            assert reader_pw not in done.stdout + done.stderr and export_pw not in done.stdout + done.stderr
        # The shop's orders, loaded afterwards by the bootstrap superuser (the compose order).
        _psql(server, "CREATE TABLE order_lines (invoice text, item text, quantity int); "
                      "INSERT INTO order_lines VALUES ('i1', 'pasta', 2)")

        def connect(role, password):
            return psycopg.connect(host="127.0.0.1", port=server.port, dbname=pg.DATABASE, user=role,
                                   password=password, autocommit=True)

        flags = _psql(server, "SELECT string_agg(rolname || ':' || rolsuper || rolcreaterole || rolcreatedb || "
                              "rolbypassrls || rolreplication, ',' ORDER BY rolname) FROM pg_roles "
                              "WHERE rolname IN ('vitrine_reader', 'vitrine_export')")
        assert flags == "vitrine_export:falsefalsefalsefalsefalse,vitrine_reader:falsefalsefalsefalsefalse"
        with pytest.raises(psycopg.OperationalError):
            connect("vitrine_reader", export_pw).close()  # each role has its own password

        with connect("vitrine_reader", reader_pw) as reader:
            assert reader.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 1
            assert reader.execute("SELECT count(*) FROM customers").fetchone()[0] == 1
            assert reader.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
            for statement in ("INSERT INTO order_lines VALUES ('i2', 'x', 1)", "DELETE FROM order_lines",
                              "UPDATE order_lines SET quantity = 0", "TRUNCATE order_lines",
                              "CREATE TABLE public.planted (i int)", "CREATE SCHEMA planted",
                              "CREATE TABLE vitrine_export.planted (i int)", "DROP TABLE order_lines"):
                assert _denied(reader, statement), f"vitrine_reader may: {statement}"

        with connect("vitrine_export", export_pw) as exporter:
            with exporter.transaction():
                exporter.execute("CREATE TABLE vitrine_similar_products (item text, rank int)")
                exporter.execute("INSERT INTO vitrine_similar_products VALUES ('pasta', 1)")
            where = exporter.execute("SELECT table_schema FROM information_schema.tables "
                                     "WHERE table_name = 'vitrine_similar_products'").fetchone()[0]
            assert where == "vitrine_export"  # its own schema, not the shop's
            for statement in ("SELECT * FROM public.order_lines", "INSERT INTO public.order_lines VALUES ('i', 'x', 1)",
                              "DELETE FROM public.order_lines", "CREATE TABLE public.planted (i int)"):
                assert _denied(exporter, statement), f"vitrine_export may: {statement}"
    finally:
        stop()


# --- (2) the first key ----------------------------------------------------------------------------

def _first_key_step(services: dict) -> tuple[str, list[str]]:
    steps = [(name, s["command"]) for name, s in services.items()
             if isinstance(s.get("command"), list) and "add-key" in s["command"]]
    assert len(steps) == 1, "compose.yaml has no step that makes the API's first key before it starts"
    return steps[0]


def test_compose_writes_the_first_key_to_a_0600_file_the_api_then_accepts(tmp_path):
    services = _services()
    step_name, add = _first_key_step(services)
    api = services["api"]
    assert api["depends_on"][step_name]["condition"] == "service_completed_successfully"  # before the API listens
    assert add[:4] == ["python", "-m", "api", "add-key"] and "--if-missing" in add
    mounts = _named_mounts(services[step_name], tmp_path)
    add = [sys.executable] + _remap(add, mounts)[1:]
    token_file = Path(add[add.index("--token-file") + 1])
    assert any(token_file.is_relative_to(local) for local in mounts.values()), "the key is not written to a volume"

    made = subprocess.run(add, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 40
    assert made.stdout == "" and token not in made.stderr  # nothing for `docker logs` to keep
    again = subprocess.run(add, cwd=ROOT, capture_output=True, text=True, timeout=60)  # the next `up`
    assert again.returncode == 0, again.stderr
    assert token_file.read_text().strip() == token and token not in again.stdout + again.stderr

    serve = _remap([compose_interpolate(a, {"SHOP_ORIGIN": SHOP_ORIGIN}) for a in api["command"]],
                   {**_named_mounts(api, tmp_path), **mounts})
    assert serve[:3] == ["python", "-m", "api"]
    port = free_port()
    serve = _set_flag(_set_flag(serve, "--host", "127.0.0.1"), "--port", str(port))
    proc = subprocess.Popen([sys.executable, *serve[1:], "--no-visual"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, proc)
        lookup = url + "/v1/next-to?item=pasta"
        assert httpx.get(lookup, timeout=60).status_code == 401
        assert httpx.get(lookup, headers=bearer(token), timeout=60).status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert token not in out + err

    # The key removed but its file left: the step refuses (exit 2, naming the file) rather than store a
    # key nobody holds, so compose does not start the API; the old file is left as it was.
    keys_file = add[add.index("--keys-file") + 1]
    removed = subprocess.run([sys.executable, "-m", "api", "remove-key", "--name", add[add.index("--name") + 1],
                              "--keys-file", keys_file], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    refused = subprocess.run(add, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and str(token_file) in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert token_file.read_text().strip() == token and "sha256" not in Path(keys_file).read_text()


# --- (3) nginx in front of the API --------------------------------------------------------------

def _app_stand_in():
    """A websocket server where Streamlit would be: a plain GET answers the headers it received as
    JSON; /_stcore/stream upgrades, sends them, then echoes."""
    from websockets.sync.server import serve

    def headers(request) -> str:  # and which stand-in answered (several stand for app replicas)
        return json.dumps({**{k.lower(): v for k, v in request.headers.raw_items()}, "_port": port})

    def process_request(connection, request):
        if not request.path.startswith("/_stcore/stream"):
            return connection.respond(200, headers(request))
        return None

    def handler(ws):
        ws.send(headers(ws.request))
        for message in ws:
            ws.send(message)

    port = free_port()
    server = serve(handler, "127.0.0.1", port, process_request=process_request)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return port, server


def _start_api(*args: str) -> tuple[int, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--no-visual", *args], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_up(f"http://127.0.0.1:{port}", proc)
    return port, proc


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """nginx (deploy/nginx) with a self-signed certificate in front of the real API with a key, and
    a second one in front of an API started with --no-auth; None when there is no nginx config."""
    if not NGINX_CONF.is_file():
        yield None
        return
    root = tmp_path_factory.mktemp("proxy")
    os.chmod(root, 0o755)
    certs = self_signed(root / "certs")
    keys, token_file = root / "api_keys.toml", root / "shop-front.key"
    added = subprocess.run([sys.executable, "-m", "api", "add-key", "--name", "shop-front", "--keys-file", str(keys),
                            "--token-file", str(token_file)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    app_port, app_server = _app_stand_in()
    api_port, api = _start_api("--keys-file", str(keys))
    open_port, open_api = _start_api("--no-auth", "--keys-file", str(root / "none.toml"))
    (root / "keyed").mkdir()
    (root / "open").mkdir()
    keyed, in_front_of_open = Nginx(root / "keyed", certs, app_port, api_port), \
        Nginx(root / "open", certs, app_port, open_port)
    tls = ssl.create_default_context(cafile=str(certs / "fullchain.pem"))
    try:
        yield {"nginx": keyed, "open": in_front_of_open, "open_api": f"http://127.0.0.1:{open_port}", "certs": certs,
               "token": token_file.read_text().strip(), "tls": tls}
    finally:
        for proxy in (keyed, in_front_of_open):
            proxy.stop()
        for proc in (api, open_api):
            proc.terminate()
            proc.wait(timeout=30)
        app_server.shutdown()


def _need(proxied) -> dict:
    assert proxied is not None, f"no nginx config for the proxy ({NGINX_CONF.relative_to(ROOT)})"
    return proxied


def _status_line(port: int, tls: ssl.SSLContext, head: str) -> str:
    """Send only a request's head (its Content-Length promises a body never sent) and read the
    status line: nginx must answer from the head alone."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
            tls.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("latin-1")


@pytest.mark.slow
def test_the_proxy_serves_the_api_over_tls_with_its_key_only(proxied):
    p = _need(proxied)
    with httpx.Client(verify=p["tls"], timeout=60) as client:
        lookup = p["nginx"].url + "/api/v1/next-to?item=pasta"
        answered = client.get(lookup, headers=bearer(p["token"]))
        assert answered.status_code == 200, answered.text
        refused = client.get(lookup)
        assert refused.status_code == 401 and "API key" in refused.json()["detail"]  # the API's own answer
        for answer in (answered, refused):
            assert answer.headers["server"] == "nginx"  # no version, and not uvicorn's
            hsts = answer.headers.get("strict-transport-security", "")
            assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000
        cookie = client.get(p["nginx"].url + "/", headers={"Cookie": "_streamlit_user=signed-in"}).json()
        assert cookie.get("cookie") == "_streamlit_user=signed-in"  # the app gets its sign-in cookie (the API not)
    plain = httpx.get(f"http://127.0.0.1:{p['nginx'].http}/api/v1/next-to?item=pasta",
                      headers=bearer(p["token"]), follow_redirects=False)
    assert plain.status_code == 301 and plain.headers["location"] == "https://localhost/api/v1/next-to?item=pasta"
    with socket.create_connection(("127.0.0.1", p["nginx"].https), timeout=10) as raw:  # another name: no handshake
        with pytest.raises(ssl.SSLError):
            p["tls"].wrap_socket(raw, server_hostname="other.example.com")
    with pytest.raises(httpx.RemoteProtocolError):  # nor an answer for another Host over this name's handshake
        httpx.get(p["nginx"].url + "/", headers={"Host": "other.example.com"}, verify=p["tls"], timeout=10)


@pytest.mark.slow
def test_the_proxy_refuses_a_body_over_the_limit_before_the_api_reads_it(proxied):
    p = _need(proxied)
    from api.app import MAX_BODY, MAX_UPLOAD_BODY

    port, key = p["nginx"].https, p["token"]

    def post(path: str, length: int) -> str:
        return _status_line(port, p["tls"], f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n"
                                            f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n")

    over_photo = post("/api/v1/visual-search", MAX_UPLOAD_BODY + 1024 * 1024)
    assert over_photo.startswith("HTTP/1.1 413") and "\r\nServer: nginx\r\n" in over_photo
    assert post("/api/v1/admin/reload", MAX_BODY + 1024 * 1024).startswith("HTTP/1.1 413")
    assert post("/_stcore/upload_file/s/f", 302 * 1024 * 1024).startswith("HTTP/1.1 413")  # past maxUploadSize
    # A photo of the API's largest size gets through to the API, which answers it (JSON, not nginx's page).
    photo = httpx.post(p["nginx"].url + "/api/v1/visual-search", headers=bearer(key), verify=p["tls"], timeout=120,
                       files={"image": ("big.jpg", b"\xff" * (MAX_UPLOAD_BODY - 64 * 1024), "image/jpeg")})
    assert "json" in photo.headers["content-type"], photo.text


@pytest.mark.slow
def test_the_proxy_says_the_caller_is_remote_so_a_keyless_api_refuses(proxied):
    p = _need(proxied)
    assert httpx.get(p["open_api"] + "/v1/next-to?item=pasta", timeout=60).status_code == 200  # this machine: open
    through = httpx.get(p["open"].url + "/api/v1/next-to?item=pasta", verify=p["tls"], timeout=60)
    assert through.status_code == 403 and "--no-auth" in through.json()["detail"]
    seen = httpx.get(p["nginx"].url + "/", verify=p["tls"], timeout=60,
                     headers={"X-Forwarded-For": "203.0.113.9"}).json()  # what the app receives
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "https"  # a client's own dropped


@pytest.mark.slow
def test_the_proxy_carries_streamlits_websocket(proxied):
    from websockets.sync.client import connect

    p = _need(proxied)
    with connect(p["nginx"].url.replace("https://", "wss://") + "/_stcore/stream", ssl=p["tls"],
                 open_timeout=20) as ws:
        upstream = json.loads(ws.recv(timeout=20))
        assert upstream["upgrade"].lower() == "websocket" and upstream["x-forwarded-proto"] == "https"
        ws.send("rerun")
        assert ws.recv(timeout=20) == "rerun"


@pytest.fixture(scope="module")
def streamlit_behind_proxy(proxied, tmp_path_factory):
    """Real Streamlit, with compose's app flags (its own address and port, a one-line page instead
    of the whole app), behind deploy/nginx on a port that is not 443 (as in a trial)."""
    if proxied is None:
        yield None
        return
    root = tmp_path_factory.mktemp("streamlit")
    os.chmod(root, 0o755)
    page = root / "page.py"
    page.write_text("import streamlit as st\nst.write('behind the proxy')\n")
    command = _services()["app"]["command"]
    port = free_port()
    command = _set_flag(_set_flag(command, "--server.address", "127.0.0.1"), "--server.port", str(port))
    command = [sys.executable, "-m", "streamlit", "run", str(page), *command[3:], "--server.headless", "true"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    (root / "proxy").mkdir()
    nginx = None
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "Streamlit did not come up"
            time.sleep(0.2)
        nginx = Nginx(root / "proxy", proxied["certs"], port, free_port())
        yield nginx, proxied["tls"]
    finally:
        if nginx is not None:
            nginx.stop()
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_streamlit_accepts_its_websocket_through_the_proxy(streamlit_behind_proxy):
    from websockets.sync.client import connect

    assert streamlit_behind_proxy is not None, f"no nginx config for the proxy ({NGINX_CONF.relative_to(ROOT)})"
    nginx, tls = streamlit_behind_proxy
    health = httpx.get(nginx.url + "/_stcore/health", verify=tls, timeout=30)
    assert health.status_code == 200 and health.headers["server"] == "nginx"
    # What a browser on https://localhost:PORT/ sends: its page's origin, Streamlit's subprotocol.
    with connect(nginx.url.replace("https://", "wss://") + "/_stcore/stream", ssl=tls, open_timeout=30,
                 origin=nginx.url, subprotocols=["streamlit"]) as ws:
        assert ws.subprotocol == "streamlit"  # accepted: same origin as far as Streamlit can tell


# --- (4) several app processes behind the proxy ---------------------------------------------------

@pytest.fixture(scope="module")
def two_apps(proxied, tmp_path_factory):
    """Two app stand-ins behind deploy/nginx (what `app` resolves to with two replicas), routed as
    the config routes them, and the same config without the visitor's routing."""
    if proxied is None:
        yield None
        return
    root = tmp_path_factory.mktemp("replicas")
    os.chmod(root, 0o755)
    apps = [_app_stand_in() for _ in range(2)]
    ports = [port for port, _ in apps]
    (root / "sticky").mkdir()
    (root / "loose").mkdir()
    sticky = Nginx(root / "sticky", proxied["certs"], ports, free_port())
    loose = Nginx(root / "loose", proxied["certs"], ports, free_port(), sticky=False)
    try:
        yield sticky, loose, ports, proxied["tls"]
    finally:
        for proxy in (sticky, loose):
            proxy.stop()
        for _, server in apps:
            server.shutdown()


def _served_by(client: httpx.Client, url: str) -> int:
    return client.get(url, timeout=30).json()["_port"]


@pytest.mark.slow
def test_a_visitor_stays_with_one_app_process_and_visitors_spread_over_all(two_apps):
    from websockets.sync.client import connect

    assert two_apps is not None, f"no nginx config for the proxy ({NGINX_CONF.relative_to(ROOT)})"
    sticky, loose, ports, tls = two_apps
    with httpx.Client(verify=tls) as visitor:
        first = visitor.get(sticky.url + "/", timeout=30)
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("vitrine_node=") and {"Secure", "HttpOnly", "SameSite=Lax"} <= {
            part.strip() for part in cookie.split(";")}
        home = first.json()["_port"]
        # every later request of this visitor (page, upload, its websocket) reaches the same process
        assert {_served_by(visitor, sticky.url + path) for path in ["/", "/_stcore/upload_file/x"] * 10} == {home}
        assert "set-cookie" not in visitor.get(sticky.url + "/", timeout=30).headers  # set once
        header = f"vitrine_node={visitor.cookies['vitrine_node']}"
        with connect(sticky.url.replace("https://", "wss://") + "/_stcore/stream", ssl=tls, open_timeout=20,
                     additional_headers={"Cookie": header}) as ws:
            assert json.loads(ws.recv(timeout=20))["_port"] == home
    newcomers = [_served_by(httpx.Client(verify=tls), sticky.url + "/") for _ in range(24)]
    assert set(newcomers) == set(ports)  # each newcomer's random id: the visitors spread over both
    # Without the routing the same visitor's requests alternate between the processes: a session's
    # upload or websocket would reach a process that does not hold it.
    with httpx.Client(verify=tls) as visitor:
        assert len({_served_by(visitor, loose.url + "/") for _ in range(6)}) == 2
