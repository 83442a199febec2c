"""An escalated network ban (issue 14) travels through the fleet stream like any ban, with
its members.

Unit level: the ban one jail decides becomes the entry ``FleetLink.decided`` writes, passes
the checks every received entry passes (``decode``, the outbox's ``from_text``), and the
receiving host's jail bans the whole network for the same end, unless the network holds an
address that host ignores (the check ``FleetLink.apply`` makes). The entry names the members
(bounded, validated). Two real daemons and a real redis-server: the receiving host logs the
same ``Escalate`` reason and ``warden explain`` there names the members.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from types import MappingProxyType

import pytest

from tests.e2e.harness import Server, append, failure_line, wait_for
from tests.fleet.redisserver import RedisServer, have_redis
from warden.core.decisions import Ban
from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.fleet.entry import BadEntry, FleetEntry, decode, from_text


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
    entry = FleetEntry("ban", ban.jail, ban.ip, ban.time, ban.until, ban.count, "host-a",
                       ban.members, len(ban.members))
    assert entry.fields()["members"] == "198.51.100.1,198.51.100.2,198.51.100.3"
    for received in (decode(entry.fields()), from_text(entry.text())):
        assert received.target == ip_network("198.51.100.0/24")
        assert received.end == ban.until == 702.0  # the longest member ban
        assert (received.members, received.escalated) == (ban.members, 3)

    other = Jail(JailSpec("sshd"))
    assert entry.end is not None
    (applied,) = other.ban(entry.target, 200.0, entry.end - 200.0, members=entry.members)
    assert applied.until == 702.0 and applied.members == ban.members
    assert other.is_banned("198.51.100.0/24")
    assert other.members_of(entry.target) == ban.members


def test_a_plain_ban_has_no_members_and_a_long_list_is_cut() -> None:
    net = ip_network("2001:db8:1::/48")
    plain = FleetEntry("ban", "sshd", net, 1.0, None, 1, "a").fields()
    assert "members" not in plain and decode(plain).members == ()
    many = tuple(f"2001:db8:1:{n + 1:x}::/64" for n in range(200))
    fields = FleetEntry("ban", "sshd", net, 1.0, None, 1, "a", many, 200).fields()
    assert len(fields["members"]) <= 2048
    got = decode(fields)
    assert got.escalated == 200 and 0 < len(got.members) < 200
    assert got.members == many[:len(got.members)]


@pytest.mark.parametrize(("members", "escalated", "why"), [
    ("192.0.2.1", "1", "not an address inside 198.51.100.0/24"),
    ("198.51.100.1,nope", "2", "'nope' is not an address"),
    ("198.51.100.0/24", "1", "not an address inside"),
    ("198.51.100.1,198.51.100.2", "1", "not the number of members"),
    ("198.51.100.1", "", "not the number of members"),
    ("198.51.100.1\n", "1", "printable"),
])
def test_bad_members_are_refused(members: str, escalated: str, why: str) -> None:
    fields = FleetEntry("ban", "sshd", ip_network("198.51.100.0/24"), 1.0, None, 1,
                        "a").fields()
    fields["members"] = members
    fields["escalated"] = escalated
    with pytest.raises(BadEntry, match=why):
        decode(fields)


@pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")
def test_the_receiving_host_logs_and_explains_the_escalation(
        tmp_path: Path, server: RedisServer, servers: list[Server]) -> None:
    hosts: dict[str, Server] = {}
    for name in ("a", "b"):
        log = tmp_path / f"{name}.log"
        log.touch()
        hosts[name] = Server(
            tmp_path / name, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"
            "maxretry = 1\nbantime = 1h\nescalate = 3 in /24\n",
            settings=f"\n[Fleet]\nredis = {server.url}\nname = {name}\n")
        servers.append(hosts[name].start())
    a, b = hosts["a"], hosts["b"]
    for host in (a, b):
        wait_for("the fleet link", lambda h=host: "fleet: connected" in h.log_text())  # type: ignore[misc]
    members = ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    append(tmp_path / "a.log", "".join(failure_line(m) for m in members))
    reason = ("[sshd] Escalate 198.51.100.0/24: 3 of its addresses banned within findtime "
              f"({', '.join(members)})")
    wait_for("A to escalate", lambda: reason in a.log_text())
    wait_for("B to take the network", lambda: "198.51.100.0/24" in b.banned("sshd"))
    wait_for("B to log the same reason", lambda: reason in b.log_text())
    shown = b.cli("explain", "198.51.100.50")
    assert shown.returncode == 0, shown.stderr
    assert "inside the banned network 198.51.100.0/24, escalated:" in shown.stdout
    assert ", ".join(members) in shown.stdout


def test_a_host_that_ignores_an_address_inside_does_not_take_the_network() -> None:
    ban = _escalated()
    other = Jail(JailSpec("sshd", ignore=(ip_network("198.51.100.77/32"),)))
    assert isinstance(ban.ip, type(ip_network("198.51.100.0/24")))
    assert ban.ip not in other.ignore  # the network itself is not ignored ...
    assert other.ignore.overlaps(ban.ip)  # ... but holds an ignored address: refused
