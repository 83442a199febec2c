"""No lockout of people who belong: ``successregex`` + ``trustsuccess`` (issue 14), fake clock."""

from __future__ import annotations

import calendar

from warden.core.decisions import Ban, Decision
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.spec import Increment, JailSpec
from warden.core.trust import TrustList

SSHD = FilterDefinition(
    "mini-sshd",
    failregex=(r"^Failed password for \S+ from <HOST> port \d+",),
    successregex=(r"^Accepted (?:password|publickey) for <F-USER>\S+</F-USER> from <HOST>",),
    prefregex=r"^\s*host sshd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$",
    datepattern="{^LN-BEG}%Y-%m-%d %H:%M:%S",
    logtimezone="UTC",
)
DAY = 86400.0
T0 = float(calendar.timegm((2026, 12, 2, 0, 0, 0)))


def at(hhmmss: str) -> float:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return T0 + h * 3600 + m * 60 + s


def line(hhmmss: str, text: str) -> str:
    return f"2026-12-02 {hhmmss} host sshd[42]: {text}\n"


def failed(addr: str) -> str:
    return f"Failed password for alice from {addr} port 50000 ssh2"


def accepted(addr: str) -> str:
    return f"Accepted password for alice from {addr} port 50000 ssh2"


def jail(trust: float | None, **options: object) -> Jail:
    values: dict[str, object] = {"maxretry": 3, "findtime": 600.0, "bantime": 600.0,
                                 "filters": (SSHD,), "trustsuccess": trust}
    values.update(options)
    return Jail(JailSpec("sshd", **values))  # type: ignore[arg-type]


def play(j: Jail, script: list[tuple[str, str]], *, batch: bool = False) -> list[Ban]:
    out: list[Decision] = []
    if batch:
        out = j.feed_lines([line(t, text) for t, text in script], at(script[-1][0]))
    else:
        for t, text in script:
            out += j.feed(line(t, text), at(t))
    assert all(isinstance(d, Ban) for d in out)
    return [d for d in out if isinstance(d, Ban)]


USER = "198.51.100.20"
MORNING_LOGIN_EVENING_TYPOS = [("09:00:00", accepted(USER)),
                               ("17:00:00", failed(USER)),
                               ("17:00:10", failed(USER)),
                               ("17:00:20", failed(USER))]


def test_without_trust_three_typos_ban_as_in_fail2ban() -> None:
    j = jail(None)
    assert j.success_filters == ()
    got = play(j, MORNING_LOGIN_EVENING_TYPOS)
    assert [b.address for b in got] == [USER]
    assert not got[0].trusted


def test_a_user_who_logged_in_at_nine_is_not_banned_for_three_typos_at_five() -> None:
    j = jail(DAY)
    assert play(j, MORNING_LOGIN_EVENING_TYPOS) == []
    assert j.status(at("17:00:20")).trusted == 1
    # the same in one batch (the daemon's path)
    assert play(jail(DAY), MORNING_LOGIN_EVENING_TYPOS, batch=True) == []


def test_trust_ends_after_trustsuccess() -> None:
    j = jail(6 * 3600.0)  # 6h: the 09:00 login no longer counts at 17:00
    assert [b.address for b in play(j, MORNING_LOGIN_EVENING_TYPOS)] == [USER]


def test_a_success_after_the_failures_does_not_excuse_them() -> None:
    j = jail(DAY)
    got = play(j, [("17:00:00", failed(USER)), ("17:00:01", failed(USER)),
                   ("17:00:02", failed(USER)), ("17:00:03", accepted(USER))])
    assert [b.address for b in got] == [USER]


def test_an_attacker_behind_a_trusted_nat_address_is_banned_at_trustmaxretry() -> None:
    nat = "203.0.113.50"
    j = jail(DAY, bantime=600.0, increment=Increment(enabled=True))
    script = [("08:00:00", accepted(nat))]
    script += [(f"12:00:{n:02d}", failed(nat)) for n in range(9)]
    got = play(j, script)
    # 3 x maxretry = 9 failures, then banned, for the plain bantime
    assert [(b.address, b.failures, b.bantime, b.trusted) for b in got] == [
        (nat, 9, 600.0, True)]
    assert j.status(at("12:00:08")).currently_banned == 1


def test_a_trusted_address_is_never_incremented_into_a_long_ban() -> None:
    nat = "203.0.113.50"
    j = jail(DAY, maxretry=1, trustmaxretry=2, bantime=600.0,
             increment=Increment(enabled=True, maxtime=DAY))
    first = play(j, [("08:00:00", accepted(nat)), ("08:10:00", failed(nat)),
                     ("08:10:01", failed(nat))])
    j.expire(at("09:00:00"))
    second = play(j, [("09:10:00", failed(nat)), ("09:10:01", failed(nat))])
    assert [b.bantime for b in first + second] == [600.0, 600.0]
    assert [b.count for b in first + second] == [1, 2]
    # an untrusted address in the same jail does grow
    other = "192.0.2.9"
    third = play(j, [("10:00:00", failed(other))])
    j.expire(at("11:00:00"))
    fourth = play(j, [("11:10:00", failed(other))])
    assert [b.bantime for b in third + fourth] == [600.0, 1200.0]


def test_trust_follows_the_counting_network() -> None:
    # a privacy address changes inside the user's /64: the /64 is trusted
    j = jail(DAY, banprefix6=64)
    script = [("09:00:00", accepted("2001:db8:5:5::a"))]
    script += [(f"17:00:0{n}", failed(f"2001:db8:5:5::{n + 1}")) for n in range(3)]
    assert play(j, script) == []
    script = [(f"17:01:0{n}", failed(f"2001:db8:6:6::{n + 1}")) for n in range(3)]
    assert [b.address for b in play(j, script)] == ["2001:db8:6:6::/64"]


def test_trust_list_is_bounded_and_expires() -> None:
    trust = TrustList(100.0, max_size=2)
    trust.record("a", 0)
    trust.record("b", 10)
    trust.record("c", 20)
    assert len(trust) == 2
    assert not trust.trusted("a", 5)
    assert trust.trusted("b", 110)
    assert not trust.trusted("b", 111)
    assert not trust.trusted("b", 9)  # before the success
    assert trust.expire(115) == 1
    assert trust.trusted("c", 115)
    trust.forget("c")
    assert len(trust) == 0


def test_trust_of_an_ipv6_address_and_of_one_beside_banprefix6() -> None:
    v6 = "2001:db8:7::7"
    script = [("09:00:00", accepted(v6))] + [(f"17:00:0{n}", failed(v6)) for n in range(3)]
    assert play(jail(DAY), script) == []
    assert play(jail(DAY, banprefix6=64), script) == []
    # IPv4 beside banprefix6 = 64 takes fail2ban's path, with the trust test
    script = [(t, text.replace(USER, "192.0.2.77")) for t, text in MORNING_LOGIN_EVENING_TYPOS]
    assert play(jail(DAY, banprefix6=64), script) == []
    assert [b.address for b in play(jail(None, banprefix6=64), script)] == ["192.0.2.77"]
