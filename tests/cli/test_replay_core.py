"""The pure parts of ``warden replay`` and ``warden explain``: event scripts on real jails.

:class:`warden.core.replay.Replay` counts each failure at its own time (bans, their ends,
increments, ignore answers), :func:`warden.core.replay.compare` says how two replays differ,
and :mod:`warden.core.explain` shows the ban-time arithmetic and which regex matched a line.
"""

from __future__ import annotations

from types import MappingProxyType

from warden.core.addr import parse_network
from warden.core.decisions import CheckIgnore
from warden.core.explain import bantime_steps, ignore_checks, matched_lines
from warden.core.filter import Failure, Filter
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.policy import BanPolicy
from warden.core.replay import Replay, ReplayBan, compare
from warden.core.spec import Increment, JailSpec


def fail(fid: str, time: float, fields: dict[str, object] | None = None) -> Failure:
    return Failure(fid, time, MappingProxyType(fields or {}), (f"line of {fid} at {time}",), 0)


def jail(**options: object) -> Jail:
    return Jail(JailSpec("sshd", **options))  # type: ignore[arg-type]


def test_failures_count_at_their_own_time_and_bans_end_in_log_time() -> None:
    run = Replay({"sshd": jail(maxretry=3, findtime=60, bantime=100)})
    # two failures, then the third 61 s after the first: out of the window, no ban
    for t in (0.0, 30.0, 61.0):
        assert run.add("sshd", fail("192.0.2.1", t), t) == []
    (ban,) = run.add("sshd", fail("192.0.2.1", 62.0), 62.0)
    assert (ban.address, ban.time, ban.until, ban.count, ban.failures) == (
        "192.0.2.1", 62.0, 162.0, 1, 3)
    # while banned, another ticket prolongs; once over (a failure at its very end second),
    # the next ticket is a new ban
    for t in (100.0, 101.0):
        run.add("sshd", fail("192.0.2.1", t), t)
    (prolong,) = run.add("sshd", fail("192.0.2.1", 102.0), 102.0)
    assert prolong.prolonged and prolong.until == 202.0
    for t in (200.0, 201.0):
        run.add("sshd", fail("192.0.2.1", t), t)
    (again,) = run.add("sshd", fail("192.0.2.1", 202.0), 202.0)
    assert (again.prolonged, again.time, again.count) == (False, 202.0, 2)
    totals = run.totals["sshd"]
    assert (totals.failures, totals.bans, totals.prolonged, totals.unbans) == (10, 2, 1, 1)
    assert totals.addresses == {"192.0.2.1"}
    assert (run.first, run.last) == (0.0, 202.0)


def test_increment_and_the_window_of_since_until() -> None:
    spec = {"maxretry": 2, "findtime": 600, "bantime": 10,
            "increment": Increment(enabled=True, maxtime=35.0)}
    run = Replay({"sshd": jail(**spec)})
    times = [0.0, 1.0, 20.0, 21.0, 40.0, 41.0, 60.0, 61.0]
    bans = [b for t in times for b in run.add("sshd", fail("2001:db8::7", t), t)]
    # 10, then doubled per earlier ban, capped by maxtime; a known offender's failure counts
    # twice (maxretry: one failure bans it again), and 60 and 61 fall in the third ban
    assert [(b.time, b.bantime, b.count) for b in bans] == [
        (1.0, 10.0, 1), (20.0, 20.0, 2), (40.0, 35.0, 3)]
    windowed = Replay({"sshd": jail(maxretry=2, findtime=600, bantime=10)}, since=10.0,
                      until=30.0)
    got = [b for t in (0.0, 11.0, 12.0, 30.0) for b in
           windowed.add("sshd", fail("192.0.2.9", t), t)]
    assert [(b.time, b.failures) for b in got] == [(12.0, 2)]
    assert windowed.totals["sshd"].failures == 2


def test_host_names_and_ignorecommand_are_answered_at_once() -> None:
    asked: list[str] = []

    def ignored(query: CheckIgnore) -> bool:
        asked.append(query.ip)
        return query.ip == "192.0.2.77"

    run = Replay({"sshd": jail(maxretry=1, usedns="yes", ignorecommand=True)},
                 resolve=lambda host: [parse_network("192.0.2.77")],  # type: ignore[list-item]
                 ignored=ignored)
    assert run.add("sshd", fail("attacker.example", 5.0, {"dns": "attacker.example"}), 5.0) == []
    assert asked == ["192.0.2.77"]  # resolved, then the command said: ignore it
    (ban,) = run.add("sshd", fail("192.0.2.8", 6.0), 6.0)
    assert ban.address == "192.0.2.8" and asked == ["192.0.2.77", "192.0.2.8"]


def _ban(addr: str, time: float, bantime: float, count: int = 1) -> ReplayBan:
    return ReplayBan("sshd", addr, time, time + bantime, bantime, count, 3)


def test_compare_pairs_the_nth_bans_of_each_address() -> None:
    first = [_ban("192.0.2.1", 10, 60), _ban("192.0.2.2", 20, 60),
             _ban("192.0.2.3", 30, 60), _ban("192.0.2.3", 200, 120, 2)]
    second = [_ban("192.0.2.1", 5, 60), _ban("192.0.2.3", 30, 600), _ban("192.0.2.4", 40, 60)]
    kinds = [(d.kind, d.address) for d in compare(first, second)]
    assert kinds == [("earlier", "192.0.2.1"), ("only-first", "192.0.2.2"),
                     ("longer", "192.0.2.3"), ("only-second", "192.0.2.4"),
                     ("only-first", "192.0.2.3")]
    assert compare(first, first) == []
    permanent = [ReplayBan("sshd", "192.0.2.1", 10, None, -1.0, 1, 3)]
    assert [d.kind for d in compare(first[:1], permanent)] == ["longer"]
    assert [d.kind for d in compare(permanent, first[:1])] == ["shorter"]


def test_bantime_arithmetic() -> None:
    plain = bantime_steps(BanPolicy(600), 3)
    assert (plain.rule, plain.seconds) == ("bantime", 600)
    assert bantime_steps(BanPolicy(-1), 0).seconds == -1
    doubling = BanPolicy(600, Increment(enabled=True, factor=1.5, maxtime=3000, rndtime=7))
    first = bantime_steps(doubling, 0)
    assert (first.rule, first.seconds) == ("first ban", 600)
    third = bantime_steps(doubling, 2)
    assert third.steps[0] == "bantime * 2**min(count, 20) * factor = 600 * 2**2 * 1.5 = 3600"
    assert third.steps[1] == "at least bantime: max(600, ...) = 3600"
    assert third.steps[2] == "capped by bantime.maxtime: min(3600, 3000) = 3000"
    assert (third.seconds, third.random) == (3000, 7)
    assert "rndtime = 7" in third.steps[3]
    mult = BanPolicy(60, Increment(enabled=True, multipliers=(1, 5, 30)))
    for prior, expected in ((1, 300), (2, 1800), (9, 1800)):
        steps = bantime_steps(mult, prior)
        assert (steps.rule, steps.seconds) == ("multipliers", expected)
        assert steps.seconds == mult.duration(prior)
    custom = BanPolicy(60, Increment(enabled=True, formula="ban.Time * (ban.Count + 1)"))
    assert bantime_steps(custom, 3).seconds == custom.duration(3) == 240


def test_which_regex_matched_each_line_without_touching_the_jail() -> None:
    definition = FilterDefinition(
        "t", failregex=(r"^\s*Bad password from <HOST>$", r"^\s*Unknown user \S+ from <HOST>$"))
    flt = Filter(definition)
    before = flt.state.snapshot()
    found = matched_lines([flt], ["Dec  2 09:00:01 Unknown user x from 192.0.2.5",
                                  "Dec  2 09:00:02 Bad password from 192.0.2.5",
                                  "Dec  2 09:00:03 something else"], now=1_796_000_000.0)
    assert [(m.regex, m.filter) for m in found] == [(1, 0), (0, 0), (None, 0)]
    assert found[1].pattern == r"^\s*Bad password from <HOST>$"
    assert found[0].time is not None and found[1].time == found[0].time + 1
    assert flt.state.snapshot() == before


def test_ignore_rules() -> None:
    nets = [parse_network("192.0.2.0/24"), "raw-id"]
    checks = {c.rule: (c.ignores, c.detail) for c in ignore_checks(
        "192.0.2.9", nets, ignoreself=True,  # type: ignore[arg-type]
        self_addresses=[parse_network("192.0.2.9")],  # type: ignore[list-item]
        ignorecommand="/bin/false")}
    assert checks["ignoreip"] == (True, "matches 192.0.2.0/24")
    assert checks["ignoreself"] == (True, "is this host's address (192.0.2.9)")
    assert checks["ignorecommand"] == (None, "runs for each failure: /bin/false")
    other = {c.rule: c.ignores for c in ignore_checks(
        "2001:db8::1", nets, ignoreself=False, self_addresses=[],  # type: ignore[arg-type]
        ignorecommand=None)}
    assert other == {"ignoreip": False, "ignoreself": False, "ignorecommand": False}
