"""What a server may connect to when a visitor or a catalogue names a URL: public addresses only,
unless an operator allowed a host or a range (`--allow-fetch-host`, VITRINE_FETCH_ALLOW).

- `Allow` parses the allow-list (host names, `*.domain`, IP addresses, CIDR ranges).
- `refusal(address)` says why an address is not public: loopback, private, link-local (the
  cloud metadata 169.254.169.254), multicast, reserved, unspecified, and the IPv6 forms that
  carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo).
- `literal(host)` reads an IP address in any notation a URL allows (2130706433, 0x7f.1, 127.1,
  [::ffff:127.0.0.1]), so a disguised address is checked like a plain one.
- `GuardedBackend` is an httpcore network backend: it resolves a host once, checks every address
  and connects to the checked address itself (no second lookup: DNS rebinding cannot swap it),
  while TLS keeps the host name for SNI and the certificate check. Every connection, redirects
  included, goes through it. `guarded_client` is an httpx.Client on it that ignores proxy
  variables and .netrc (trust_env=False).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from common.errors import InputError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]  # host name -> its addresses, as text
ALLOW_HOW = "--allow-fetch-host {what} or VITRINE_FETCH_ALLOW"

NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # the deprecated ::a.b.c.d form
_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class AddressRefused(httpx.TransportError):
    """A URL's host is not public and not allowed; the message says which address, why, and how
    to allow it."""


def system_resolver(host: str) -> list[str]:
    """The host's addresses from the system resolver (socket.getaddrinfo), in its order, once each."""
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def literal(host: str) -> Address | None:
    """The IP address `host` is written as, in any notation a URL accepts (dotted, decimal, octal,
    hex, shortened; IPv6 in brackets), or None for a host name. A host whose last label is a
    number is an IPv4 address (as browsers read it): one that is not valid raises InputError."""
    text = host.strip().rstrip(".").lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if ":" in text:
        raise InputError(f"{host!r} is not a valid IPv6 address.")
    if not text or not _NUMERIC_LABEL.match(text.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))  # inet_aton reads 127.1, 0x7f.1, 0177.0.0.1, 2130706433
    except OSError:
        raise InputError(f"{host!r} is neither a host name nor a valid IPv4 address.") from None


def host_name(host: str) -> str:
    """The host a Host header or a bind address names, less its port, lower case
    ("[::1]:8000" -> "[::1]", "Shop.com:443" -> "shop.com", "::1" stays)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether a host name, an address or a Host header names this machine: localhost, 127.0.0.0/8,
    ::1 or an IPv4-mapped loopback address; a port is ignored."""
    name = host_name(host)
    if name == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def embedded_ipv4(address: Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the form's name."""
    if address.version != 6:
        return []
    found = []
    if address.ipv4_mapped is not None:
        found.append(("IPv4-mapped", address.ipv4_mapped))
    if any(address in net for net in NAT64):
        found.append(("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
    if address in IPV4_COMPATIBLE and int(address) > 1:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    return found


def _kind(address: Address) -> str | None:
    """Why this one address (not its embedded forms) is not public, or None when it is."""
    checks = (("is_unspecified", "an unspecified address"), ("is_loopback", "a loopback address"),
              ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
              ("is_private", "a private address"), ("is_reserved", "a reserved address"),
              ("is_site_local", "a site-local address"))
    for attribute, words in checks:
        if getattr(address, attribute, False):
            return words
    return None if address.is_global else "not a public address"


def refusal(address: Address) -> str | None:
    """Why a connection to `address` is refused (it or an IPv4 address it carries is not public),
    or None when it is public."""
    for form, inner in embedded_ipv4(address):
        why = _kind(inner)
        if why:
            return f"the {form} form of {inner}, {why}"
    return _kind(address)


@dataclass(frozen=True)
class Allow:
    """Hosts (exact names or `*.domain`) and address ranges an operator allows although not public."""
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # from `*.domain`: ".domain"
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | str | None, what: str = "--allow-fetch-host") -> "Allow":
        """From HOST|CIDR entries (a comma-separated text, as VITRINE_FETCH_ALLOW, or a list);
        InputError names the entry that is neither."""
        if entries is None:
            return cls()
        if isinstance(entries, str):
            entries = [entries]
        items = [part.strip() for entry in entries for part in str(entry).split(",") if part.strip()]
        names, suffixes, networks = set(), [], []
        for item in items:
            text = item.lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" not in text and ":" not in text:
                try:
                    address = literal(text)
                except InputError:
                    address = None
                if address is not None:
                    networks.append(ipaddress.ip_network(address))
                    continue
                if _HOST_NAME.match(text):
                    if text.startswith("*."):
                        suffixes.append(text[1:])
                    else:
                        names.add(text)
                    continue
            raise InputError(f"{what} takes a host name (pictures.shop.lan, *.shop.lan), an IP address or a "
                             f"CIDR range (10.1.0.0/16); {item!r} is none of these.")
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.names or self.suffixes or self.networks)

    def host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)

    def address(self, address: Address) -> bool:
        forms = [address] + ([address.ipv4_mapped] if address.version == 6 and address.ipv4_mapped else [])
        return any(form in net for form in forms for net in self.networks if form.version == net.version)


def checked_addresses(host: str, allow: Allow, resolver: Resolver = system_resolver) -> list[Address]:
    """The addresses to connect to for `host`: a literal as written, or a name resolved once; every
    one public or allowed, else AddressRefused (one line: which, why, how to allow it)."""
    try:
        written = literal(host)
    except InputError as exc:
        raise AddressRefused(f"refused {host}: {exc}") from None
    by_name = allow.host(host)
    if written is not None:
        addresses = [written]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host)]
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.__class__.__name__}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
    if by_name:
        return addresses
    for address in addresses:
        why = refusal(address)
        if why and not allow.address(address):
            if written is None:
                raise AddressRefused(f"refused {host} ({address}): {why}; allow it with {ALLOW_HOW.format(what=host)}")
            plain = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
            shown = host if _standard(host) else f"{host} ({plain})"  # 2130706433 (127.0.0.1)
            raise AddressRefused(f"refused {shown}: {why}; allow it with {ALLOW_HOW.format(what=plain)}")
    return addresses


def _standard(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own sync backend, but `connect_tcp` resolves the host once, checks every address
    (`checked_addresses`) and connects to a checked one; TLS then starts with the host name, so SNI
    and the certificate check are the name's."""

    def __init__(self, allow: Allow | None = None, resolver: Resolver | None = None,
                 backend: httpcore.NetworkBackend | None = None):
        self.allow = allow or Allow()
        self.resolver = resolver or system_resolver
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        failed: Exception | None = None
        for address in checked_addresses(host, self.allow, self.resolver):
            try:
                return self._backend.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc  # the next address, as socket.create_connection would
        raise failed

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise AddressRefused("refused a Unix socket: only TCP connections to checked addresses are made")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with every connection made by a GuardedBackend (no proxy: a proxy would
    make the connection in our place, unchecked)."""

    def __init__(self, allow: Allow | None = None, resolver: Resolver | None = None, *,
                 limits: httpx.Limits = httpx.Limits(), verify: bool = True):
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(  # the same pool httpx makes, on the guarded backend
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections, max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=GuardedBackend(allow, resolver))


def guarded_client(allow: Allow | None = None, resolver: Resolver | None = None, *,
                   limits: httpx.Limits = httpx.Limits(), **kwargs) -> httpx.Client:
    """An httpx.Client that connects only to public or allowed addresses, checked at every
    connection (redirects included), and reads no proxy variables or .netrc."""
    return httpx.Client(transport=GuardedTransport(allow, resolver, limits=limits), trust_env=False, **kwargs)
