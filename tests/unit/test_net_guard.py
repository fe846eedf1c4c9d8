"""Unit tests for shared.net_guard: no network, the resolver is injected."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys

import pytest

from shared import net_guard
from shared.net_guard import (
    AddressNotAllowed,
    AllowList,
    HostNotFound,
    NetGuardError,
    check_address,
    parse_host_literal,
    resolve_checked,
)

NOTHING = AllowList.parse("")
LOCAL = AllowList.parse("127.0.0.1")


def fixed(*answers: str) -> net_guard.Resolver:
    """A resolver that always gives ``answers`` and records what it was asked."""

    def resolve(host: str, port: int) -> list[str]:
        resolve.calls.append((host, port))  # type: ignore[attr-defined]
        return list(answers)

    resolve.calls = []  # type: ignore[attr-defined]
    return resolve


def failing(exc: BaseException) -> net_guard.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        raise exc

    return resolve


def must_not_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"literal {host!r} was handed to the resolver")


REFUSED = [
    # IPv4 private, loopback, link-local, CGNAT, unspecified, multicast, reserved, broadcast
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.1.100",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    # IPv6 loopback, unspecified, link-local, unique-local, site-local, multicast, documentation
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456:789a::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    # IPv6 forms carrying a refused IPv4
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "::127.0.0.1",
    "::10.0.0.1",
    "2002:7f00:0001::",
    "2002:a00:1::1",
    "2002:a9fe:a9fe::",
    "64:ff9b::a00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::5db8:d822",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001::1",
]

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "100.128.0.1",
    "172.32.0.1",
    "2606:2800:220:1::",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "2002:5db8:d822::1",
    "64:ff9b::5db8:d822",
]


@pytest.mark.parametrize("text", REFUSED)
def test_refused_addresses(text: str) -> None:
    assert check_address(ipaddress.ip_address(text), NOTHING) is False


@pytest.mark.parametrize("text", ALLOWED)
def test_public_addresses_allowed(text: str) -> None:
    assert check_address(ipaddress.ip_address(text), NOTHING) is True


@pytest.mark.parametrize("text", REFUSED)
def test_refused_literal_host_raises(text: str) -> None:
    host = f"[{text}]" if ":" in text else text
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked(host, 993, NOTHING, resolver=must_not_resolve)
    assert "may not connect to" in str(info.value)


@pytest.mark.parametrize("text", ALLOWED)
def test_public_literal_host_returned_without_lookup(text: str) -> None:
    host = f"[{text}]" if ":" in text else text
    returned = resolve_checked(host, 993, NOTHING, resolver=must_not_resolve)
    assert returned == str(ipaddress.ip_address(text))


SPELLINGS_OF_127_0_0_1 = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0X7F000001",
    "017700000001",
    "0177.0.0.1",
    "0177.0000.0000.0001",
    "0x7f.0.0.1",
    "0x7f.0x0.0x0.0x1",
    "127.1",
    "127.0.1",
    "0x7f.1",
    "0177.1",
    "127.0x0.1",
    "127.0.0.1.",
]

SPELLINGS_OF_10_0_0_1 = [
    "10.0.0.1",
    "167772161",
    "0xa000001",
    "0xA000001",
    "01200000001",
    "012.0.0.1",
    "0xa.0.0.1",
    "10.1",
    "10.0.1",
    "0xa.1",
    "012.1",
]


@pytest.mark.parametrize("spelling", SPELLINGS_OF_127_0_0_1)
def test_spellings_of_loopback_recognised(spelling: str) -> None:
    assert parse_host_literal(spelling) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("spelling", SPELLINGS_OF_10_0_0_1)
def test_spellings_of_private_recognised(spelling: str) -> None:
    assert parse_host_literal(spelling) == ipaddress.IPv4Address("10.0.0.1")


@pytest.mark.parametrize("spelling", SPELLINGS_OF_127_0_0_1 + SPELLINGS_OF_10_0_0_1)
def test_odd_spellings_refused(spelling: str) -> None:
    with pytest.raises(AddressNotAllowed):
        resolve_checked(spelling, 143, NOTHING, resolver=must_not_resolve)


@pytest.mark.parametrize("spelling", SPELLINGS_OF_127_0_0_1)
def test_allow_list_admits_every_spelling_of_allowed_address(spelling: str) -> None:
    assert resolve_checked(spelling, 143, LOCAL, resolver=must_not_resolve) == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[127.0.0.1]", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("00", "0.0.0.0"),
        ("0xffffffff", "255.255.255.255"),
        ("037777777777", "255.255.255.255"),
        ("0x7f.0x1.0x01", "127.1.0.1"),
        ("00000000000000000000177.1", "127.0.0.1"),
        ("4294967295", "255.255.255.255"),
        ("1.2.3.4", "1.2.3.4"),
        ("93.184.216.34", "93.184.216.34"),
    ],
)
def test_literals(host: str, expected: str) -> None:
    assert parse_host_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "mail.example.com",
        "localhost",
        "imap",
        "0x7f.example.com",
        "1.2.3.4.5",
        "4294967296",
        "256.0.0.1",
        "1.256.0.1",
        "1.2.65536",
        "1.16777216",
        "08.0.0.1",
        "0x1g.0.0.1",
        "1..2.3",
        ".1.2.3",
        "1e5",
        "0x",
        "0x.1",
        "1.0x",
        "0x100000000",
        "040000000000",
        "1.2.3.4..",
        "-1",
        "+1",
        "1_000",
        "\u0661\u0662\u0667.0.0.1",  # Arabic-Indic digits: int() would take them, inet_aton does not
        "[mail.example.com]",
        "[]",
        "",
        "::g",
    ],
)
def test_not_literals(host: str) -> None:
    assert parse_host_literal(host) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with glibc's inet_aton")
@pytest.mark.parametrize(
    "text",
    SPELLINGS_OF_127_0_0_1[:-1]
    + SPELLINGS_OF_10_0_0_1
    + ["0", "4294967295", "4294967296", "1.2.3.4.5", "08.0.0.1", "256.1", "1.2.65535", "1.2.65536", "0x.1"],
)
def test_agrees_with_libc_inet_aton(text: str) -> None:
    try:
        libc = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        assert parse_host_literal(text) is None
    else:
        assert parse_host_literal(text) == libc


# --- allow list -------------------------------------------------------------


def test_allow_list_parse() -> None:
    allow = AllowList.parse(" 127.0.0.1 , 10.0.0.0/8,::1, 2001:db8::/32 ,")
    assert [str(n) for n in allow.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "2001:db8::/32"]
    assert str(allow) == "127.0.0.1/32, 10.0.0.0/8, ::1/128, 2001:db8::/32"


@pytest.mark.parametrize("text", ["", "   ", ","])
def test_allow_list_empty(text: str) -> None:
    assert AllowList.parse(text).networks == ()


@pytest.mark.parametrize(
    "entry", ["localhost", "127.1", "10.0.0.1/8", "10.0.0.0/33", "1.2.3.4.5", "::g", "0x7f000001"]
)
def test_allow_list_malformed_entry_named(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        AllowList.parse(f"127.0.0.1, {entry}")


def test_allow_list_is_frozen() -> None:
    allow = AllowList.parse("127.0.0.1")
    with pytest.raises(AttributeError):
        allow.networks = ()  # type: ignore[misc]
    assert allow == AllowList.parse("127.0.0.1")
    assert hash(allow) == hash(AllowList.parse("127.0.0.1"))


def test_allow_list_admits() -> None:
    allow = AllowList.parse("127.0.0.1, 10.0.0.0/8, fd00::/8")
    assert allow.admits(ipaddress.ip_address("127.0.0.1"))
    assert allow.admits("2130706433")
    assert allow.admits(ipaddress.ip_address("10.1.2.3"))
    assert allow.admits(ipaddress.ip_address("fd00::5"))
    assert not allow.admits(ipaddress.ip_address("127.0.0.2"))
    assert not allow.admits(ipaddress.ip_address("11.0.0.1"))
    assert not allow.admits(ipaddress.ip_address("::1"))
    assert not allow.admits("mail.example.com")


def test_cidr_allow_list_admits_address() -> None:
    allow = AllowList.parse("10.0.0.0/8")
    assert check_address(ipaddress.ip_address("10.1.2.3"), allow)
    assert resolve_checked("mail.internal", 993, allow, resolver=fixed("10.1.2.3")) == "10.1.2.3"
    assert not check_address(ipaddress.ip_address("192.168.1.1"), allow)


def test_allow_list_applies_to_embedded_ipv4() -> None:
    assert check_address(ipaddress.ip_address("::ffff:127.0.0.1"), LOCAL)
    assert check_address(ipaddress.ip_address("::ffff:10.1.2.3"), AllowList.parse("10.0.0.0/8"))
    assert not check_address(ipaddress.ip_address("::ffff:127.0.0.2"), LOCAL)


def test_allow_list_on_ipv6_itself() -> None:
    assert check_address(ipaddress.ip_address("::1"), AllowList.parse("::1"))
    assert check_address(ipaddress.ip_address("fe80::1"), AllowList.parse("fe80::/10"))
    assert not check_address(ipaddress.ip_address("::1"), LOCAL)


def test_allow_list_admitting_127_does_not_admit_other_loopbacks() -> None:
    assert not check_address(ipaddress.ip_address("127.0.0.2"), LOCAL)
    with pytest.raises(AddressNotAllowed):
        resolve_checked("127.2", 993, LOCAL, resolver=must_not_resolve)


# --- resolve_checked ---------------------------------------------------------


def test_returns_first_resolved_address() -> None:
    resolver = fixed("93.184.216.34", "2606:2800:220:1::", "8.8.8.8")
    assert resolve_checked("mail.example.com", 993, NOTHING, resolver=resolver) == "93.184.216.34"
    assert resolver.calls == [("mail.example.com", 993)]  # type: ignore[attr-defined]


def test_returns_first_when_ipv6_first() -> None:
    resolver = fixed("2606:2800:220:1::", "93.184.216.34")
    assert resolve_checked("mail.example.com", 993, NOTHING, resolver=resolver) == "2606:2800:220:1::"


@pytest.mark.parametrize(
    "answers",
    [
        ("93.184.216.34", "10.0.0.5"),
        ("10.0.0.5", "93.184.216.34"),
        ("93.184.216.34", "::1"),
        ("2606:2800:220:1::", "::ffff:127.0.0.1"),
        ("93.184.216.34", "169.254.169.254"),
    ],
)
def test_mixed_answer_refused(answers: tuple[str, ...]) -> None:
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked("mail.example.com", 993, NOTHING, resolver=fixed(*answers))
    private = next(a for a in answers if not check_address(ipaddress.ip_address(a), NOTHING))
    assert info.value.address == str(ipaddress.ip_address(private))
    assert info.value.host == "mail.example.com"


def test_refused_message_is_plain() -> None:
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked("mail.example.com", 993, NOTHING, resolver=fixed("10.0.0.5"))
    assert str(info.value) == (
        "mail.example.com resolves to 10.0.0.5, a private address that this service may not connect to"
    )
    assert isinstance(info.value, NetGuardError)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("fec0::1", "a site-local address"),
        ("::ffff:127.0.0.1", "an IPv6 form of 127.0.0.1 (a loopback address)"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
    ],
)
def test_refused_message_names_kind(address: str, words: str) -> None:
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked("mail.example.com", 993, NOTHING, resolver=fixed(address))
    assert words in str(info.value)


def test_literal_message_does_not_say_resolves() -> None:
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked("[::1]", 993, NOTHING)
    assert str(info.value) == "::1 is a loopback address that this service may not connect to"
    with pytest.raises(AddressNotAllowed) as info:
        resolve_checked("2130706433", 993, NOTHING)
    assert str(info.value).startswith("2130706433 resolves to 127.0.0.1, a loopback address")


def test_allowed_resolved_address() -> None:
    assert resolve_checked("localhost", 143, LOCAL, resolver=fixed("127.0.0.1")) == "127.0.0.1"


def test_allowed_list_does_not_cover_other_answer() -> None:
    with pytest.raises(AddressNotAllowed):
        resolve_checked("localhost", 143, LOCAL, resolver=fixed("127.0.0.1", "::1"))


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("", "no server name"),
        ("a" * 254, "longer than 253"),
        ("mail example.com", "spaces or control"),
        (" mail.example.com", "spaces or control"),
        ("mail.example.com\n", "spaces or control"),
        ("mail.example.com\r\nX: y", "spaces or control"),
        ("mail\x00.example.com", "spaces or control"),
        ("mail\t.example.com", "spaces or control"),
        ("mail\u200b.example.com", "spaces or control"),
        ("mail\u00a0.example.com", "spaces or control"),
        ("[mail.example.com]", "not a valid IP address"),
    ],
)
def test_bad_host_names(host: str, words: str) -> None:
    with pytest.raises(HostNotFound) as info:
        resolve_checked(host, 993, NOTHING, resolver=must_not_resolve)
    assert words in str(info.value)
    assert "\x00" not in str(info.value) and "\n" not in str(info.value)


def test_host_of_253_characters_is_resolved() -> None:
    host = ".".join(["a" * 63] * 3 + ["a" * 61])
    assert len(host) == 253
    assert resolve_checked(host, 993, NOTHING, resolver=fixed("93.184.216.34")) == "93.184.216.34"


@pytest.mark.parametrize(
    "exc",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        UnicodeError("label too long"),
    ],
)
def test_lookup_failure_is_host_not_found(exc: BaseException) -> None:
    with pytest.raises(HostNotFound) as info:
        resolve_checked("nope.example.com", 993, NOTHING, resolver=failing(exc))
    assert str(info.value) == "the server name nope.example.com could not be found; please check its spelling"
    assert info.value.host == "nope.example.com"
    assert info.value.__cause__ is None


def test_empty_answer_is_host_not_found() -> None:
    with pytest.raises(HostNotFound):
        resolve_checked("mail.example.com", 993, NOTHING, resolver=fixed())


def test_garbage_answer_is_host_not_found() -> None:
    with pytest.raises(HostNotFound, match="usable address"):
        resolve_checked("mail.example.com", 993, NOTHING, resolver=fixed("not-an-ip"))


@pytest.mark.parametrize("port", [0, -1, 65536, 100000, True])
def test_bad_port(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        resolve_checked("mail.example.com", port, NOTHING, resolver=must_not_resolve)


@pytest.mark.parametrize("port", [1, 143, 993, 65535])
def test_good_port_passed_to_resolver(port: int) -> None:
    resolver = fixed("93.184.216.34")
    resolve_checked("mail.example.com", port, NOTHING, resolver=resolver)
    assert resolver.calls == [("mail.example.com", port)]  # type: ignore[attr-defined]


def test_default_resolver_dedupes_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        calls.append((host, port, kwargs.get("type")))
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:220:1::", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert net_guard.default_resolver("mail.example.com", 993) == ["93.184.216.34", "2606:2800:220:1::"]
    assert calls == [("mail.example.com", 993, socket.SOCK_STREAM)]
    assert resolve_checked("mail.example.com", 993, NOTHING) == "93.184.216.34"


def test_default_resolver_gaierror(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(*args: object, **kwargs: object) -> list[tuple[object, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(HostNotFound):
        resolve_checked("nope.example.com", 993, NOTHING)


def test_errors_share_base() -> None:
    assert issubclass(HostNotFound, NetGuardError)
    assert issubclass(AddressNotAllowed, NetGuardError)
    assert issubclass(NetGuardError, Exception)
