"""The Redis ACL the documentation gives a warden user (its key prefix and the commands the
fleet sends, nothing else) is enough for every fleet command, and confines the user."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.redisserver import RedisServer, have_redis

pytestmark = pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")

if have_redis():
    from warden.fleet.client import Endpoint, FleetClient, FleetUnavailable
    from warden.fleet.entry import FailureMark

#: the ACL of the README, word for word
ACL = ("warden on >warden-pw resetkeys ~warden:* resetchannels -@all "
       "+ping +hello +xadd +xread +xrevrange +hset +hgetall +evalsha +script|load "
       "+script|exists +zadd +zremrangebyscore +zremrangebyrank +pexpire +zcard")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path / "redis").start()
    try:
        assert redis.cli("ACL", "SETUSER", *ACL.split()) == "OK"
        yield redis
    finally:
        redis.stop()


def test_the_documented_acl_allows_the_fleet_and_nothing_else(server: RedisServer) -> None:
    url = f"unix://warden:warden-pw@{server.socket}"

    async def scenario() -> None:
        client = FleetClient(Endpoint(url), block=0.1)
        try:
            await client.ping()
            ids = await client.publish([("sshd", {"op": "ban"})], 1000)
            items = await client.read({client.keys.stream("sshd"): "0-0"}, 10)
            assert [i[1] for i in items] == ids
            assert await client.last_ids([client.keys.stream("sshd")]) == {
                client.keys.stream("sshd"): ids[0]}
            mark = FailureMark("sshd", "192.0.2.1", 1_900_000_000.0, "a:1", 600.0, 3)
            assert await client.count_failures([mark]) == [1]
            assert "a" in await client.seen("a", 1_900_000_000.0)
            # outside the prefix, or a command the fleet never sends: refused
            with pytest.raises(FleetUnavailable, match="NoPermissionError"):
                await _run(client, "XADD", "other:stream", "*", "a", "b")
            with pytest.raises(FleetUnavailable, match="NoPermissionError"):
                await _run(client, "FLUSHALL")
        finally:
            await client.close()
    asyncio.run(scenario())


async def _run(client: FleetClient, *command: str) -> object:
    from warden.fleet.client import _run as run  # noqa: PLC0415 - the tests' own access
    return await run(client._redis.execute_command(*command))  # type: ignore[no-untyped-call]
