"""A fleet of three real daemons sharing bans and failure counts through a real Redis.

A real ``redis-server`` (Debian package) on a Unix socket in a temporary directory, with a
password; three ``warden server`` daemons A, B and C, each in its own network namespace with
real nftables (``nftables-multiport``) and a TCP listener on port 22; one attacker namespace
joined to each host by its own veth pair, holding the attackers' addresses on its loopback
and routing them to every host, so one attacker address reaches all three. Real TCP
connects tell whether an address gets through.

The scenarios of issue 12 run in order on one fleet (module fixture):
1. a ban on A blocks the attacker on B and C within a second; ``warden status`` and
   ``warden banned`` on B list it with A as its origin, ``warden status`` shows B connected
   with peers A and C; ``warden unban`` on A lifts it everywhere;
2. a slow attacker (one failure on each host, maxretry 3, ``fleet = both``) is banned on all;
3. Redis stopped, A bans 100 addresses, Redis started (empty): B and C get all 100;
4. C stopped while A bans; C started: it catches up from its last ID (nothing from before
   is applied again) and skips the entry that expired meanwhile;
5. entries planted by hand (an invalid address, ``0.0.0.0/0``) are refused and logged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns
from tests.e2e.harness import Server, append, failure_line, wait_for
from tests.fleet.redisserver import PASSWORD, RedisServer, have_redis

ACTIONS = Path("/etc/fail2ban/action.d")
pytestmark = pytest.mark.skipif(
    not can_use_netns() or shutil.which("nft") is None or not have_redis()
    or not (ACTIONS / "nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nft, redis-server, redis-py and fail2ban's nftables actions")

HOSTS = {"a": "203.0.113.1", "b": "203.0.113.2", "c": "203.0.113.3"}
ATTACKER = "192.0.2.66"
SLOW = "192.0.2.67"
WHILE_DOWN = "192.0.2.68"
EXPIRES = "192.0.2.69"
AFTER_PLANTED = "192.0.2.70"
INNOCENT = "192.0.2.99"
SOURCES = (ATTACKER, SLOW, WHILE_DOWN, EXPIRES, AFTER_PLANTED, INNOCENT)

_LISTENER = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 22))
s.listen(128)
while True:
    c, _ = s.accept()
    c.close()
"""

_PROBE = r"""
import socket, sys
s = socket.socket()
s.settimeout(0.5)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 22)); print("ok")
except TimeoutError:
    print("timeout")
except OSError as e:
    print(type(e).__name__)
"""


def _ip(*args: str) -> None:
    subprocess.run(("ip", *args), check=True, capture_output=True)


def _set(ns: str, name: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "set", "inet", "warden",
                           name], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


@dataclass
class Fleet:
    redis: RedisServer
    servers: dict[str, Server]
    namespaces: dict[str, str]
    attacker: str
    logs: dict[str, Path]
    short_logs: dict[str, Path]

    def start(self, name: str) -> None:
        self.servers[name].start(prefix=("ip", "netns", "exec", self.namespaces[name]))

    def in_set(self, name: str, addr: str, jail: str = "sshd") -> bool:
        return addr in _set(self.namespaces[name], f"{jail}4")

    def connects(self, src: str, host: str) -> bool:
        done = subprocess.run(["ip", "netns", "exec", self.attacker, sys.executable, "-c",
                               _PROBE, src, HOSTS[host]], capture_output=True, text=True,
                              check=False, timeout=10)
        return done.stdout.strip() == "ok"


def _joined(server: Server) -> bool:
    return "fleet: connected to" in server.log_text()


def _jails(log: Path, short_log: Path) -> str:
    return (f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\nport = ssh\n"
            "maxretry = 3\nfindtime = 1h\nbantime = 1h\nfleet = both\n\n"
            f"[short]\nenabled = true\nfilter = sshd\nlogpath = {short_log}\nport = ssh\n"
            "bantime = 3\nfleet = bans\n")


def build_fleet(root: Path, stack: ExitStack) -> Fleet:
    """Namespaces, listeners, Redis and the three started daemons; all undone by ``stack``."""
    attacker = stack.enter_context(netns("wfa"))
    for src in SOURCES:
        _ip("-n", attacker, "addr", "add", f"{src}/32", "dev", "lo")
    namespaces: dict[str, str] = {}
    for index, (name, addr) in enumerate(HOSTS.items()):
        ns = namespaces[name] = stack.enter_context(netns(f"wf{name}"))
        near, far = f"wfh{index}", f"wfx{index}"
        _ip("link", "add", near, "netns", ns, "type", "veth", "peer", far, "netns", attacker)
        _ip("-n", ns, "addr", "add", f"{addr}/32", "dev", near)
        _ip("-n", ns, "link", "set", near, "up")
        _ip("-n", attacker, "link", "set", far, "up")
        _ip("-n", ns, "route", "add", "192.0.2.0/24", "dev", near)
        _ip("-n", attacker, "route", "add", f"{addr}/32", "dev", far)
        listener = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                                     _LISTENER], stdin=subprocess.DEVNULL)
        stack.callback(listener.wait)
        stack.callback(listener.kill)
    redis = RedisServer(root / "redis").start()
    stack.callback(redis.stop)
    servers: dict[str, Server] = {}
    logs: dict[str, Path] = {}
    short_logs: dict[str, Path] = {}
    for name in HOSTS:
        logs[name] = root / f"{name}-auth.log"
        short_logs[name] = root / f"{name}-short.log"
        logs[name].touch()
        short_logs[name].touch()
        server = Server(root / name, _jails(logs[name], short_logs[name]),
                        settings=f"\n[Fleet]\nredis = {redis.url}\nname = {name}\n",
                        action="nftables-multiport")
        for conf in ("nftables.conf", "nftables-multiport.conf"):
            shutil.copy(ACTIONS / conf, server.conf / "action.d" / conf)
        servers[name] = server
        stack.callback(server.close)
    made = Fleet(redis, servers, namespaces, attacker, logs, short_logs)
    for name in HOSTS:
        made.start(name)
    for server in servers.values():
        wait_for(f"{server.root.name} to join the fleet", partial(_joined, server))
    return made


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield build_fleet(tmp_path_factory.mktemp("fleet"), stack)


def test_1_a_ban_on_a_blocks_the_attacker_on_b_and_c_within_a_second(fleet: Fleet) -> None:
    for host in HOSTS:
        assert fleet.connects(ATTACKER, host)
    append(fleet.logs["a"], failure_line(ATTACKER) * 3)
    wait_for("the ban in A's set", lambda: fleet.in_set("a", ATTACKER), 10, 0.005)
    banned_on_a = time.monotonic()
    wait_for("the ban in B's and C's sets",
             lambda: fleet.in_set("b", ATTACKER) and fleet.in_set("c", ATTACKER), 1.0, 0.005)
    took = time.monotonic() - banned_on_a
    assert took < 1.0
    for host in HOSTS:
        assert not fleet.connects(ATTACKER, host)
        assert fleet.connects(INNOCENT, host)
    status = fleet.servers["b"].cli("status", "sshd")
    assert status.returncode == 0 and ATTACKER in status.stdout, status
    assert "`- Fleet bans:\t1 (from a: 1)" in status.stdout, status.stdout
    banned = fleet.servers["b"].cli("banned", ATTACKER).stdout.split()
    assert banned[0] == ATTACKER and banned[-2:] == ["from", "a"], banned

    def b_sees_the_fleet() -> bool:  # peers are counted at each heartbeat (5 s)
        text = fleet.servers["b"].cli("status").stdout
        return "|- Connected:\tyes" in text and "|- Peers:\t2 (a, c)" in text
    wait_for("B's status to show the fleet connected with A and C", b_sees_the_fleet, 10, 0.5)
    assert "fleet: carried out 1 decision(s) of a" in fleet.servers["b"].log_text()
    # B restarted: the restored ban still names its origin (kept in B's store)
    assert fleet.servers["b"].stop() == 0
    fleet.start("b")
    wait_for("B to serve again", lambda: fleet.servers["b"].cli("ping").returncode == 0, 10)
    assert fleet.in_set("b", ATTACKER)
    status = fleet.servers["b"].cli("status", "sshd")
    assert "`- Fleet bans:\t1 (from a: 1)" in status.stdout, status.stdout
    banned = fleet.servers["b"].cli("banned", ATTACKER).stdout.split()
    assert banned[-2:] == ["from", "a"], banned
    done = fleet.servers["a"].cli("unban", ATTACKER)
    assert done.returncode == 0, done.stderr
    wait_for("the ban lifted everywhere",
             lambda: not any(fleet.in_set(h, ATTACKER) for h in HOSTS), 5)
    for host in HOSTS:
        assert fleet.connects(ATTACKER, host)
    assert PASSWORD not in "".join(s.log_text() for s in fleet.servers.values())


def test_2_a_slow_attacker_is_banned_on_every_host(fleet: Fleet) -> None:
    for host in HOSTS:
        append(fleet.logs[host], failure_line(SLOW))
        time.sleep(0.5)  # one failure per host, one host after the other
    wait_for("the slow attacker banned on all hosts",
             lambda: all(fleet.in_set(h, SLOW) for h in HOSTS), 10)
    for host in HOSTS:
        assert not fleet.connects(SLOW, host)
    assert "failed 3 times across the fleet" in fleet.servers["c"].log_text()


def test_3_bans_made_while_redis_is_down_all_arrive(fleet: Fleet) -> None:
    addrs = [f"198.51.100.{i}" for i in range(1, 101)]
    fleet.redis.stop()
    done = fleet.servers["a"].cli("ban", "sshd", *addrs)
    assert done.returncode == 0, done.stderr
    wait_for("A to notice", lambda: "unreachable" in fleet.servers["a"].log_text(), 15)
    assert all(fleet.in_set("a", addr) for addr in addrs[:3])  # local bans go on
    fleet.redis.start()  # empty: only A's outbox has the 100 bans

    def arrived(host: str) -> bool:
        listing = _set(fleet.namespaces[host], "sshd4")
        return all(f"{addr} " in listing or f"{addr}," in listing for addr in addrs)
    wait_for("all 100 on B and C", lambda: arrived("b") and arrived("c"), 60, 0.2)


def test_4_a_stopped_host_catches_up_and_skips_what_expired(fleet: Fleet) -> None:
    c = fleet.servers["c"]
    assert c.stop() == 0
    a = fleet.servers["a"]
    assert a.cli("ban", "sshd", WHILE_DOWN).returncode == 0
    assert a.cli("ban", "short", EXPIRES).returncode == 0  # bantime 3 s
    wait_for("B to get both", lambda: fleet.in_set("b", WHILE_DOWN)
             and fleet.in_set("b", EXPIRES, "short"), 5)
    time.sleep(3.5)
    before = c.log_text()
    fleet.start("c")
    wait_for("C to catch up", lambda: fleet.in_set("c", WHILE_DOWN), 10)
    time.sleep(1.0)
    after = c.log_text()[len(before):]
    assert f"Ban {EXPIRES}" not in after  # expired while C was down: skipped
    assert not fleet.in_set("c", EXPIRES, "short")
    assert f"Ban {ATTACKER}" not in after  # from its last ID: nothing earlier again
    assert not fleet.connects(WHILE_DOWN, "c")


def test_5_planted_entries_are_refused(fleet: Fleet) -> None:
    now = time.time()
    fields = ["op", "ban", "jail", "sshd", "time", str(now), "end", str(now + 600),
              "count", "1", "origin", "intruder"]
    for addr in ("0.0.0.0/0", "999.1.2.3", AFTER_PLANTED):
        fleet.redis.cli("XADD", "warden:{sshd}:bans", "*", *fields, "addr", addr)
    wait_for("the valid entry after the bad ones",
             lambda: all(fleet.in_set(h, AFTER_PLANTED) for h in HOSTS), 10)
    for host in HOSTS:
        text = fleet.servers[host].log_text()
        assert "addr 0.0.0.0/0: it covers every IPv4 address" in text
        assert "addr '999.1.2.3' is not an IP address or network" in text
        assert "0.0.0.0/0" not in _set(fleet.namespaces[host], "sshd4")
        assert fleet.connects(INNOCENT, host)
