"""The jail's fast path for addresses it counted before gives the decisions of the general
path: the same failures, with and without the remembered addresses, decide the same."""

from __future__ import annotations

from ipaddress import ip_network
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.decisions import Decision
from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import Increment, JailSpec

# a few addresses (two in one /24, two in one /64, mapped, ignored ones) and a raw id
IDS = ("192.0.2.1", "192.0.2.2", "198.51.100.7", "10.0.0.1", "2001:db8:1:2::1",
       "2001:db8:1:2::2", "2001:db8:9::5", "fd00::1", "user-bob")
IGNORED = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))

SPECS: dict[str, dict[str, object]] = {
    "fail2ban": {},
    "banprefix6": {"banprefix6": 64},
    "countprefix4": {"countprefix4": 24, "banprefix4": 32},
    "escalate": {"banprefix6": 64, "escalate": parse_escalate("2 in /24, 2 in /48")},
    "increment": {"increment": Increment(enabled=True), "maxmatches": 0},
    "trust": {"trustsuccess": 3600.0, "banprefix6": 64},
}


def _jail(options: dict[str, object]) -> Jail:
    values: dict[str, object] = {"maxretry": 3, "findtime": 60.0, "bantime": 30.0,
                                 "ignore": IGNORED, "usedns": "raw"}
    values.update(options)
    return Jail(JailSpec("j", **values))  # type: ignore[arg-type]


def _failure(fid: str, time: float) -> Failure:
    return Failure(fid, time, MappingProxyType({}), (f"{fid} failed at {time:g}",), 0)


def _run(jail: Jail, events: list[tuple[int, float, bool]], *, forget: bool
         ) -> list[list[Decision] | tuple[int, int, int]]:
    """Feed ``events`` (id index, time step, success) in time order; ``forget``: the jail
    forgets what it remembered of addresses after every failure (set_ignore with the same
    networks), so each failure takes the general path."""
    out: list[list[Decision] | tuple[int, int, int]] = []
    now = 1000.0
    for index, step, success in events:
        now += step
        fid = IDS[index]
        out.append(list(jail.expire(now)))
        if success:
            jail.add_success(_failure(fid, now), now)
            continue
        out.append(jail.add_failure(_failure(fid, now), now))
        status = jail.status(now)
        out.append((status.currently_failed, status.total_failed, status.currently_banned))
        if forget:
            jail.set_ignore(IGNORED)
    return out


@settings(max_examples=150, deadline=None)
@given(events=st.lists(st.tuples(st.integers(0, len(IDS) - 1),
                                 st.sampled_from([0.0, 0.0, 1.0, 5.0, 20.0, 61.0]),
                                 st.sampled_from([False, False, False, True])),
                       max_size=80))
@pytest.mark.parametrize("name", sorted(SPECS))
def test_remembered_addresses_decide_as_the_general_path(
        name: str, events: list[tuple[int, float, bool]]) -> None:
    fast = _run(_jail(SPECS[name]), events, forget=False)
    assert fast == _run(_jail(SPECS[name]), events, forget=True)


def test_an_address_ignored_later_is_not_counted_from_memory() -> None:
    jail = _jail({})
    assert jail.add_failure(_failure("192.0.2.1", 1.0), 1.0) == []
    jail.set_ignore((*IGNORED, ip_network("192.0.2.0/24")))
    for t in (2.0, 3.0, 4.0):
        assert jail.add_failure(_failure("192.0.2.1", t), t) == []
    assert jail.status(4.0).total_failed == 1
