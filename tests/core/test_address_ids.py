"""Failure ids of captured addresses: canonical when valid, raw when not (as fail2ban)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from warden.core.addr import plain_v6_value
from warden.core.failregex import _canonical, normalise_address

_octet = st.one_of(st.integers(0, 300).map(str), st.from_regex(r"0[0-9]{1,2}", fullmatch=True))
_quads = st.lists(_octet, min_size=4, max_size=4).map(".".join)


@given(_quads)
def test_ipv4_ids_equal_the_full_conversion(text: str) -> None:
    # The fast path (no parse) must give what parsing gives, valid or not.
    assert normalise_address(text, 4) == _canonical(text, 4, None)


@given(_quads)
def test_a_valid_dotted_quad_is_its_own_canonical_form(text: str) -> None:
    try:
        expected = str(ipaddress.IPv4Address(text))
    except ValueError:
        expected = text
    assert normalise_address(text, 4) == expected


def test_ipv6_and_prefixes_are_still_normalised() -> None:
    assert normalise_address("2001:DB8:0:0::1", 6) == "2001:db8::1"
    assert normalise_address("::ffff:192.0.2.1", 6) == "192.0.2.1"
    assert normalise_address("192.0.2.77", 4, 24) == "192.0.2.0/24"
    assert normalise_address("192.030.0.6", 4) == "192.030.0.6"


_group = st.from_regex(r"[0-9A-Fa-f]{0,5}", fullmatch=True)
_v6ish = st.one_of(
    st.lists(_group, min_size=1, max_size=10).map(":".join),
    st.tuples(st.lists(_group, max_size=8).map(":".join),
              st.lists(_group, max_size=8).map(":".join)).map("::".join),
    st.from_regex(r"[0-9a-fA-F:.%]{0,45}", fullmatch=True),
)


@given(_v6ish)
def test_the_plain_ipv6_parse_agrees_with_ipaddress(text: str) -> None:
    # The fast parse may decline (ipaddress then decides) but never disagrees with ipaddress.
    fast = plain_v6_value(text)
    try:
        slow: int | None = int(ipaddress.IPv6Address(text))
    except ValueError:
        slow = None
    if fast is not None:
        assert fast == slow
    elif slow is not None and "%" not in text and "." not in text:
        raise AssertionError(f"{text!r}: a plain address the fast parse declined")


@given(st.integers(0, (1 << 128) - 1))
def test_every_written_form_of_an_address_gives_one_id(value: int) -> None:
    addr = ipaddress.IPv6Address(value)
    ids = {_canonical(t, 6, None) for t in (str(addr), addr.exploded, addr.exploded.upper())}
    assert len(ids) == 1
