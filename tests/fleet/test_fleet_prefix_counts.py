"""Failures counted fleet-wide per network (``countprefix6``/``banprefix6``, issue 14): the
marks carry the jail's count key, so an attacker rotating through his /64 over several hosts
is one count; against a real redis-server."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import pytest

from tests.fleet.redisserver import RedisServer, have_redis
from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec

pytestmark = pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")

if have_redis():
    from warden.fleet.client import Endpoint, FleetClient
    from warden.fleet.entry import FailureMark

NOW = 1_900_000_000.0


def _marks(host: str, addrs: list[str]) -> list[FailureMark]:
    """What a host's fleet link sends for these failures (FleetLink._count_failures)."""
    jail = Jail(JailSpec("sshd", maxretry=3, banprefix6=64))
    assert jail.collect_failures() == []  # the first call starts the collecting, as the link's
    for addr in addrs:
        jail.add_failure(Failure(addr, NOW, MappingProxyType({}), (), 0), NOW)
    return [FailureMark("sshd", jail.count_key(fid), at, f"{host}:{n}", 600.0, 3)
            for n, (fid, at) in enumerate(jail.collect_failures())]


def test_a_64_rotating_over_two_hosts_is_one_fleet_count(server: RedisServer) -> None:
    async def scenario() -> list[int]:
        client = FleetClient(Endpoint(server.url))
        try:
            return await client.count_failures(
                _marks("a", ["2001:db8:1:2::1"]) + _marks("b", ["2001:db8:1:2::2",
                                                                "2001:db8:1:2::3"]))
        finally:
            await client.close()

    counts = asyncio.run(scenario())
    assert counts[-1] == 3
    assert int(server.cli("ZCARD", "warden:{sshd}:fail:2001:db8:1:2::/64")) == 3
