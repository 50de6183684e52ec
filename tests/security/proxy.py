"""deploy/nginx's config in a real nginx (Debian's) on 127.0.0.1, as the tests run it: the
config rendered with this machine's ports and paths inside a minimal main config, a self-signed
certificate for `localhost`, and a log of which upstream answered each request."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers import ROOT, free_port

NGINX_CONF = ROOT / "deploy" / "nginx" / "vitrine.conf.template"


def self_signed(certs: Path) -> Path:
    """A certificate for `localhost` and its key, as deploy/certs holds them: the folder."""
    certs.mkdir()
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                           "-keyout", str(certs / "privkey.pem"), "-out", str(certs / "fullchain.pem")],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return certs


def render(folder: Path, certs: Path, https: int, http: int, app: int | list[int], api: int,
           sticky: bool = True) -> Path:
    """deploy/nginx's config as nginx runs it, with this machine's ports and paths, inside a
    minimal main config (the nginx image's own nginx.conf includes it in its http block); `app`
    may be several processes (what the name app resolves to with replicas); `sticky=False` drops
    the visitor's routing, to show what it is for. routed.log says, per request, the visitor's
    routing id (their vitrine_node cookie, or the one being set), the upstream that answered and
    the path."""
    text = NGINX_CONF.read_text()
    apps = "\n    ".join(f"server 127.0.0.1:{port};" for port in (app if isinstance(app, list) else [app]))
    if not sticky:
        assert "    hash $vitrine_node consistent;\n" in text
        text = text.replace("    hash $vitrine_node consistent;\n", "")
    for old, new in (("listen 80 default_server;", f"listen 127.0.0.1:{http} default_server;"),
                     ("listen 443 ", f"listen 127.0.0.1:{https} "), ("server app:8501;", apps),
                     ("server api:8000;", f"server 127.0.0.1:{api};"), ("/etc/nginx/certs/", f"{certs}/"),
                     ("${VITRINE_HOST}", "localhost")):
        assert old in text, f"{NGINX_CONF.name} has no {old!r}"
        text = text.replace(old, new)
    (folder / "vitrine.conf").write_text(text)
    user = "user root;\n" if os.geteuid() == 0 else ""  # the workers read this test's folder
    main = folder / "nginx.conf"
    main.write_text(f"""{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format routed '$vitrine_node $upstream_addr $request_uri';
    access_log {folder}/routed.log routed;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/vitrine.conf;
}}
""")
    return main


class Nginx:
    """nginx on 127.0.0.1 (`https` and `http` ports, free ones unless given) in front of the app
    process(es) on `app` and the API on `api`."""

    def __init__(self, folder: Path, certs: Path, app: int | list[int], api: int, sticky: bool = True,
                 https: int | None = None):
        folder.mkdir(exist_ok=True)
        self.folder, self.https, self.http = folder, https or free_port(), free_port()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = render(folder, certs, self.https, self.http, app, api, sticky)
        base = [nginx, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.https), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline, (folder / "error.log").read_text()
                time.sleep(0.05)
        self.url = f"https://localhost:{self.https}"

    def routed(self) -> list[tuple[str, str, str]]:
        """(routing id, upstream address, path) of every request logged so far."""
        log = self.folder / "routed.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [tuple(line.split(" ", 2)) for line in lines if line.count(" ") >= 2]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
