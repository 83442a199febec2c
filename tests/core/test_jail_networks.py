"""Counting and banning by network, escalation, ignoreip precedence (issue 14), fake clock."""

from __future__ import annotations

import random
from ipaddress import ip_network
from types import MappingProxyType

import pytest

from warden.core.addr import covering, format_target, network_text, parse_address
from warden.core.decisions import Ban, Decision
from warden.core.escalate import Escalation, Escalator, parse_escalate
from warden.core.filter import Failure
from warden.core.ignore import IgnoreList
from warden.core.jail import Jail
from warden.core.spec import Increment, JailSpec


def fail(jail: Jail, fid: str, now: float) -> list[Decision]:
    return jail.add_failure(Failure(fid, now, MappingProxyType({}), (f"{fid} failed",), 0), now)


def bans(decisions: list[Decision]) -> list[str]:
    out = []
    for d in decisions:
        assert isinstance(d, Ban)
        until = "forever" if d.until is None else f"{d.until:g}"
        extra = f" <- {','.join(d.members)}" if d.members else ""
        out.append(f"{d.address} ..{until}{' prolonged' if d.prolonged else ''}{extra}")
    return out


def jail(**options: object) -> Jail:
    values: dict[str, object] = {"maxretry": 3, "findtime": 600.0, "bantime": 100.0}
    values.update(options)
    return Jail(JailSpec("j", **values))  # type: ignore[arg-type]


def test_defaults_count_and_ban_single_addresses_as_fail2ban() -> None:
    j = jail()
    assert not j.spec.by_network
    out: list[Decision] = []
    for n in range(1, 4):
        out += fail(j, f"2001:db8:1:2::{n}", 10.0 + n)
    assert out == []  # three addresses, one failure each: nobody reaches maxretry


def test_rotating_inside_a_64_is_counted_and_banned_as_the_64() -> None:
    j = jail(banprefix6=64)
    out: list[Decision] = []
    for n in range(1, 4):
        out += fail(j, f"2001:db8:1:2::{n:x}", 10.0 + n)
    assert bans(out) == ["2001:db8:1:2::/64 ..113"]
    assert j.is_banned("2001:db8:1:2::/64")
    # another /64 is counted apart
    assert fail(j, "2001:db8:1:3::1", 20) == []
    assert j.status(20).currently_failed == 1


def test_countprefix_wider_than_the_ban_prefix() -> None:
    # counted per /56, banned per /64 of the address that reached maxretry
    j = jail(banprefix6=64, countprefix6=56)
    out = fail(j, "2001:db8:1:1::1", 1) + fail(j, "2001:db8:1:2::1", 2) + \
        fail(j, "2001:db8:1:3::1", 3)
    assert bans(out) == ["2001:db8:1:3::/64 ..103"]


def test_countprefix_alone_counts_per_network_and_bans_the_address() -> None:
    j = jail(countprefix4=24)
    out = fail(j, "192.0.2.1", 1) + fail(j, "192.0.2.2", 2) + fail(j, "192.0.2.3", 3)
    assert bans(out) == ["192.0.2.3 ..103"]


def test_ipv4_banprefix() -> None:
    j = jail(banprefix4=24)
    out = fail(j, "198.51.100.7", 1) + fail(j, "198.51.100.8", 2) + fail(j, "198.51.100.9", 3)
    assert bans(out) == ["198.51.100.0/24 ..103"]
    # failures from inside the banned network once it is banned: prolonged, not doubled
    out = fail(j, "198.51.100.1", 50) + fail(j, "198.51.100.2", 51) + fail(j, "198.51.100.3", 52)
    assert bans(out) == ["198.51.100.0/24 ..152 prolonged"]
    assert len(j.bans) == 1


def test_ignoreip_inside_the_network_keeps_the_ban_per_address() -> None:
    j = jail(banprefix6=64, ignore=(ip_network("2001:db8:1:2::99/128"),))
    out: list[Decision] = []
    for n in range(1, 4):
        out += fail(j, f"2001:db8:1:2::{n}", 10.0 + n)
    # counted per /64, but the /64 holds an ignored address: only the address is banned
    assert bans(out) == ["2001:db8:1:2::3 ..113"]
    # the ignored address itself never counts
    assert fail(j, "2001:db8:1:2::99", 20) == []
    assert j.status(20).total_failed == 3


def test_unban_of_the_network_lifts_it_whole() -> None:
    j = jail(banprefix6=64)
    for n in range(1, 4):
        fail(j, f"2001:db8:1:2::{n}", float(n))
    lifted = j.unban("2001:db8:1:2::/64", 10)
    assert [u.address for u in lifted] == ["2001:db8:1:2::/64"]
    assert len(j.bans) == 0


ESCALATE = parse_escalate("3 in /24, 3 in /48")


def test_escalation_bans_the_network_for_the_longest_member_ban() -> None:
    j = jail(maxretry=1, escalate=ESCALATE)
    out = fail(j, "192.0.2.1", 10) + fail(j, "192.0.2.2", 20)
    assert bans(out) == ["192.0.2.1 ..110", "192.0.2.2 ..120"]
    out = fail(j, "192.0.2.3", 30)
    assert bans(out) == ["192.0.2.3 ..130",
                         "192.0.2.0/24 ..130 <- 192.0.2.1,192.0.2.2,192.0.2.3"]
    assert j.status(30).escalated == 1
    # an address of the network banned since is held by the network: no new ban, unless
    # its own would end later
    assert fail(j, "192.0.2.77", 30) == []
    assert bans(fail(j, "192.0.2.78", 40)) == ["192.0.2.78 ..140"]
    # the network ends with its members; then addresses are banned one by one again
    ended = [u.address for u in j.expire(131)]
    assert "192.0.2.0/24" in ended
    assert bans(fail(j, "192.0.2.77", 140)) == ["192.0.2.77 ..240"]


def test_escalation_needs_its_members_within_findtime() -> None:
    j = jail(maxretry=1, bantime=10_000.0, findtime=600.0, escalate=ESCALATE)
    out = fail(j, "192.0.2.1", 0) + fail(j, "192.0.2.2", 650) + fail(j, "192.0.2.3", 700)
    assert len(out) == 3  # the first ban is out of the window of the third: no escalation
    out = fail(j, "192.0.2.4", 750)
    assert bans(out)[-1] == "192.0.2.0/24 ..10750 <- 192.0.2.2,192.0.2.3,192.0.2.4"


def test_escalation_of_ipv6_64s_into_the_48_and_permanent_members() -> None:
    j = jail(maxretry=1, banprefix6=64, bantime=-1.0, escalate=ESCALATE)
    out: list[Decision] = []
    for n in range(1, 4):
        out += fail(j, f"2001:db8:7:{n}::1", float(n))
    assert bans(out)[-1] == ("2001:db8:7::/48 ..forever <- 2001:db8:7:1::/64,"
                             "2001:db8:7:2::/64,2001:db8:7:3::/64")


def test_ignoreip_wins_over_escalation() -> None:
    j = jail(maxretry=1, escalate=ESCALATE, ignore=(ip_network("192.0.2.200/32"),))
    out = fail(j, "192.0.2.1", 1) + fail(j, "192.0.2.2", 2) + fail(j, "192.0.2.3", 3)
    assert bans(out) == ["192.0.2.1 ..101", "192.0.2.2 ..102", "192.0.2.3 ..103"]
    assert j.status(3).escalated == 0


def test_escalation_counts_each_target_once_and_distinct_networks_apart() -> None:
    j = jail(maxretry=1, escalate=ESCALATE)
    out = fail(j, "192.0.2.1", 1) + fail(j, "198.51.100.1", 2) + fail(j, "192.0.2.2", 3)
    j.expire(200)  # the bans end; the addresses are banned again, still two in 192.0.2.0/24
    out = fail(j, "192.0.2.1", 201) + fail(j, "192.0.2.2", 202)
    assert bans(out) == ["192.0.2.1 ..301", "192.0.2.2 ..302"]


def test_a_manual_unban_takes_the_member_out_of_its_group() -> None:
    j = jail(maxretry=1, escalate=ESCALATE)
    fail(j, "192.0.2.1", 1)
    fail(j, "192.0.2.2", 2)
    j.unban("192.0.2.1", 3)
    assert bans(fail(j, "192.0.2.3", 4)) == ["192.0.2.3 ..104"]


def test_trusted_bans_are_not_escalated_differently_and_increment_is_kept_off() -> None:
    inc = Increment(enabled=True)
    j = jail(maxretry=1, banprefix4=24, increment=inc)
    first = fail(j, "192.0.2.1", 1)
    j.expire(500)
    second = fail(j, "192.0.2.9", 600)
    # the second ban of the same /24 is a repeat offence of that network: twice as long
    assert bans(first + second) == ["192.0.2.0/24 ..101", "192.0.2.0/24 ..800"]


@pytest.mark.parametrize(("text", "rules"), [
    ("", ()),
    ("no", ()),
    ("3 in /24", (Escalation(3, 24, 4),)),
    ("3 in /24, 5 in /48", (Escalation(3, 24, 4), Escalation(5, 48, 6))),
    ("4 in v6/32", (Escalation(4, 32, 6),)),
    ("2 IN ipv4 /16", (Escalation(2, 16, 4),)),
])
def test_parse_escalate(text: str, rules: tuple[Escalation, ...]) -> None:
    assert parse_escalate(text) == rules


@pytest.mark.parametrize(("text", "why"), [
    ("3 of /24", "not a rule like"),
    ("1 in /24", "at least 2"),
    ("3 in /4", "/8 to /31"),
    ("3 in /32", "/8 to /31"),
    ("3 in v6/128", "/32 to /127"),
    ("3 in v6/16", "/32 to /127"),
    ("3 in /24, 4 in /24", "a second rule"),
])
def test_parse_escalate_refuses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_escalate(text)


def test_escalator_forgets_quiet_groups() -> None:
    esc = Escalator(ESCALATE, 600.0)
    assert esc.note(ip_network("192.0.2.1/32"), 0) == []
    assert len(esc) == 1
    esc.expire(601)
    assert len(esc) == 0
    assert esc.note("raw-id", 0) == []


def test_ignore_list_overlaps() -> None:
    ignored = IgnoreList([ip_network("192.0.2.7/32"), ip_network("10.0.0.0/8"), "someone"])
    assert ignored.overlaps(ip_network("192.0.2.0/24"))       # holds an ignored address
    assert ignored.overlaps(ip_network("10.1.0.0/16"))        # lies in an ignored network
    assert not ignored.overlaps(ip_network("198.51.100.0/24"))
    assert not ignored.overlaps(ip_network("2001:db8::/64"))


def test_reconfigure_turns_network_counting_on_and_keeps_the_bans() -> None:
    j = jail(maxretry=1)
    fail(j, "192.0.2.1", 1)
    j.reconfigure(JailSpec("j", maxretry=1, bantime=100.0, banprefix4=24,
                           escalate=parse_escalate("2 in /16")))
    assert j.is_banned("192.0.2.1")
    out = fail(j, "192.0.3.1", 2)
    assert bans(out) == ["192.0.3.0/24 ..102"]
    assert j.escalator is not None


def test_ipv4_keeps_the_plain_path_beside_banprefix6() -> None:
    j = jail(banprefix6=64)
    out = fail(j, "192.0.2.1", 1) + fail(j, "192.0.2.1", 2) + fail(j, "192.0.2.2", 2)
    assert out == []
    assert bans(fail(j, "192.0.2.1", 3)) == ["192.0.2.1 ..103"]
    assert bans(fail(j, "2001:db8::1", 4) + fail(j, "2001:db8::2", 4)
                + fail(j, "2001:db8::3", 5)) == ["2001:db8::/64 ..105"]


def test_network_text_is_format_target() -> None:
    rng = random.Random(14)
    samples = ["::", "::1", "2001:db8::", "2001:0:0:1::", "2001:db8:0:0:1:0:0:1",
               "1:0:0:2:0:0:0:3", "0.0.0.0", "203.0.113.255"]
    for _ in range(3000):
        groups = [rng.choice((0, 0, 0, rng.getrandbits(16), rng.getrandbits(4)))
                  for _ in range(8)]
        samples.append(":".join(f"{g:x}" for g in groups))
        samples.append(".".join(str(rng.getrandbits(8)) for _ in range(4)))
    for text in samples:
        addr = parse_address(text)
        assert addr is not None
        for prefix in {addr.max_prefixlen, 64, 48, 24, 16, 1}:
            if prefix > addr.max_prefixlen:
                continue
            net = covering(addr, prefix)
            # ipaddress' own text of the network is the reference
            shown = str(net.network_address) if prefix == addr.max_prefixlen else str(net)
            assert network_text(addr.version, int(net.network_address), prefix) == shown, \
                (text, prefix)
            assert format_target(net) == shown


def test_raw_ids_and_cidr_failures_in_a_jail_counting_by_network() -> None:
    j = jail(banprefix6=64, banprefix4=24)
    out = fail(j, "alice", 1) + fail(j, "alice", 2) + fail(j, "alice", 3)
    assert bans(out) == ["alice ..103"]  # a raw id is counted and banned as itself
    # a <CIDR> failure wider than the ban prefix stays as wide; a narrower one is widened
    out = fail(j, "198.51.100.0/23", 4) + fail(j, "198.51.100.0/23", 5) + \
        fail(j, "198.51.100.0/23", 6)
    assert bans(out) == ["198.51.100.0/23 ..106"]
    out = fail(j, "203.0.113.8/29", 7) + fail(j, "203.0.113.8/29", 8) + \
        fail(j, "203.0.113.16/29", 9)
    assert bans(out) == ["203.0.113.0/24 ..109"]


def test_an_escalated_network_is_prolonged_by_a_later_wave() -> None:
    j = jail(maxretry=1, bantime=100.0, findtime=1000.0, escalate=parse_escalate("2 in /24"))
    out = fail(j, "192.0.2.1", 1) + fail(j, "192.0.2.2", 2)
    assert bans(out)[-1] == "192.0.2.0/24 ..102 <- 192.0.2.1,192.0.2.2"
    j.expire(150)  # all three bans ended
    out = fail(j, "192.0.2.3", 160) + fail(j, "192.0.2.4", 170)
    assert bans(out)[-1] == "192.0.2.0/24 ..270 <- 192.0.2.3,192.0.2.4"
    # a manual ban of the network for longer: the next wave's shorter end changes nothing
    j.ban("192.0.2.0/24", 171, 10_000)
    j.unban("192.0.2.3", 172)
    j.unban("192.0.2.4", 172)
    assert bans(fail(j, "192.0.2.5", 173)) == []  # held by the network


def test_old_lines_read_late_escalate_to_the_members_latest_end() -> None:
    j = jail(maxretry=1, bantime=10.0, findtime=1000.0, escalate=parse_escalate("2 in /24"))
    out = j.add_failure(Failure("192.0.2.1", 5.0, MappingProxyType({}), (), 0), 12.0)
    out += j.add_failure(Failure("192.0.2.2", 6.0, MappingProxyType({}), (), 0), 12.0)
    assert bans(out) == ["192.0.2.1 ..15", "192.0.2.2 ..16",
                         "192.0.2.0/24 ..16 <- 192.0.2.1,192.0.2.2"]


def test_the_longest_covering_network_ban_wins() -> None:
    j = jail(maxretry=1, banprefix4=32)
    j.ban("192.0.0.0/16", 0, 50)
    j.ban("192.0.2.0/24", 0, 500)
    covering_ban = j.bans.covering(ip_network("192.0.2.9/32"))
    assert covering_ban is not None and str(covering_ban[0]) == "192.0.2.0/24"
    assert j.bans.covering(ip_network("198.51.100.1/32")) is None
    assert j.bans.covering("raw") is None


@pytest.mark.parametrize("options", [{"banprefix6": 0}, {"banprefix4": 33},
                                     {"countprefix6": 129}, {"trustmaxretry": 0}])
def test_spec_refuses_impossible_values(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        JailSpec("j", **options)  # type: ignore[arg-type]
