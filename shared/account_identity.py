"""Which account a migration names, whatever way the user spelled its server and login.

The ledger of what was already copied is scoped by the pair (source account, target account).
A re-run that names the same accounts differently (``localhost`` instead of ``127.0.0.1``,
``Mail.Example.COM.``, ``bücher.de`` or its ``xn--`` form, ``127.1``, port 993 instead of 143)
must find the same ledger, or it copies every message again. So an account is named by:

* the server: a *name* lower-cased, in its IDNA (ASCII) form, without a trailing dot; an *IP
  literal* (any spelling the network guard reads) by its forward-confirmed reverse name (the PTR
  name whose own lookup, through the guard, contains that address), else by the address in its
  standard form (an IPv4-mapped IPv6 address as the IPv4 it carries). A name is not replaced by
  its canonical (CNAME) name: large providers answer with CNAMEs that change by place and time
  (Exchange Online's ``outlook.office365.com`` ends in a different ``*.ms-acdc.office.com``
  depending on where and when it is asked), and round-robin answers change the address, so either
  would give the same account a new identity on the next run. The name the user gave is the
  stable part; a literal address is tied back to it through its reverse name;
* the port only when it is not one of the protocol's standard ports (143/993 are the same IMAP
  account; two servers on one address with other ports are not);
* the login stripped and case-folded (servers compare logins without case; the one a server
  canonicalises further is not told to the client).

Only an IP literal costs lookups (one PTR, one forward lookup checked by the network guard);
a name costs none. Lookups are injected so the tests need no DNS.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable

from shared import net_guard
from shared.net_guard import AllowList, IPAddress, Resolver

ReverseResolver = Callable[[str], str | None]

# Ports that reach the same account over plain/STARTTLS or implicit TLS.
STANDARD_PORTS: dict[str, frozenset[int]] = {
    "imap": frozenset({143, 993}),
    "pop3": frozenset({110, 995}),
    "ews": frozenset({80, 443}),
    "graph": frozenset({443}),
}


def default_reverse(address: str) -> str | None:
    """The PTR name of an address, or None (no answer, no resolver)."""
    try:
        return socket.gethostbyaddr(address)[0] or None
    except (OSError, UnicodeError):
        return None


def normal_name(name: str) -> str:
    """A host name lower-cased, in ASCII (IDNA, as the system resolver is asked), no trailing dot."""
    text = name.strip().rstrip(".").lower()
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:  # a label IDNA cannot take (empty, too long): the lower-cased text is still stable
        return text


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def host_identity(host: str, allow: AllowList, *, resolver: Resolver | None = None,
                  reverse: ReverseResolver | None = None) -> str:
    """The server part of an account's identity (see the module docstring)."""
    literal = net_guard.parse_host_literal(host)
    if literal is None:
        return normal_name(host)
    address = _plain(literal)
    ptr = (reverse or default_reverse)(str(address))
    name = normal_name(ptr) if ptr else ""
    if name and net_guard.parse_host_literal(name) is None:
        seen: list[str] = []

        def recording(h: str, p: int) -> list[str]:
            answers = (resolver or net_guard.default_resolver)(h, p)
            seen.extend(answers)
            return answers

        try:
            net_guard.resolve_checked(name, 1, allow, resolver=recording)  # the port only fills sockaddr
        except net_guard.NetGuardError:  # not a name this service would connect to: not the same server
            seen.clear()
        if any(_plain(ipaddress.ip_address(a)) == address for a in seen if net_guard.parse_host_literal(a)):
            return name
    return address.compressed


def login_identity(login: str) -> str:
    """The login as a server compares it: surrounding space removed, case folded."""
    return login.strip().casefold()


def account_identity(kind: str, host: str, port: int, login: str, allow: AllowList, *,
                     resolver: Resolver | None = None, reverse: ReverseResolver | None = None) -> list[str]:
    """(type, server, login) of one account; the server carries a non-standard port."""
    server = host_identity(host, allow, resolver=resolver, reverse=reverse)
    if port not in STANDARD_PORTS.get(kind, frozenset()):
        server = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    return [kind, server, login_identity(login)]


def scope_text(*parts: str) -> str:
    """The parts joined by ``|`` as earlier versions did (so their ledgers are still found for the
    accounts they named the same way); JSON when a part contains ``|``, so that no two different
    lists of parts give the same text."""
    if any("|" in p for p in parts):
        return json.dumps(list(parts))
    return "|".join(parts)
