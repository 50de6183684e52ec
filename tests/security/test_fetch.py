"""A catalogue's picture URLs reach only public addresses (common.netguard through embed.fetch):
loopback in every notation, link-local metadata, private ranges, a name that resolves to
loopback (DNS rebinding: checked once, connected to the checked address), a redirect to a
refused address and proxy variables are all refused, and no request reaches the local server;
an explicit allow-list lets a shop's own server through. Real HTTP servers on 127.0.0.1."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler

import pytest
from PIL import Image

from embed.fetch import Fetcher
from tests.helpers import encode, http_server


PICTURE = encode(Image.new("RGB", (20, 20), (10, 120, 200)))


class Pictures(BaseHTTPRequestHandler):
    """Counts every request; /x.jpg is a picture, /away redirects to the `away` class attribute."""
    hits: list[str] = []
    away = ""
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with type(self).lock:
            type(self).hits.append(self.path)
        if self.path.startswith("/away"):
            self.send_response(302)
            self.send_header("Location", type(self).away)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(PICTURE)))
        self.end_headers()
        self.wfile.write(PICTURE)

    do_CONNECT = do_GET


@pytest.fixture
def server():
    Pictures.hits = []
    with http_server(Pictures) as url:
        yield url, int(url.rsplit(":", 1)[1].split("/")[0])


def fetch(url: str, **kw):
    with Fetcher(**{"timeout": 2.0, "retries": 0, "sleep": lambda s: None, **kw}) as f:
        return f.fetch(url)


class Names(dict):
    """Names the resolver answers: each a list of answers, one per lookup in turn (the last repeats)."""

    def __init__(self):
        super().__init__()
        self.asked: list[str] = []


@pytest.fixture
def dns(monkeypatch):
    """The system resolver (socket.getaddrinfo, where every lookup ends, the old code's included)
    answering the names put in the returned `Names`; other names as usual."""
    real, names = socket.getaddrinfo, Names()

    def getaddrinfo(host, port, *args, **kw):
        if host not in names:
            return real(host, port, *args, **kw)
        names.asked.append(host)
        turns = names[host]
        address = turns.pop(0) if len(turns) > 1 else turns[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def allowing(monkeypatch, *hosts):
    """The allow-list as a deployment sets it (VITRINE_FETCH_ALLOW, read into settings.FETCH_ALLOW)."""
    import settings
    monkeypatch.setattr(settings, "FETCH_ALLOW", list(hosts), raising=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "127.1", "0177.0.0.1"])
def test_loopback_in_any_notation_is_refused_and_never_reached(server, host):
    _, port = server
    got = fetch(f"http://user:s3cret@{host}:{port}/x.jpg?token=abc")
    assert not got.ok and got.data is None
    if host != "0177.0.0.1":  # httpx itself refuses that URL ("not a URL"): nothing is sent either way
        assert "refused" in got.reason and "loopback" in got.reason and "--allow-fetch-host" in got.reason
    assert "s3cret" not in got.reason and "abc" not in got.reason and "\n" not in got.reason
    assert Pictures.hits == []


@pytest.mark.parametrize("host, why", [("169.254.169.254", "link-local"), ("10.0.0.1", "private"),
                                       ("[fe80::1]", "link-local"), ("[64:ff9b::7f00:1]", "NAT64"),
                                       ("0.0.0.0", "unspecified")])
def test_metadata_private_and_disguised_addresses_are_refused(host, why):
    got = fetch(f"http://{host}/latest/meta-data/")
    assert not got.ok and why in got.reason and "refused" in got.reason


def test_a_name_that_resolves_to_loopback_is_refused(server, dns):
    _, port = server
    dns["pictures.example.com"] = ["127.0.0.1"]
    got = fetch(f"http://pictures.example.com:{port}/x.jpg")
    assert not got.ok and "pictures.example.com (127.0.0.1)" in got.reason and "loopback" in got.reason
    assert Pictures.hits == []


def test_dns_rebinding_cannot_swap_the_checked_address(server, dns):
    """The name is resolved once per connection and the socket goes to that very address: a
    resolver that answers public first and loopback second never gets its second answer used."""
    _, port = server
    dns["rebind.example.com"] = ["93.184.215.14", "127.0.0.1"]
    got = fetch(f"http://rebind.example.com:{port}/x.jpg", timeout=0.5)
    assert dns.asked == ["rebind.example.com"]  # one lookup, not a second one at connect time
    assert not got.ok and Pictures.hits == []  # it tried 93.184.215.14 (unreachable here), never 127.0.0.1


def test_an_allowed_server_that_redirects_to_a_refused_address_is_not_followed(server, monkeypatch):
    base, port = server
    allowing(monkeypatch, "127.0.0.1")
    with http_server(Pictures) as _:
        Pictures.away = "http://169.254.169.254/latest/meta-data/"
        got = fetch(f"{base}/away")
    assert not got.ok and "169.254.169.254" in got.reason and "link-local" in got.reason
    assert Pictures.hits == ["/away"]
    Pictures.hits = []
    Pictures.away = f"http://[::ffff:127.0.0.1]:{port}/x.jpg"  # allowed as 127.0.0.1, so followed
    assert fetch(f"{base}/away").ok


def test_a_redirect_from_a_public_looking_name_to_loopback_is_refused(server, dns, monkeypatch):
    base, port = server
    allowing(monkeypatch, "shop.lan")
    dns["shop.lan"] = ["127.0.0.1"]
    Pictures.away = f"http://2130706433:{port}/x.jpg"
    got = fetch(f"http://shop.lan:{port}/away")
    assert not got.ok and "2130706433 (127.0.0.1)" in got.reason and "redirected to" in got.reason
    assert Pictures.hits == ["/away"]


def test_proxy_variables_and_netrc_are_not_used(server, monkeypatch, tmp_path):
    base, port = server
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, base)
    (tmp_path / ".netrc").write_text("machine 93.184.215.14 login me password s3cret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    got = fetch("http://93.184.215.14/x.jpg", timeout=0.5)
    assert not got.ok
    assert Pictures.hits == []  # the local "proxy" heard nothing


def test_the_allow_list_lets_a_shops_own_server_through(server, dns, monkeypatch):
    base, port = server
    dns["pictures.shop.lan"] = ["127.0.0.1"]
    by_name = f"http://pictures.shop.lan:{port}/x.jpg"
    allowing(monkeypatch, "127.0.0.1")  # an address
    assert fetch(f"{base}/x.jpg").data == PICTURE and fetch(by_name).data == PICTURE
    allowing(monkeypatch, "127.0.0.0/8")  # a range
    assert fetch(f"{base}/x.jpg").data == PICTURE
    allowing(monkeypatch, "*.shop.lan")  # a domain: its names, not the address itself
    assert fetch(by_name).data == PICTURE
    assert "loopback" in fetch(f"{base}/x.jpg").reason
    assert len(Pictures.hits) == 4


def test_the_embed_cli_refuses_loopback_and_reports_it_as_a_skipped_picture(server, tmp_path):
    """Through `python -m embed build`: a loopback URL is skipped with its reason in the
    manifest, the build goes on with the allowed picture, and the server hears only that one."""
    import json
    import subprocess
    import sys

    base, port = server
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(f"id,image\n1,http://localhost:{port}/x.jpg\n2,http://2130706433:{port}/y.jpg\n")
    out = tmp_path / "index"
    done = subprocess.run([sys.executable, "-m", "embed", "build", "--catalogue", str(catalogue), "--out", str(out),
                           "--weights", "none", "--quiet", "--allow-fetch-host", "localhost"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    reasons = {s["id"]: s["reason"] for s in manifest["skipped"]}
    assert manifest["count"] == 1 and set(reasons) == {"2"} and "loopback" in reasons["2"], reasons
    assert Pictures.hits == ["/x.jpg"]
