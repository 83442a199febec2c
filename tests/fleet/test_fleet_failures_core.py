"""The jail's collecting of counted failures, which the fleet link adds to the fleet-wide
window: nothing is kept until collecting starts, then every counted failure once."""

from __future__ import annotations

from types import MappingProxyType

from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec

NOW = 1_900_000_000.0


def failure(fid: str, time: float) -> Failure:
    return Failure(fid, time, MappingProxyType({"ip4": fid}), (f"{fid} failed",), 0)


def test_counted_failures_are_collected_once_each() -> None:
    jail = Jail(JailSpec("sshd", maxretry=5, findtime=600, ignore=("192.0.2.1",)))
    jail.add_failure(failure("198.51.100.1", NOW), NOW)
    assert jail.collect_failures() == []  # not collecting yet: nothing was kept
    jail.add_failure(failure("198.51.100.2", NOW + 1), NOW + 1)
    jail.add_failure(failure("198.51.100.2", NOW + 2), NOW + 2)
    jail.add_failure(failure("192.0.2.1", NOW + 3), NOW + 3)  # ignored: not counted
    jail.add_failure(failure("203.0.113.9", NOW - 900), NOW + 3)  # older than findtime
    assert jail.collect_failures() == [("198.51.100.2", NOW + 1), ("198.51.100.2", NOW + 2)]
    assert jail.collect_failures() == []
