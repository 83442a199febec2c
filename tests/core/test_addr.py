"""Ban targets: parsing, formatting, containment."""

from __future__ import annotations

import ipaddress
from ipaddress import ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.addr import contains, format_target, parse_address, parse_network, parse_target


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.7", "192.0.2.7/32"),
    (" 192.0.2.7 ", "192.0.2.7/32"),
    ("192.0.2.7/24", "192.0.2.0/24"),
    ("192.0.2.7/32", "192.0.2.7/32"),
    ("192.0.2.7/0", "0.0.0.0/0"),
    ("2001:DB8::1", "2001:db8::1/128"),
    ("2001:db8::1/32", "2001:db8::/32"),
    ("::ffff:192.0.2.1", "192.0.2.1/32"),
    ("::ffff:192.0.2.1/24", "192.0.2.0/24"),
    ("192.0.2.7/33", None),
    ("192.0.2.7/x", None),
    ("10.1.2.3/255.0.0.0", "10.0.0.0/8"),
    ("192.0.2.7/255.255.255.255", "192.0.2.7/32"),
    ("192.0.2.7/0.0.0.0", "0.0.0.0/0"),
    ("2001:db8::1/ffff:ffff::", "2001:db8::/32"),
    ("10.0.0.0/255.0.255.0", None),  # not contiguous: fail2ban refuses it too
    ("10.0.0.0/ffff::", None),  # a mask of the other family
    ("2001:db8::/255.255.0.0", None),
    ("192.0.2.7/-1", None),
    ("fe80::1%eth0", None),
    ("192.030.0.6", None),
    ("host.example", None),
    ("", None),
])
def test_parse_network(text: str, expected: str | None) -> None:
    network = parse_network(text)
    assert (None if network is None else str(network)) == expected


def test_parse_address_and_target() -> None:
    assert parse_address("::ffff:198.51.100.2") == ip_address("198.51.100.2")
    assert parse_address("2001:db8::2") == ip_address("2001:db8::2")
    assert parse_address("nope") is None
    assert parse_target("198.51.100.2") == ip_network("198.51.100.2/32")
    assert parse_target("bob") == "bob"


@pytest.mark.parametrize(("text", "shown"), [
    ("192.0.2.7", "192.0.2.7"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("2001:db8::1", "2001:db8::1"),
    ("2001:db8::/48", "2001:db8::/48"),
    ("bob", "bob"),
])
def test_format_target(text: str, shown: str) -> None:
    assert format_target(parse_target(text)) == shown


@pytest.mark.parametrize(("outer", "inner", "inside"), [
    ("192.0.2.0/24", "192.0.2.7", True),
    ("192.0.2.0/24", "192.0.2.0/25", True),
    ("192.0.2.0/25", "192.0.2.0/24", False),
    ("192.0.2.0/24", "198.51.100.1", False),
    ("192.0.2.7", "192.0.2.7", True),
    ("2001:db8::/32", "2001:db8:1::1", True),
    ("2001:db8::/32", "192.0.2.1", False),
    ("0.0.0.0/0", "2001:db8::1", False),
    ("bob", "bob", True),
    ("bob", "192.0.2.1", False),
    ("192.0.2.0/24", "bob", False),
])
def test_contains(outer: str, inner: str, inside: bool) -> None:
    assert contains(parse_target(outer), parse_target(inner)) is inside


def _reference(text: str) -> object:
    """parse_address written with ipaddress alone (its fast paths must agree)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id is not None:
            return None
        return addr.ipv4_mapped or addr
    return addr


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded),
    st.text(alphabet="0123456789abcdefABCDEF:.%g", max_size=42),
))
def test_parse_address_agrees_with_ipaddress(text: str) -> None:
    got = parse_address(text)
    want = _reference(text)
    assert got == want and type(got) is type(want)
    if got is not None:
        assert parse_network(text) == ipaddress.ip_network(got)


@pytest.mark.parametrize("text", ["01.2.3.4", "1.2.3", "256.0.0.1", "1::2::3", ":1", "1:",
                                  "12345::", "1:2:3:4:5:6:7:8:9", "::ffff:102:304",
                                  "::ffff:1.2.3.4", "fe80::1%eth0", "::"])
def test_parse_address_edge_cases(text: str) -> None:
    got = parse_address(text)
    assert got == _reference(text) and type(got) is type(_reference(text))
