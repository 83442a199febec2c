"""Sentinel: the fleet client finds the master through a real redis-sentinel and, after a
failover (the master killed, its replica promoted), publishes to the new master."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fleet.redisserver import PASSWORD, free_port, have_redis

pytestmark = pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")

if have_redis():
    from warden.fleet.client import Endpoint, FleetClient, FleetUnavailable


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a", PASSWORD,
                           *args], capture_output=True, text=True, check=False, timeout=10)
    return done.stdout.strip()


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def sentinel_set(tmp_path: Path) -> Iterator[tuple[int, int, int, list[subprocess.Popen[bytes]]]]:
    master, replica, sentinel = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    common = ["--bind", "127.0.0.1", "--requirepass", PASSWORD, "--masterauth", PASSWORD,
              "--save", "", "--appendonly", "no"]
    try:
        for port, extra in ((master, []), (replica, ["--replicaof", "127.0.0.1", str(master)])):
            procs.append(subprocess.Popen(["redis-server", "--port", str(port), *common,
                                           "--dir", str(tmp_path), *extra],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        conf = tmp_path / "sentinel.conf"
        conf.write_text(f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
                        f"sentinel monitor wardenm 127.0.0.1 {master} 1\n"
                        f"sentinel auth-pass wardenm {PASSWORD}\n"
                        "sentinel down-after-milliseconds wardenm 500\n"
                        "sentinel failover-timeout wardenm 5000\n")
        procs.append(subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait("the replica to sync",
              lambda: "master_link_status:up" in _cli(replica, "INFO", "replication"))
        _wait("the sentinel to know the replica", lambda: str(replica) in subprocess.run(
            ["redis-cli", "-p", str(sentinel), "SENTINEL", "replicas", "wardenm"],
            capture_output=True, text=True, check=False).stdout)
        yield master, replica, sentinel, procs
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def test_publishing_follows_a_failover(
        sentinel_set: tuple[int, int, int, list[subprocess.Popen[bytes]]]) -> None:
    _master, replica, sentinel, procs = sentinel_set
    endpoint = Endpoint("redis://127.0.0.1/0", PASSWORD, (("127.0.0.1", sentinel),), "wardenm",
                        timeout=1.0)
    fields = {"op": "ban"}

    async def scenario() -> None:
        client = FleetClient(endpoint, block=0.2)
        try:
            await client.publish([("sshd", fields)], 1000)
            procs[0].kill()  # the master dies
            procs[0].wait()
            deadline = time.monotonic() + 30
            while True:  # what the link's backoff does: try again until a master answers
                try:
                    await client.publish([("sshd", fields)], 1000)
                    break
                except FleetUnavailable:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await client.close()
    asyncio.run(scenario())
    assert "role:master" in _cli(replica, "INFO", "replication")
    # the first entry came over by replication, the second was written after the failover
    assert _cli(replica, "XLEN", "warden:{sshd}:bans") == "2"
