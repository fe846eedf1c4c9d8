"""Network guard: decide whether a user-supplied host may be connected to.

Users type the server names of their mail accounts; without a guard the service
could be pointed at its own network (loopback, private ranges, cloud metadata,
Kafka, Redis...). Rules (ARCHITECTURE.md section 4):

* every address that is not globally routable is refused, plus an explicit
  deny-list: CGNAT 100.64.0.0/10, multicast, unspecified, reserved, link-local,
  site-local, and IPv6 forms that carry an IPv4 address (IPv4-mapped,
  IPv4-compatible, 6to4, NAT64, Teredo) are judged by the IPv4 they carry;
* IP literals are recognised in every spelling libc's ``inet_aton`` accepts
  (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``...), so an odd
  spelling cannot slip past as a "host name";
* an operator allow-list (``MAILFERRY_ALLOW_HOSTS``) can admit addresses
  explicitly (tests and the local demo allow 127.0.0.1);
* every resolved address is checked (a mixed public/private answer is refused)
  and the caller connects to exactly the address returned: no second lookup,
  so DNS rebinding has nothing to rebind.

Everything here is pure except the default resolver, which calls
``socket.getaddrinfo``; tests inject their own.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], list[str]]

MAX_HOST_LENGTH = 253

_CGNAT = IPv4Network("100.64.0.0/10")
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = IPv6Network("64:ff9b:1::/48")
_TEREDO = IPv6Network("2001::/32")

# One inet_aton part, as glibc reads it: hex (0x and at least one digit), octal
# (leading 0) or decimal. ASCII only: int() would also take other scripts' digits.
_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", re.ASCII)


class NetGuardError(Exception):
    """Base of the guard's errors; ``str(error)`` is a plain message for the user."""


class HostNotFound(NetGuardError):
    """The server name is unusable or does not resolve."""

    def __init__(self, host: str, detail: str | None = None) -> None:
        self.host = host
        super().__init__(detail or f"the server name {host} could not be found; please check its spelling")


class AddressNotAllowed(NetGuardError):
    """The host is, or resolves to, an address the service must not connect to."""

    def __init__(self, host: str, address: IPAddress | str) -> None:
        self.host = host
        self.address = str(address)
        kind = _describe(address)
        if host.strip("[]") == self.address:
            message = f"{self.address} is {kind} that this service may not connect to"
        else:
            message = f"{host} resolves to {self.address}, {kind} that this service may not connect to"
        super().__init__(message)


@dataclass(frozen=True)
class AllowList:
    """Addresses and networks the operator admits although the rules would refuse them."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Parse "127.0.0.1, 10.0.0.0/8, ::1"; a malformed entry is an error, not silently dropped."""
        networks: list[IPNetwork] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=True))
            except ValueError:
                raise ValueError(
                    f"allow-list entry {entry!r} is not an IP address or network (CIDR)"
                ) from None
        return cls(tuple(networks))

    def admits(self, ip: IPAddress | str) -> bool:
        """True if the address (any literal spelling accepted) lies in one of the networks."""
        address = parse_host_literal(ip) if isinstance(ip, str) else ip
        if address is None:
            return False
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        return ", ".join(str(network) for network in self.networks)


def _embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...] | None:
    """The IPv4 addresses an IPv6 transition form leads to; None if it is a plain IPv6 address.

    ``::`` and ``::1`` lie in the IPv4-compatible range but are the IPv6
    unspecified and loopback addresses, judged as such.
    """
    if ip in _IPV4_MAPPED or ip in _NAT64_WELL_KNOWN or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _SIX_TO_FOUR:
        return (IPv4Address((int(ip) >> 80) & 0xFFFFFFFF),)
    if ip in _TEREDO:
        server, client = ip.teredo or (IPv4Address(0), IPv4Address(0))
        return (server, client)
    return None


def _refused_by_rules(ip: IPAddress) -> bool:
    """The built-in rules for a plain address (no allow list, no embedded forms)."""
    return (
        not ip.is_global
        or (isinstance(ip, IPv4Address) and ip in _CGNAT)
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or ip.is_link_local
        or ip.is_loopback
        or ip.is_private
        or (isinstance(ip, IPv6Address) and ip.is_site_local)
    )


def check_address(ip: IPAddress, allow: AllowList) -> bool:
    """True if the service may connect to ``ip``.

    The allow list wins first. An IPv6 form that carries an IPv4 address
    (mapped, compatible, 6to4, NAT64 64:ff9b::/96, Teredo server and client)
    is judged by the IPv4 it carries, allow list included, because that is
    where the traffic ends up. NAT64 local-use 64:ff9b:1::/48 is refused
    outright: where the IPv4 sits depends on a local prefix length we cannot know.
    """
    if allow.admits(ip):
        return True
    if isinstance(ip, IPv6Address):
        if ip in _NAT64_LOCAL_USE:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(check_address(v4, allow) for v4 in embedded)
    return not _refused_by_rules(ip)


def _describe(address: IPAddress | str) -> str:
    """A few plain words on what kind of address this is, for error messages."""
    if isinstance(address, str):
        try:
            ip: IPAddress = ipaddress.ip_address(address)
        except ValueError:
            return "an address"
    else:
        ip = address
    if isinstance(ip, IPv6Address):
        if ip in _NAT64_LOCAL_USE:
            return "a local-use NAT64 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            carried = ", ".join(str(v4) for v4 in embedded)
            return f"an IPv6 form of {carried} ({_describe(embedded[-1])})"
    if isinstance(ip, IPv4Address) and ip in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, IPv6Address) and ip.is_site_local, "a site-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
    ]
    for applies, words in checks:
        if applies:
            return words
    return "a non-public address"


def _parse_inet_aton(text: str) -> IPv4Address | None:
    """IPv4 as glibc's inet_aton reads it: 1 to 4 parts, each decimal, octal or hex."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if not _PART.fullmatch(part):
            return None
        if part[:2] in ("0x", "0X"):
            values.append(int(part[2:], 16))
        elif len(part) > 1 and part[0] == "0":
            values.append(int(part, 8))
        else:
            values.append(int(part, 10))
    *leading, last = values
    if any(value > 0xFF for value in leading):
        return None
    last_bits = 8 * (4 - len(leading))
    if last >= 1 << last_bits:
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (24 - 8 * index)
    return IPv4Address(number)


def parse_host_literal(host: str) -> IPAddress | None:
    """The address if ``host`` is an IP literal in any spelling, else None (a real host name).

    Accepts "[::1]" and bracketed IPv4, standard IPv6 text, and every IPv4
    spelling inet_aton accepts (plus one trailing dot), so that the name
    "2130706433" is checked as 127.0.0.1 instead of being handed to a resolver
    that would read it the same way.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        return None
    if ":" in text:
        try:
            return IPv6Address(text)
        except ValueError:
            return None
    if text.endswith("."):
        text = text[:-1]
    return _parse_inet_aton(text)


def default_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo (TCP), unique addresses in the order the system returned them."""
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


def _validate_host(host: str) -> None:
    """Refuse names no resolver should see: empty, too long, spaces or control characters."""
    if not host:
        raise HostNotFound(host, "no server name was given")
    if len(host) > MAX_HOST_LENGTH:
        raise HostNotFound(host, f"the server name is longer than {MAX_HOST_LENGTH} characters")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in host):
        raise HostNotFound(host, "the server name contains spaces or control characters")


def _validate_port(port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")


def resolve_checked(
    host: str,
    port: int,
    allow: AllowList,
    *,
    resolver: Resolver | None = None,
) -> str:
    """Resolve ``host`` once, check every address, return the first one.

    The caller must connect to exactly the returned address (and use ``host``
    only for TLS SNI and certificate checks): resolving again could give a
    different answer (DNS rebinding). Raises HostNotFound, AddressNotAllowed,
    or ValueError for a port outside 1..65535.
    """
    _validate_port(port)
    if not isinstance(host, str):
        raise HostNotFound(str(host), "the server name is not text")
    _validate_host(host)

    literal = parse_host_literal(host)
    if literal is not None:
        if not check_address(literal, allow):
            raise AddressNotAllowed(host, literal)
        return str(literal)
    if host.startswith("[") or host.endswith("]"):
        raise HostNotFound(host, f"{host} is not a valid IP address")

    lookup = resolver or default_resolver
    try:
        answers = lookup(host, port)
    except (OSError, UnicodeError):
        # gaierror (an OSError) or an IDNA encoding failure; their text is not for users.
        raise HostNotFound(host) from None
    if not answers:
        raise HostNotFound(host)

    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError:
            raise HostNotFound(host, f"the server name {host} did not resolve to a usable address") from None
    for address in addresses:
        if not check_address(address, allow):
            raise AddressNotAllowed(host, address)
    return str(addresses[0])
