"""Jail behaviour outside the event scripts: log lines and shared dates, restore after a
restart, flush, overall history, bounds on pending questions, the expiry timer."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from types import MappingProxyType

import pytest

from warden.core.datedetect import DateDetector, DateMatch
from warden.core.decisions import Ban, CheckIgnore, Decision, ResolveHost, Unban
from warden.core.filter import Failure, Filter
from warden.core.filterdef import FilterDefinition
from warden.core.history import BanHistory, Previous
from warden.core.jail import Jail
from warden.core.spec import Increment, JailSpec

T0 = 1_700_000_000.0
SSH = FilterDefinition(name="ssh", failregex=(r"^\s*sshd: fail <HOST>$",),
                       datepattern="{^LN-BEG}EPOCH")
AUTH = FilterDefinition(name="auth", failregex=(r"^\s*auth: bad user <F-USER>\S+</F-USER> "
                                                r"from <HOST>$",),
                        datepattern="{^LN-BEG}EPOCH")


def fail(jail: Jail, fid: str, time: float | None, now: float) -> list[Decision]:
    return jail.add_failure(Failure(fid, time, MappingProxyType({"ip4": fid}), (), 0), now)


@dataclass(frozen=True)
class Stored:
    addr: str
    start: float
    bantime: float
    count: int = 1


def test_feed_uses_the_log_time_and_every_filter() -> None:
    jail = Jail(JailSpec("j", filters=(SSH, AUTH), maxretry=3))
    assert jail.feed(f"{T0:.0f} sshd: fail 192.0.2.1\n", T0 + 5) == []
    assert jail.feed(f"{T0 + 1:.0f} auth: bad user root from 192.0.2.1", T0 + 5) == []
    assert jail.feed("nothing to see", T0 + 5) == []
    (ban,) = jail.feed(f"{T0 + 2:.0f} sshd: fail 192.0.2.1", T0 + 5)
    assert isinstance(ban, Ban)
    assert (ban.ip, ban.time, ban.until, ban.failures) == (
        ip_network("192.0.2.1/32"), T0 + 2, T0 + 602, 3)
    assert ban.matches == (f"{T0:.0f} sshd: fail 192.0.2.1",
                           f"{T0 + 1:.0f} auth: bad user root from 192.0.2.1",
                           f"{T0 + 2:.0f} sshd: fail 192.0.2.1")
    assert ban.address == "192.0.2.1"
    assert ban.fields["ip4"] == "192.0.2.1" and "user" not in ban.fields  # the last failure's


def test_feed_with_a_shared_date_does_not_search_again() -> None:
    class Counting(DateDetector):
        calls = 0

        def match(self, line: str, now: float) -> DateMatch | None:
            Counting.calls += 1
            return super().match(line, now)

    flt = Filter(SSH, dates=Counting("{^LN-BEG}EPOCH"))
    jail = Jail(JailSpec("j", maxretry=1), filters=[flt])
    shared = DateDetector("{^LN-BEG}EPOCH")
    line = f"{T0:.0f} sshd: fail 198.51.100.2"
    date = shared.match(line, T0)
    assert date is not None
    (ban,) = jail.feed(line, T0 + 1, date)
    assert isinstance(ban, Ban) and ban.time == T0
    assert Counting.calls == 0
    jail.feed(line, T0 + 1)
    assert Counting.calls == 1


def test_journal_filters_take_now_even_with_a_date() -> None:
    jail = Jail(JailSpec("j", filters=(SSH,), maxretry=1, journal=True))
    (ban,) = jail.feed("sshd: fail 198.51.100.2", T0)
    assert isinstance(ban, Ban) and ban.time == T0
    shared = DateDetector("{^LN-BEG}EPOCH").match(f"{T0 - 60:.0f} x", T0)
    (ban,) = jail.feed("sshd: fail 198.51.100.3", T0 + 1, shared)
    assert isinstance(ban, Ban) and ban.time == T0 + 1


def test_restore_after_restart() -> None:
    jail = Jail(JailSpec("j", bantime=600, ignore=("203.0.113.0/24",)))
    restored = jail.restore([
        Stored("192.0.2.1", T0 - 100, 600, 2),
        Stored("192.0.2.2", T0 - 700, 600),  # over already
        Stored("192.0.2.3", T0 - 100, -1),  # forever, but the jail bans 600 s now
        Stored("192.0.2.4", T0 - 10, 86400),  # longer than the jail gives now: cut
        Stored("203.0.113.5", T0, 600),  # ignored now
        Stored("198.51.100.0/24", T0, 60),
        Stored("bob", T0, 60),
        Stored("192.0.2.1", T0 - 200, 600),  # older duplicate: the later end stays
    ], T0)
    assert [(b.address, b.until, b.count, b.restored) for b in restored] == [
        ("192.0.2.1", T0 + 500, 2, True),
        ("192.0.2.3", T0 + 500, 1, True),
        ("192.0.2.4", T0 + 590, 1, True),
        ("198.51.100.0/24", T0 + 60, 1, True),
        ("bob", T0 + 60, 1, True),
    ]
    assert jail.history.lookup("192.0.2.1", "j") == Previous(2, T0 - 100)
    status = jail.status(T0)
    assert (status.currently_banned, status.total_banned) == (5, 5)
    assert jail.is_banned("192.0.2.1") and jail.is_banned(ip_network("198.51.100.0/24"))
    assert jail.is_banned("bob") and not jail.is_banned("192.0.2.2")
    # a restored ban that ends later than the one already held replaces it
    (again,) = jail.restore([Stored("192.0.2.4", T0, 600)], T0)
    assert again.until == T0 + 600
    assert jail.status(T0).total_banned == 5


def test_restore_keeps_permanent_bans_of_permanent_or_growing_jails() -> None:
    for spec in (JailSpec("j", bantime=-1), JailSpec("j", increment=Increment(enabled=True))):
        (ban,) = Jail(spec).restore([Stored("192.0.2.1", T0 - 1e6, -1)], T0)
        assert ban.until is None and ban.bantime == -1


def test_unban_all_and_history() -> None:
    history = BanHistory()
    jail = Jail(JailSpec("j", maxretry=1), history=history)
    jail.ban("192.0.2.1", T0)
    jail.ban("2001:db8::/64", T0)
    out = jail.unban_all(T0 + 1)
    assert [(u.address, u.reason) for u in out] == [("192.0.2.1", "flush"),
                                                    ("2001:db8::/64", "flush")]
    assert all(isinstance(u, Unban) for u in out)
    assert history.lookup("192.0.2.1", "j") is None
    assert jail.expire(T0 + 1e6) == []
    jail.ban("192.0.2.1", T0)
    jail.unban_all(T0 + 1, forget=False)
    assert history.lookup("192.0.2.1", "j") == Previous(1, T0)


def test_overalljails_counts_bans_in_every_jail() -> None:
    history = BanHistory()
    inc = Increment(enabled=True, overalljails=True)
    ssh = Jail(JailSpec("ssh", maxretry=1, increment=inc), history=history)
    web = Jail(JailSpec("web", maxretry=1, increment=inc), history=history)
    local = Jail(JailSpec("mail", maxretry=1, increment=Increment(enabled=True)),
                 history=history)
    ssh.ban("192.0.2.1", T0)
    (ban,) = web.ban("192.0.2.1", T0 + 10)
    assert isinstance(ban, Ban)
    assert (ban.count, ban.bantime) == (1, 1200)  # first here, second overall
    (ban,) = ssh.ban("192.0.2.1", T0 + 20)  # active in ssh: prolonged, same count
    assert isinstance(ban, Ban)
    assert ban.prolonged and ban.count == 1
    (ban,) = local.ban("192.0.2.1", T0 + 20)
    assert isinstance(ban, Ban)
    assert (ban.count, ban.bantime) == (1, 600)
    (ban,) = Jail(JailSpec("other", increment=inc), history=history).ban("192.0.2.1", T0 + 30)
    assert isinstance(ban, Ban)
    assert (ban.count, ban.bantime) == (1, 4800)  # three earlier bans overall


def test_known_offender_failures_before_its_last_ban_count_once() -> None:
    history = BanHistory()
    history.record("192.0.2.1", "j", 3, T0)
    jail = Jail(JailSpec("j", maxretry=5, findtime=3600,
                         increment=Increment(enabled=True)), history=history)
    assert fail(jail, "192.0.2.1", T0 - 10, T0 + 1) == []  # before the last ban: counts 1
    assert jail.tracker.count("192.0.2.1") == 1
    (ban,) = fail(jail, "192.0.2.1", T0 + 1, T0 + 1)  # after it: counts 2**3/2 + 1 = 5
    assert isinstance(ban, Ban)
    assert (ban.failures, ban.count, ban.bantime) == (6, 4, 4800)


def test_pending_questions_are_bounded() -> None:
    jail = Jail(JailSpec("j", maxretry=2, max_pending=2, ignorecommand=True))

    assert [type(d) for d in fail(jail, "192.0.2.1", T0, T0)] == [CheckIgnore]
    for _ in range(5):  # at most maxretry failures wait per question
        fail(jail, "192.0.2.1", T0, T0)
    fail(jail, "192.0.2.2", T0, T0)
    fail(jail, "192.0.2.3", T0, T0)  # the oldest question (192.0.2.1) is dropped
    status = jail.status(T0)
    assert (status.pending, status.evicted) == (2, 4 + 2)
    assert jail.ignore_answer("192.0.2.1", False, T0) == []
    # questions whose failures left the window are dropped on expire
    jail.expire(T0 + 601)
    assert jail.status(T0 + 601).pending == 0
    assert jail.status(T0 + 601).evicted == 8


def test_tracker_cap_is_reported() -> None:
    jail = Jail(JailSpec("j", maxretry=3, max_tracked=64))
    for i in range(1000):
        fail(jail, str(ip_address(0xC0000200 + i)), T0, T0)
    status = jail.status(T0)
    assert status.currently_failed <= 64
    assert status.evicted == 1000 - status.currently_failed
    assert status.total_failed == 1000


def test_next_expiry_skips_lifted_bans() -> None:
    jail = Jail(JailSpec("j"))
    assert jail.next_expiry() is None
    jail.ban("192.0.2.1", T0, 100)
    jail.ban("192.0.2.2", T0, 200)
    jail.ban("192.0.2.3", T0, -1)
    assert jail.next_expiry() == T0 + 100
    jail.unban("192.0.2.1", T0)
    assert jail.next_expiry() == T0 + 200
    jail.ban("192.0.2.2", T0, 300)  # prolonged
    assert jail.next_expiry() == T0 + 300
    assert [u.address for u in jail.expire(T0 + 301)] == ["192.0.2.2"]
    assert jail.next_expiry() is None


def test_set_ignore_and_bad_arguments() -> None:
    jail = Jail(JailSpec("j", maxretry=1))
    jail.set_ignore([ip_network("192.0.2.0/24")])
    assert "192.0.2.9" in jail.ignore
    with pytest.raises(ValueError, match="not an IP address or network: 'bob'"):
        jail.ban("bob", T0)
    with pytest.raises(ValueError, match="not an IP address"):
        jail.unban("192.0.2.1/40", T0)


def test_an_address_ignored_later_is_no_longer_counted() -> None:
    # tracked addresses skip the ignore test on later failures: set_ignore must forget them
    jail = Jail(JailSpec("j", maxretry=3))
    for addr in ("192.0.2.5", "198.51.100.5", "bob"):
        fail(jail, addr, T0, T0)
        fail(jail, addr, T0 + 1, T0 + 1)
    jail.set_ignore([ip_network("192.0.2.0/24"), "bob"])
    assert fail(jail, "192.0.2.5", T0 + 2, T0 + 2) == []
    assert fail(jail, "bob", T0 + 2, T0 + 2) == []
    (ban,) = fail(jail, "198.51.100.5", T0 + 2, T0 + 2)
    assert isinstance(ban, Ban) and ban.ip == ip_network("198.51.100.5/32")
    assert jail.status(T0 + 2).currently_failed == 0


def test_resolved_accepts_address_objects_and_networks() -> None:
    jail = Jail(JailSpec("j", maxretry=1))
    out = jail.add_failure(Failure("h.example", T0, MappingProxyType({"dns": "h.example"}),
                                   (), 0), T0)
    assert out == [ResolveHost("j", "h.example", True)]
    bans = jail.resolved("h.example", [ip_address("192.0.2.1"), ip_network("2001:db8::/64")],
                         T0)
    assert [b.address for b in bans if isinstance(b, Ban)] == ["192.0.2.1", "2001:db8::/64"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maxretry": 0}, "maxretry must be at least 1"),
    ({"findtime": -1}, "findtime must not be negative"),
    ({"maxmatches": -1}, "maxmatches must not be negative"),
    ({"usedns": "maybe"}, "usedns must be one of yes, warn, no, raw, not 'maybe'"),
    ({"max_tracked": 0}, "must be positive"),
])
def test_spec_checks(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JailSpec("j", **kwargs)  # type: ignore[arg-type]


def test_a_log_read_again_after_restart_gives_the_same_ban() -> None:
    history = BanHistory()
    first = Jail(JailSpec("j", maxretry=1, increment=Increment(enabled=True)), history=history)
    (ban,) = fail(first, "192.0.2.1", T0, T0)
    assert isinstance(ban, Ban) and (ban.count, ban.restored) == (1, False)
    # a new daemon with the same history reads the same line again
    again = Jail(JailSpec("j", maxretry=1, increment=Increment(enabled=True)), history=history)
    (ban,) = fail(again, "192.0.2.1", T0, T0 + 5)
    assert isinstance(ban, Ban)
    assert (ban.count, ban.until, ban.restored) == (1, T0 + 600, True)
    assert history.lookup("192.0.2.1", "j") == Previous(1, T0)


def test_answers_for_failures_that_left_the_window_count_nothing() -> None:
    jail = Jail(JailSpec("j", maxretry=1, ignorecommand=True))
    fail(jail, "192.0.2.1", T0, T0)
    assert jail.ignore_answer("192.0.2.1", False, T0 + 601) == []
    assert jail.status(T0 + 601).total_failed == 0


def test_targets_may_be_given_as_networks() -> None:
    jail = Jail(JailSpec("j"))
    (ban,) = jail.ban(ip_network("2001:db8::/48"), T0)
    assert ban.address == "2001:db8::/48"
    assert [u.address for u in jail.unban(ip_network("2001:db8::/32"), T0)] == ["2001:db8::/48"]


def test_live_lines_with_odd_times_count_as_now() -> None:
    jail = Jail(JailSpec("j", filters=(SSH,), maxretry=3))
    old = f"{T0 - 7200:.0f} sshd: fail 192.0.2.1"  # two hours off: a time zone problem
    assert jail.feed(old, T0) == []  # reading the backlog: too old, dropped
    assert jail.status(T0).total_failed == 0
    assert jail.feed(old, T0, live=True) == []
    assert jail.feed(f"{T0 - 30:.0f} sshd: fail 192.0.2.1", T0 + 1, live=True) == []
    (ban,) = jail.feed(old, T0 + 2, live=True)
    assert isinstance(ban, Ban) and ban.time == T0 + 2 and ban.failures == 3
    assert jail.status(T0).skewed == 2


def test_raw_ids_can_be_unbanned_by_hand() -> None:
    jail = Jail(JailSpec("j", maxretry=1))
    jail.add_failure(Failure("bob", T0, MappingProxyType({"fid": "bob"}), (), 0), T0)
    assert jail.is_banned("bob")
    assert [u.address for u in jail.unban("bob", T0)] == ["bob"]
    with pytest.raises(ValueError, match="not an IP address or network: 'bob'"):
        jail.unban("bob", T0)
