"""The jail state machine, driven by event scripts with a fake clock (no sleeping).

Each script is a list of steps ``(action, now, args..., expected decisions)``; decisions are
shown as short strings (see ``show``) so that a script reads like a log of what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest

from warden.core.decisions import Ban, Decision, ResolveHost, Unban
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import IgnoreCacheSpec, Increment, JailSpec

A, B, C = "192.0.2.1", "198.51.100.2", "203.0.113.3"
V6 = "2001:db8::6"


def show(d: Decision) -> str:
    if isinstance(d, Ban):
        until = "forever" if d.until is None else f"{d.until:g}"
        flags = (" prolonged" if d.prolonged else "") + (" restored" if d.restored else "")
        return f"ban {d.address} {d.time:g}..{until} #{d.count} x{d.failures}{flags}"
    if isinstance(d, Unban):
        return f"unban {d.address} {d.reason}"
    if isinstance(d, ResolveHost):
        return f"resolve {d.host}" + (" warn" if d.warn else "")
    return f"ignore? {d.key}"


def failure(fid: str, time: float | None, fields: Mapping[str, object] | None = None) -> Failure:
    if fields is None:
        fields = {"ip4": fid}
    return Failure(fid, time, MappingProxyType(dict(fields)), (f"{fid} failed",), 0)


def step(jail: Jail, action: str, now: float, *args: Any) -> list[str]:
    if action == "fail":  # fail FID [TIME]: a failure of FID logged at TIME (default: now)
        fid, time = args[0], (args[1] if len(args) > 1 else now)
        return [show(d) for d in jail.add_failure(failure(fid, time), now)]
    if action == "host":  # a failure whose <HOST> is a name
        return [show(d) for d in jail.add_failure(failure(args[0], now, {"dns": args[0]}), now)]
    if action == "user":  # a failure with an <F-ID>
        return [show(d) for d in jail.add_failure(failure(args[0], now, {"fid": args[0]}), now)]
    if action == "expire":
        return [show(d) for d in jail.expire(now)]
    if action == "ban":
        bantime = args[1] if len(args) > 1 else None
        return [show(d) for d in jail.ban(args[0], now, bantime)]
    if action == "unban":
        return [show(d) for d in jail.unban(args[0], now)]
    if action == "resolved":
        return [show(d) for d in jail.resolved(args[0], args[1], now)]
    if action == "answer":
        return [show(d) for d in jail.ignore_answer(args[0], args[1], now)]
    if action == "status":
        st = jail.status(now)
        listed = " ".join(f"{e.ip}({'-' if e.left is None else f'{e.left:g}'})"
                          for e in st.banned)
        return [f"failed {st.currently_failed}/{st.total_failed} banned "
                f"{st.currently_banned}/{st.total_banned} [{listed}] evicted {st.evicted} "
                f"pending {st.pending}"]
    raise AssertionError(action)


def run(jail: Jail, script: list[tuple[Any, ...]]) -> None:
    for n, (action, now, *rest) in enumerate(script):
        *args, expected = rest
        got = step(jail, action, now, *args)
        assert got == expected, f"step {n}: {action} at {now} {args}"


SCRIPTS: dict[str, tuple[dict[str, Any], list[tuple[Any, ...]]]] = {
    "maxretry within findtime bans, the failures are then forgotten": ({}, [
        ("fail", 100, A, []),
        ("fail", 101, A, []),
        ("fail", 102, B, []),
        ("status", 102, ["failed 2/3 banned 0/0 [] evicted 0 pending 0"]),
        ("fail", 103, A, [f"ban {A} 103..703 #1 x3"]),
        ("status", 103, [f"failed 1/4 banned 1/1 [{A}(600)] evicted 0 pending 0"]),
        ("expire", 703, []),  # the end itself is still banned (fail2ban: now > end)
        ("expire", 703.5, [f"unban {A} expired"]),
        ("fail", 704, A, []),  # counting started again at the ban (B's failure left)
        ("status", 704, ["failed 1/5 banned 0/1 [] evicted 0 pending 0"]),
    ]),
    "failures spread wider than findtime never ban": ({"findtime": 60}, [
        ("fail", 0, A, []), ("fail", 40, A, []), ("fail", 80, A, []), ("fail", 120, A, []),
        ("fail", 139, A, [f"ban {A} 139..739 #1 x3"]),
    ]),
    "the log's time counts, a future time is now, an old one is dropped": ({}, [
        ("fail", 1000, A, 500, []),
        ("fail", 1000, A, 5000, []),  # in the future: counts as 1000
        ("fail", 1000, A, 399, []),  # more than findtime ago: dropped
        ("fail", 1000, A, None, [f"ban {A} 1000..1600 #1 x3"]),  # no time: now
        ("status", 1000, ["failed 0/3 banned 1/1 [192.0.2.1(600)] evicted 0 pending 0"]),
    ]),
    "a ban that would have ended already is not made": ({"bantime": 60}, [
        ("fail", 1000, A, 500, []),
        ("fail", 1000, A, 510, []),
        ("fail", 1000, A, 520, []),
        ("status", 1000, ["failed 0/3 banned 0/0 [] evicted 0 pending 0"]),
    ]),
    "a banned address banned again: prolonged only if it ends later": ({"maxretry": 2}, [
        ("fail", 0, A, []), ("fail", 1, A, [f"ban {A} 1..601 #1 x2"]),
        ("fail", 2, A, 0, []), ("fail", 2, A, 1, []),  # logged late: the same end
        ("fail", 5, A, []), ("fail", 6, A, [f"ban {A} 1..606 #1 x2 prolonged"]),
        ("expire", 602, []),
        ("expire", 607, [f"unban {A} expired"]),
        ("status", 607, ["failed 0/6 banned 0/1 [] evicted 0 pending 0"]),
    ]),
    "permanent bans never expire": ({"bantime": -1, "maxretry": 1}, [
        ("fail", 0, A, [f"ban {A} 0..forever #1 x1"]),
        ("fail", 1, A, []),  # already banned forever: nothing to prolong
        ("expire", 1e12, []),
        ("status", 1e12, [f"failed 0/2 banned 1/1 [{A}(-)] evicted 0 pending 0"]),
        ("unban", 2e12, A, [f"unban {A} manual"]),
    ]),
    "IPv6, CIDR captures and raw ids": ({"maxretry": 1}, [
        ("fail", 0, V6, [f"ban {V6} 0..600 #1 x1"]),
        ("fail", 0, "192.0.2.0/24", ["ban 192.0.2.0/24 0..600 #1 x1"]),
        ("user", 0, "bob", ["ban bob 0..600 #1 x1"]),
        ("fail", 0, "192.030.0.6", ["ban 192.030.0.6 0..600 #1 x1"]),  # invalid: kept raw
        ("expire", 601, [f"unban {V6} expired", "unban 192.0.2.0/24 expired",
                         "unban bob expired", "unban 192.030.0.6 expired"]),
    ]),
    "ignoreip: addresses, networks, raw ids": ({"maxretry": 1,
                                               "ignore": ("192.0.2.0/24", "bob")}, [
        ("fail", 0, A, []),
        ("user", 0, "bob", []),
        ("fail", 0, "192.0.2.0/25", []),
        ("fail", 0, "192.0.2.0/23", ["ban 192.0.2.0/23 0..600 #1 x1"]),
        ("fail", 0, B, [f"ban {B} 0..600 #1 x1"]),
        ("status", 0, [f"failed 0/2 banned 2/2 [192.0.2.0/23(600) {B}(600)] evicted 0 "
                       "pending 0"]),
    ]),
    "manual ban and unban, networks lift the bans inside": ({}, [
        ("ban", 10, A, [f"ban {A} 10..610 #1 x0"]),
        ("ban", 20, A, [f"ban {A} 10..620 #1 x0 prolonged"]),
        ("ban", 30, A, 60, []),  # shorter: nothing to do
        ("ban", 30, B, 60, [f"ban {B} 30..90 #1 x0"]),
        ("ban", 30, "192.0.2.0/24", -1, ["ban 192.0.2.0/24 30..forever #1 x0"]),
        ("ban", 40, "192.0.2.0/24", [], ),
        ("unban", 50, C, []),
        ("unban", 50, "203.0.113.0/24", []),
        ("unban", 50, "192.0.0.0/8", [f"unban {A} manual", "unban 192.0.2.0/24 manual"]),
        ("status", 50, [f"failed 0/0 banned 1/3 [{B}(40)] evicted 0 pending 0"]),
        ("expire", 91, [f"unban {B} expired"]),
    ]),
    "manual unban forgets the address's failures": ({}, [
        ("fail", 0, A, []), ("fail", 1, A, []),
        ("ban", 2, A, [f"ban {A} 2..602 #1 x0"]),
        ("unban", 3, A, [f"unban {A} manual"]),
        ("fail", 4, A, []),
        ("status", 4, ["failed 1/3 banned 0/1 [] evicted 0 pending 0"]),
    ]),
    "usedns warn: host names are resolved by the daemon": ({"maxretry": 2}, [
        ("host", 0, "bad.example", ["resolve bad.example warn"]),
        ("host", 1, "bad.example", []),  # already asked
        ("status", 1, ["failed 0/0 banned 0/0 [] evicted 0 pending 2"]),
        ("resolved", 2, "bad.example", [A, V6], [f"ban {A} 1..601 #1 x2",
                                                 f"ban {V6} 1..601 #1 x2"]),
        ("resolved", 2, "bad.example", [A], []),  # nothing waits any more
        ("host", 3, "nx.example", ["resolve nx.example warn"]),
        ("resolved", 4, "nx.example", [], []),
        ("status", 4, ["failed 0/4 banned 2/2 [192.0.2.1(597) 2001:db8::6(597)] evicted 0 "
                       "pending 0"]),
    ]),
    "usedns yes, no and raw": ({"usedns": "yes", "maxretry": 1}, [
        ("host", 0, "h.example", ["resolve h.example"]),
        ("resolved", 1, "h.example", ["not-an-address", B], [f"ban {B} 0..600 #1 x1"]),
    ]),
    "usedns no drops host names": ({"usedns": "no", "maxretry": 1}, [
        ("host", 0, "h.example", []),
        ("fail", 0, A, [f"ban {A} 0..600 #1 x1"]),
        ("status", 0, [f"failed 0/1 banned 1/1 [{A}(600)] evicted 0 pending 0"]),
    ]),
    "usedns raw bans the name itself": ({"usedns": "raw", "maxretry": 1}, [
        ("host", 0, "h.example", ["ban h.example 0..600 #1 x1"]),
    ]),
    "resolved failures still obey ignoreip and the window": ({"maxretry": 1,
                                                             "ignore": (A,)}, [
        ("host", 0, "h.example", ["resolve h.example warn"]),
        ("resolved", 5, "h.example", [A], []),
        ("host", 10, "g.example", ["resolve g.example warn"]),
        ("resolved", 611, "g.example", [B], []),  # the failure left the window meanwhile
    ]),
    "ignorecommand without cache asks every time": ({"ignorecommand": True, "maxretry": 2}, [
        ("fail", 0, A, [f"ignore? {A}"]),
        ("fail", 1, A, []),  # the question is still open: the failure waits with it
        ("answer", 2, A, False, [f"ban {A} 1..601 #1 x2"]),
        ("fail", 3, B, [f"ignore? {B}"]),
        ("answer", 4, B, True, []),
        ("fail", 5, B, [f"ignore? {B}"]),
        ("answer", 6, "unknown", False, []),
    ]),
    "ignorecommand answers are cached per key": ({
        "ignorecommand": True, "maxretry": 2,
        "ignorecache": IgnoreCacheSpec("<ip>", max_count=10, max_time=100)}, [
        ("fail", 0, A, [f"ignore? {A}"]),
        ("answer", 1, A, True, []),
        ("fail", 2, A, []),  # cached: ignored
        ("fail", 2, B, [f"ignore? {B}"]),
        ("answer", 3, B, False, []),
        ("fail", 4, B, [f"ban {B} 4..604 #1 x2"]),  # cached: counted at once
        ("fail", 102, A, [f"ignore? {A}"]),  # the answer expired
        ("status", 102, ["failed 0/2 banned 1/1 [198.51.100.2(502)] evicted 0 pending 1"]),
    ]),
    "bantime.increment: repeat offenders stay longer and count more": ({
        "increment": Increment(enabled=True)}, [
        ("fail", 0, A, []), ("fail", 1, A, []), ("fail", 2, A, [f"ban {A} 2..602 #1 x3"]),
        ("expire", 603, [f"unban {A} expired"]),
        # one earlier ban: each failure counts 2
        ("fail", 700, A, []),
        ("fail", 701, A, [f"ban {A} 701..1901 #2 x4"]),
        ("expire", 1902, [f"unban {A} expired"]),
        # two earlier bans: each failure counts 3 (= maxretry): banned at once, 4x
        ("fail", 2000, A, [f"ban {A} 2000..4400 #3 x3"]),
    ]),
    "bantime.increment with maxtime and random time": ({
        "increment": Increment(enabled=True, maxtime=1000, rndtime=10), "maxretry": 1}, [
        ("fail", 0, A, [f"ban {A} 0..600 #1 x1"]),
        ("expire", 601, [f"unban {A} expired"]),
        ("fail", 700, A, [f"ban {A} 700..1705 #2 x1"]),  # min(1200, 1000) + 0.5 * 10
    ]),
    "failures older than the last ban are a log read again": ({
        "increment": Increment(enabled=True), "maxretry": 1, "findtime": 3600}, [
        ("fail", 100, A, [f"ban {A} 100..700 #1 x1"]),
        ("expire", 701, [f"unban {A} expired"]),
        # after a restart the same line is read again: the same ban, not a second one
        ("fail", 800, A, 100, []),  # ended already
        ("fail", 800, A, 99, []),
        ("status", 800, ["failed 0/3 banned 0/1 [] evicted 0 pending 0"]),
    ]),
    "manual bans grow too and a manual unban forgives": ({
        "increment": Increment(enabled=True)}, [
        ("ban", 0, A, [f"ban {A} 0..600 #1 x0"]),
        ("expire", 601, [f"unban {A} expired"]),
        ("ban", 700, A, [f"ban {A} 700..1900 #2 x0"]),
        ("unban", 800, A, [f"unban {A} manual"]),
        ("ban", 900, A, [f"ban {A} 900..1500 #1 x0"]),
    ]),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script(name: str) -> None:
    spec_args, script = SCRIPTS[name]
    jail = Jail(JailSpec("test", **spec_args), random=lambda: 0.5)
    run(jail, script)
