"""Two real daemons (dry-run firewall) and a real Redis: what the receiving host decides.

The receiving host's ``ignoreip`` wins over a fleet ban, and so does its own address even
with ``ignoreself = false``; a jail with ``fleet = none`` neither shares nor takes bans; a
host without ``[Fleet]`` is untouched by the fleet.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.e2e.harness import Server, wait_for
from tests.fleet.redisserver import RedisServer, have_redis

pytestmark = pytest.mark.skipif(not have_redis(), reason="needs redis-server and redis-py")


def _own_address() -> str | None:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    found = [str(info[4][0]) for info in infos if not str(info[4][0]).startswith("127.")]
    return found[0] if found else None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def _joined(server: Server) -> bool:
    return "fleet: connected" in server.log_text()


def _server(root: Path, name: str, redis: RedisServer | None, jails: str) -> Server:
    fleet = "" if redis is None else f"\n[Fleet]\nredis = {redis.url}\nname = {name}\n"
    log = root / f"{name}.log"
    log.touch()
    text = jails.replace("LOG", str(log))
    return Server(root / name, text, settings=fleet)


JAILS = ("[sshd]\nenabled = true\nfilter = sshd\nlogpath = LOG\nIGNORE\n\n"
         "[quiet]\nenabled = true\nfilter = sshd\nlogpath = LOG\nfleet = none\n")


def test_the_receiving_host_decides(tmp_path: Path, redis: RedisServer,
                                    servers: list[Server]) -> None:
    own = _own_address()
    a = _server(tmp_path, "a", redis, JAILS.replace("IGNORE", ""))
    b = _server(tmp_path, "b", redis, JAILS.replace("IGNORE", "ignoreip = 198.51.100.0/24"))
    plain = _server(tmp_path, "plain", None, JAILS.replace("IGNORE", ""))
    for server in (a, b, plain):
        servers.append(server.start())
    for server in (a, b):
        wait_for("the fleet link", partial(_joined, server))
    wanted = ["198.51.100.7", "192.0.2.8"] + ([own] if own else [])
    done = a.cli("ban", "sshd", *wanted, "--force")
    assert done.returncode == 0, done.stderr
    assert a.cli("ban", "quiet", "203.0.113.9").returncode == 0
    wait_for("B to take the one ban it accepts", lambda: "192.0.2.8" in b.banned("sshd"))
    time.sleep(0.5)
    assert set(b.banned("sshd")) == {"192.0.2.8"}
    text = b.log_text()
    assert "not banning 198.51.100.7 from a: it is in ignoreip/ignoreself" in text
    if own:
        assert f"not banning {own} from a: it is an address of this host" in text
    assert b.banned("quiet") == {}  # fleet = none: not shared
    assert plain.banned() == {}  # no [Fleet]: not in the fleet
    # fleet = none on the receiving side too: a planted entry for it is not applied
    now = time.time()
    redis.cli("XADD", "warden:{quiet}:bans", "*", "op", "ban", "jail", "quiet", "addr",
              "203.0.113.10", "time", str(now), "end", str(now + 60), "count", "1",
              "origin", "x")
    time.sleep(1.0)
    assert b.banned("quiet") == {}
