"""What a jail gets back over a restart (issue 14), fake clock: the logins it trusts, the
members of its escalated bans and its escalation groups, from what the store kept."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network
from types import MappingProxyType

from tests.core.test_jail_trust import MORNING_LOGIN_EVENING_TYPOS, USER, accepted, at, failed, play
from tests.core.test_jail_trust import jail as trust_jail
from warden.core.decisions import Ban, Decision
from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec

DAY = 86400.0


@dataclass(frozen=True)
class Kept:
    """A ban as the store gives it back (active, or of the history)."""

    jail: str
    addr: str
    start: float
    bantime: float
    count: int = 1
    members: tuple[str, ...] = ()
    counted: bool = True


def kept(decisions: list[Decision]) -> list[Kept]:
    # as the daemon's runtime records them: a ban with no failure behind it is no counted one
    return [Kept(d.jail, d.address, d.time, d.bantime, d.count, d.members, d.failures > 0)
            for d in decisions if isinstance(d, Ban)]


def restart(before: Jail, decisions: list[Decision], now: float) -> tuple[Jail, list[Ban]]:
    """A new jail of the same spec, given back what the daemon's store kept of ``before``."""
    records = kept(decisions)
    active = {r.addr: r for r in records}  # the latest of each address (prolonged ones)
    after = Jail(before.spec)
    restored = after.restore(list(active.values()), now,
                             members={r.addr: r.members for r in records if r.members},
                             recent=records)
    return after, restored


def fail(j: Jail, fid: str, now: float) -> list[Decision]:
    return j.add_failure(Failure(fid, now, MappingProxyType({}), (), 0), now)


# -- trust ------------------------------------------------------------------------------------
def test_a_login_at_nine_still_counts_at_five_after_a_restart_at_noon() -> None:
    first = trust_jail(DAY)
    assert first.collect_trust() == []  # the daemon starts collecting
    assert play(first, MORNING_LOGIN_EVENING_TYPOS[:1]) == []
    logins = first.collect_trust()
    assert logins == [(USER, at("09:00:00"))]
    assert first.collect_trust() == []  # each login is handed out once

    second = trust_jail(DAY)
    assert second.restore_trust(logins, at("12:00:00")) == 1
    assert play(second, MORNING_LOGIN_EVENING_TYPOS[1:]) == []  # three typos: not banned
    # without what the store kept, the user is a stranger again
    assert [b.address for b in play(trust_jail(DAY), MORNING_LOGIN_EVENING_TYPOS[1:])] == [USER]


def test_restored_logins_end_as_they_would_have() -> None:
    j = trust_jail(3600.0)
    # one too old at restart, one from the future (a clock step): neither is taken
    assert j.restore_trust([("192.0.2.1", at("08:00:00")), ("192.0.2.2", at("13:00:00")),
                            ("192.0.2.3", at("11:30:00"))], at("12:00:00")) == 1
    assert j.status(at("12:00:00")).trusted == 1
    typos = [("12:20:00", failed("192.0.2.3"))] * 3
    assert play(j, typos) == []
    late = [("12:31:00", failed("192.0.2.4")), ("12:31:01", failed("192.0.2.4")),
            ("12:31:02", failed("192.0.2.4"))]
    assert [b.address for b in play(j, late)] == ["192.0.2.4"]
    assert trust_jail(None).restore_trust([(USER, at("09:00:00"))], at("09:00:01")) == 0
    assert trust_jail(None).collect_trust() == []


def test_only_the_latest_login_of_a_key_is_handed_out() -> None:
    j = trust_jail(DAY)
    j.collect_trust()
    play(j, [("09:00:00", accepted(USER)), ("10:00:00", accepted(USER)),
             ("11:00:00", accepted("192.0.2.9"))])
    assert sorted(j.collect_trust()) == [("192.0.2.9", at("11:00:00")),
                                         (USER, at("10:00:00"))]


# -- escalation -------------------------------------------------------------------------------
def escalating() -> Jail:
    return Jail(JailSpec("sshd", maxretry=1, findtime=600.0, bantime=1000.0,
                         escalate=parse_escalate("3 in /24")))


def test_an_escalated_ban_comes_back_with_its_members() -> None:
    j = escalating()
    out: list[Decision] = []
    for n in (1, 2, 3):
        out += fail(j, f"198.51.100.{n}", 100.0 + n)
    net = ip_network("198.51.100.0/24")
    assert j.members_of(net) == ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    assert j.members_of(ip_network("198.51.100.1/32")) == ()  # a member is no escalation
    again, restored = restart(j, out, 200.0)
    (wide,) = [b for b in restored if b.escalated]
    assert wide.address == "198.51.100.0/24" and wide.restored
    assert again.members_of(net) == j.members_of(net)
    # status counts it among the escalated networks, as before the restart
    assert again.status(200.0).escalated == j.status(200.0).escalated == 1
    # an unban forgets them; so does the end of the ban
    again.unban("198.51.100.0/24", 210.0)
    assert again.members_of(net) == ()
    later, _ = restart(j, out, 200.0)
    later.expire(2000.0)
    assert later.members_of(net) == ()


def test_the_groups_of_recent_bans_survive_a_restart() -> None:
    j = escalating()
    out = fail(j, "203.0.113.1", 100.0) + fail(j, "203.0.113.2", 150.0)
    again, _ = restart(j, out, 160.0)
    # the third address of the /24 escalates, as it would have without the restart
    third = fail(again, "203.0.113.3", 170.0)
    wide = [b for b in third if isinstance(b, Ban) and b.escalated]
    assert [(b.address, b.members) for b in wide] == [
        ("203.0.113.0/24", ("203.0.113.1", "203.0.113.2", "203.0.113.3"))]
    # a jail started without the history forgets the group: the third is a first again
    fresh = escalating()
    fresh.restore([], 160.0, recent=[])
    assert not any(isinstance(b, Ban) and b.escalated for b in fail(fresh, "203.0.113.3", 170.0))


def test_a_group_that_escalated_before_the_restart_does_not_escalate_again() -> None:
    j = escalating()
    out: list[Decision] = []
    for n in (1, 2, 3):
        out += fail(j, f"198.51.100.{n}", 100.0 + n)
    again, _ = restart(j, out, 110.0)
    again.unban("198.51.100.0/24", 111.0)  # lifts the network and its members
    # one more member is a new wave's first, as it is in the jail that never restarted
    assert [b.address for b in fail(again, "198.51.100.4", 120.0) if isinstance(b, Ban)] \
        == ["198.51.100.4"]
    j.unban("198.51.100.0/24", 111.0)
    assert [b.address for b in fail(j, "198.51.100.4", 120.0) if isinstance(b, Ban)] == \
        ["198.51.100.4"]


def test_bans_by_hand_join_no_group_before_or_after_a_restart() -> None:
    # Two addresses of a /24 banned by hand, then one for its failures: no escalation in the
    # jail that keeps running (only counted bans are noted), and none after a restart.
    j = escalating()
    out: list[Decision] = [*j.ban("203.0.113.1", 100.0), *j.ban("203.0.113.2", 101.0)]
    again, _ = restart(j, out, 110.0)
    for jail in (j, again):
        third = fail(jail, "203.0.113.3", 120.0)
        assert [b.address for b in third if isinstance(b, Ban)] == ["203.0.113.3"]
    # while the same two counted for their failures do make the third escalate (the test
    # above): the difference is the ban's cause, kept in the history over the restart
    assert all(not r.counted for r in kept(out))


def test_bans_out_of_findtime_and_of_other_jails_form_no_group() -> None:
    j = escalating()
    old = fail(j, "192.0.2.1", 100.0) + fail(j, "192.0.2.2", 101.0)
    other = [Kept("web", "192.0.2.3", 700.0, 1000.0), Kept("web", "192.0.2.4", 700.0, 1000.0)]
    again = Jail(j.spec)
    again.restore([], 750.0, recent=[*kept(old), *other])
    assert again.escalator is not None and len(again.escalator) == 0
    assert not any(isinstance(b, Ban) and b.escalated for b in fail(again, "192.0.2.5", 750.0))
