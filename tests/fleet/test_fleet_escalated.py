"""An escalated network ban (issue 14) travels through the fleet stream like any ban.

Unit level: the ban one jail decides becomes the entry ``FleetLink.decided`` writes, passes
the checks every received entry passes (``decode``, the outbox's ``from_text``), and the
receiving host's jail bans the whole network for the same end, unless the network holds an
address that host ignores (the check ``FleetLink.apply`` makes).
"""

from __future__ import annotations

from ipaddress import ip_network
from types import MappingProxyType

from warden.core.decisions import Ban
from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.fleet.entry import FleetEntry, decode, from_text


def _escalated() -> Ban:
    jail = Jail(JailSpec("sshd", maxretry=1, bantime=600.0,
                         escalate=parse_escalate("3 in /24")))
    out = []
    for n, addr in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
        out += jail.add_failure(Failure(addr, 100.0 + n, MappingProxyType({}), (), 0), 110.0)
    (ban,) = [d for d in out if isinstance(d, Ban) and d.escalated]
    return ban


def test_an_escalated_ban_is_an_entry_the_other_hosts_accept() -> None:
    ban = _escalated()
    assert ban.address == "198.51.100.0/24"
    assert ban.members == ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    assert not isinstance(ban.ip, str)  # a network, never a raw id
    entry = FleetEntry("ban", ban.jail, ban.ip, ban.time, ban.until, ban.count, "host-a")
    for received in (decode(entry.fields()), from_text(entry.text())):
        assert received.target == ip_network("198.51.100.0/24")
        assert received.end == ban.until == 702.0  # the longest member ban

    other = Jail(JailSpec("sshd"))
    assert entry.end is not None
    (applied,) = other.ban(entry.target, 200.0, entry.end - 200.0)
    assert applied.until == 702.0
    assert other.is_banned("198.51.100.0/24")


def test_a_host_that_ignores_an_address_inside_does_not_take_the_network() -> None:
    ban = _escalated()
    other = Jail(JailSpec("sshd", ignore=(ip_network("198.51.100.77/32"),)))
    assert isinstance(ban.ip, type(ip_network("198.51.100.0/24")))
    assert ban.ip not in other.ignore  # the network itself is not ignored ...
    assert other.ignore.overlaps(ban.ip)  # ... but holds an ignored address: refused
