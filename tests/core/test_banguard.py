"""Which manual bans are refused without --force, and the reason given."""

from __future__ import annotations

import pytest

from warden.core.addr import Network, parse_network
from warden.core.banguard import danger, refusal


def net(text: str) -> Network:
    found = parse_network(text)
    assert found is not None, text
    return found


OWN = (net("127.0.0.0/8"), net("::1"), net("192.0.2.77"), net("2001:db8:7::1"))


@pytest.mark.parametrize(("target", "reason"), [
    ("0.0.0.0/0", "refusing to ban 0.0.0.0/0: it covers every IPv4 address; "
                  "use --force to ban it anyway"),
    ("::/0", "refusing to ban ::/0: it covers every IPv6 address; use --force to ban it anyway"),
    ("198.51.100.1/7", "refusing to ban 198.0.0.0/7: its prefix /7 is shorter than /8 "
                       "(33,554,432 addresses); use --force to ban it anyway"),
    ("2001:db8::/31", "refusing to ban 2001:db8::/31: its prefix /31 is shorter than /32 "
                      "(158,456,325,028,528,675,187,087,900,672 addresses); "
                      "use --force to ban it anyway"),
    ("127.0.0.1", "refusing to ban 127.0.0.1: it is a loopback address; "
                  "use --force to ban it anyway"),
    ("127.1.0.0/16", "refusing to ban 127.1.0.0/16: it contains loopback addresses; "
                     "use --force to ban it anyway"),
    ("::1", "refusing to ban ::1: it is a loopback address; use --force to ban it anyway"),
    ("::ffff:127.0.0.1", "refusing to ban 127.0.0.1: it is a loopback address; "
                         "use --force to ban it anyway"),
    ("::/127", "refusing to ban ::/127: it contains loopback addresses; "
               "use --force to ban it anyway"),
    ("192.0.2.77", "refusing to ban 192.0.2.77: it is an address of this host; "
                   "use --force to ban it anyway"),
    ("192.0.2.0/24", "refusing to ban 192.0.2.0/24: it contains 192.0.2.77, an address of "
                     "this host; use --force to ban it anyway"),
    ("2001:db8:7::/48", "refusing to ban 2001:db8:7::/48: it contains 2001:db8:7::1, an "
                        "address of this host; use --force to ban it anyway"),
    # allowed: the shortest prefixes, neighbours of the host, other families
    ("10.0.0.0/8", None),
    ("2001:db9::/32", None),
    ("192.0.2.78", None),
    ("192.0.3.0/24", None),
    ("198.51.100.7", None),
    ("2001:db8:7::2", None),
    ("2001:db8:8::/48", None),
    ("::2", None),
])
def test_refusal(target: str, reason: str | None) -> None:
    assert refusal(net(target), OWN) == reason


def test_without_own_addresses_only_loopback_and_size_count() -> None:
    assert refusal(net("192.0.2.77")) is None
    assert refusal(net("127.0.0.2")) is not None
    assert refusal(net("1.0.0.0/1")) is not None


def test_danger_is_the_bare_reason() -> None:
    assert danger(net("::/0")) == "it covers every IPv6 address"
    assert danger(net("192.0.2.0/24"), OWN) == "it contains 192.0.2.77, an address of this host"
    assert danger(net("198.51.100.0/24"), OWN) is None
