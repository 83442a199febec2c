"""The fleet link against a real redis-server: publish, consume, skip, refuse, catch up, and
an outbox that survives Redis being away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_network
from pathlib import Path

import pytest

from tests.fleet.redisserver import PASSWORD, RedisServer, have_redis
from warden.store import SqliteBanStore

pytestmark = pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")

if have_redis():
    from warden.fleet.client import Endpoint, FleetClient
    from warden.fleet.entry import FailureMark, FleetEntry
    from warden.fleet.link import Link

NOW = 1_900_000_000.0


class Host:
    """One link with its own store, collecting what it is asked to apply."""

    def __init__(self, root: Path, name: str, url: str, clock: Callable[[], float]) -> None:
        self.store = SqliteBanStore(root / f"{name}.db")
        self.got: list[FleetEntry] = []
        self.link = Link(FleetClient(Endpoint(url), block=0.2), self.store, name,
                         apply=self._apply, clock=clock)
        self.link.follow(["sshd"])
        self.task: asyncio.Task[None] | None = None

    async def _apply(self, entries: list[FleetEntry]) -> None:
        self.got.extend(entries)

    def start(self) -> Host:
        self.task = asyncio.get_running_loop().create_task(self.link.run())
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            # waited for with a deadline: a link that does not stop fails the test, not
            # hangs it (awaiting the task itself would wait for ever)
            done, _ = await asyncio.wait({self.task}, timeout=10)
            assert done, "the link did not stop within 10 s of being cancelled"
            assert self.task.cancelled()
        self.store.close()


def ban(addr: str, origin: str, end: float | None = NOW + 3600, op: str = "ban") -> FleetEntry:
    return FleetEntry(op, "sshd", ip_network(addr), NOW, end, 1, origin)


async def until(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def two_hosts(root: Path, server: RedisServer) -> AsyncIterator[list[Host]]:
    made = [Host(root, name, server.url, lambda: NOW).start() for name in ("a", "b")]
    try:
        yield made
    finally:
        for host in made:
            await host.stop()


def test_a_ban_reaches_the_other_host_not_its_origin(tmp_path: Path,
                                                     server: RedisServer) -> None:
    async def scenario() -> None:
        async with two_hosts(tmp_path, server) as (a, b):
            a.link.share([ban("192.0.2.7/32", "a"), ban("198.51.100.0/24", "a"),
                          ban("2001:db8::1/128", "a", end=NOW - 1),  # over already: skipped
                          ban("192.0.2.7/32", "a", op="unban", end=None)])
            await until("b to get three entries", lambda: len(b.got) == 3)
            assert [(e.op, e.addr, e.origin) for e in b.got] == [
                ("ban", "192.0.2.7", "a"), ("ban", "198.51.100.0/24", "a"),
                ("unban", "192.0.2.7", "a")]
            await asyncio.sleep(0.5)
            assert a.got == []  # its own entries come back to it in the stream: skipped
            assert a.store.outbox_size() == 0 and a.link.state.published == 4
            await until("b to see a as a peer", lambda: b.link.state.peers == ("a",), 15)
    asyncio.run(scenario())


def test_a_restarted_host_catches_up_from_its_last_id(tmp_path: Path,
                                                      server: RedisServer) -> None:
    async def scenario() -> None:
        a = Host(tmp_path, "a", server.url, lambda: NOW).start()
        c = Host(tmp_path, "c", server.url, lambda: NOW).start()
        try:
            a.link.share([ban("192.0.2.1/32", "a")])
            await until("c to get the first ban", lambda: len(c.got) == 1)
            await c.stop()
            a.link.share([ban("192.0.2.2/32", "a"), ban("192.0.2.3/32", "a", end=NOW + 1)])
            await until("a to publish", lambda: a.link.state.published == 3)
            # c comes back later, when the second ban of its absence has ended
            c = Host(tmp_path, "c", server.url, lambda: NOW + 10).start()
            await until("c to catch up", lambda: len(c.got) == 1)
            await asyncio.sleep(0.5)
            assert [e.addr for e in c.got] == ["192.0.2.2"]  # not the first again
        finally:
            await a.stop()
            await c.stop()
    asyncio.run(scenario())


def test_planted_entries_are_refused_and_logged(tmp_path: Path, server: RedisServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "warden.fleet")
    good = ["op", "ban", "jail", "sshd", "time", str(NOW), "end", str(NOW + 60), "count", "1",
            "origin", "x"]

    async def scenario() -> None:
        async with two_hosts(tmp_path, server) as (_a, b):
            for addr in ("0.0.0.0/0", "not-an-address", "::/0", "127.0.0.1", "10.0.0.0/6"):
                server.cli("XADD", "warden:{sshd}:bans", "*", *good, "addr", addr)
            server.cli("XADD", "warden:{sshd}:bans", "*", "op", "ban", "addr", "192.0.2.9")
            server.cli("XADD", "warden:{sshd}:bans", "*", *good, "addr", "192.0.2.10")
            await until("the valid entry", lambda: len(b.got) == 1)
            assert b.got[0].addr == "192.0.2.10"
            assert b.link.state.refused == 6
    asyncio.run(scenario())
    text = caplog.text
    assert "0.0.0.0/0: it covers every IPv4 address" in text
    assert "'not-an-address' is not an IP address or network" in text
    assert "it is a loopback address" in text and "no jail" in text


def test_the_outbox_waits_for_redis_and_keeps_order(tmp_path: Path, server: RedisServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "warden.fleet")
    entries = [ban(f"198.51.100.{i}/32", "a") for i in range(1, 101)]

    async def scenario() -> None:
        a = Host(tmp_path, "a", server.url, lambda: NOW).start()
        try:
            await until("a to connect", lambda: a.link.state.connected)
            server.stop()
            for entry in entries:
                a.link.share([entry])
            await asyncio.sleep(1.0)
            assert not a.link.state.connected
            assert a.store.outbox_size() == 100
            server.start()  # empty: nothing survived, only the outbox has the bans
            await until("the outbox to drain", lambda: a.store.outbox_size() == 0, 40)
        finally:
            await a.stop()
    asyncio.run(scenario())
    out = server.cli("XRANGE", "warden:{sshd}:bans", "-", "+").splitlines()
    addrs = [out[i + 1] for i in range(len(out) - 1) if out[i] == "addr"]
    assert addrs == [e.addr for e in entries]
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    up = [r for r in caplog.records if "connected to" in r.getMessage()]
    assert len(down) == 1 and len(up) == 2  # one line per change of state, not per retry
    assert PASSWORD not in caplog.text


def test_failures_are_counted_fleet_wide_in_the_window(server: RedisServer) -> None:
    def mark(n: int, time: float) -> FailureMark:
        return FailureMark("sshd", "192.0.2.5", time, f"h{n}:{n}", 600.0, 3)

    async def scenario() -> None:
        client = FleetClient(Endpoint(server.url))
        try:
            assert await client.count_failures([mark(1, NOW)]) == [1]
            assert await client.count_failures([mark(2, NOW + 1), mark(3, NOW + 2)]) == [2, 3]
            # at most `keep` (maxretry) timestamps are kept per address
            assert await client.count_failures([mark(4, NOW + 3)]) == [3]
            # a failure past findtime of the others: they drop out of the window
            assert await client.count_failures([mark(5, NOW + 700)]) == [1]
        finally:
            await client.close()
    asyncio.run(scenario())
    ttl = int(server.cli("PTTL", "warden:{sshd}:fail:192.0.2.5"))
    assert 0 < ttl <= 600_000


def test_a_link_stops_at_once_whatever_it_is_waiting_for(tmp_path: Path,
                                                         server: RedisServer) -> None:
    # cancelled at many moments of its blocking reads, pipelines and heartbeats, the link
    # must end every time (a daemon asked to stop waits for it)
    async def scenario() -> None:
        for round_ in range(40):
            host = Host(tmp_path, f"h{round_}", server.url, lambda: NOW).start()
            host.link.share([ban(f"192.0.2.{round_ + 1}/32", "h")])
            await asyncio.sleep(0.005 * (round_ % 20))
            await host.stop()
    asyncio.run(scenario())
