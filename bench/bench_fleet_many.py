"""20 daemons on this machine (dry-run backend) sharing one Redis: how fast 1,000 bans made
on random hosts reach all the others, and what it costs Redis and each daemon.

    .venv/bin/python bench/bench_fleet_many.py [HOSTS] [BANS]

Starts a real redis-server (Unix socket, password) and HOSTS ``warden server`` daemons
(default 20) through tests/e2e/harness.py, each with one fleet jail and the dry-run action.
After an idle spell (to measure what idle daemons cost), BANS manual bans (default 1,000,
100 per second) go to random hosts; when every daemon's log shows every ban it prints:

- propagation: for each ban and each other host, the time between the origin's log line
  and that host's (both to the millisecond, one clock), as p50 / p99 / max;
- Redis: CPU seconds (``INFO cpu``) and memory (``used_memory``) before and after;
- daemons: CPU seconds above idle, per remote ban applied (an upper bound: the origin's
  own work for each ban is counted in).
"""

from __future__ import annotations

import ipaddress
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_fleet import cpu_seconds
from tests.e2e.harness import Server, wait_for
from tests.fleet.redisserver import RedisServer

from warden.protocol import BanReply, BanRequest

_BAN_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .*\[sshd\] Ban (\S+)$")


def _info(redis: RedisServer, section: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in redis.cli("INFO", section).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            found[key] = value.strip()
    return found


def _redis_cpu(redis: RedisServer) -> float:
    info = _info(redis, "cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _ban_times(server: Server) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in server.log_text().splitlines():
        match = _BAN_LINE.match(line)
        if match:
            stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
            found.setdefault(match.group(3), stamp + int(match.group(2)) / 1000)
    return found


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(hosts: int, bans: int) -> None:
    """Run the fleet, print propagation percentiles and costs."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis = RedisServer(root / "redis").start()
        servers: list[Server] = []
        try:
            for i in range(hosts):
                log = root / f"h{i}.log"
                log.touch()
                server = Server(root / f"h{i}", f"[sshd]\nenabled = true\nfilter = sshd\n"
                                f"logpath = {log}\nbantime = 1h\n",
                                settings=f"\n[Fleet]\nredis = {redis.url}\nname = h{i}\n")
                servers.append(server.start())
            for server in servers:
                wait_for("the fleet link", lambda s=server: "fleet: connected" in s.log_text())
            pids = [s.proc.pid for s in servers if s.proc is not None]
            idle_for = 10.0
            cpu0 = sum(cpu_seconds(p) for p in pids)
            time.sleep(idle_for)
            idle_rate = (sum(cpu_seconds(p) for p in pids) - cpu0) / idle_for
            redis0, mem0 = _redis_cpu(redis), int(_info(redis, "memory")["used_memory"])
            cpu1 = sum(cpu_seconds(p) for p in pids)
            started = time.monotonic()
            rng = random.Random(12)
            origin: dict[str, int] = {}
            for k in range(bans):
                addr = str(ipaddress.IPv6Address(f"2001:db8:{k // 65536:x}:{k % 65536:x}::1"))
                host = rng.randrange(hosts)
                origin[addr] = host
                answer = servers[host].call(BanRequest("sshd", (addr,)))
                assert isinstance(answer, BanReply), answer
                time.sleep(max(0.0, started + (k + 1) / 100 - time.monotonic()))
            seen: list[dict[str, float]] = []

            def everywhere() -> bool:
                seen[:] = [_ban_times(s) for s in servers]
                return all(len(t) >= bans for t in seen)
            wait_for("every ban on every host", everywhere, 300, 0.5)
            took = time.monotonic() - started
            cpu = sum(cpu_seconds(p) for p in pids) - cpu1 - idle_rate * took
            redis_cpu = _redis_cpu(redis) - redis0
            mem = int(_info(redis, "memory")["used_memory"])
            delays = [seen[h][addr] - seen[src][addr] for addr, src in origin.items()
                      for h in range(hosts) if h != src]
            remote = bans * (hosts - 1)
            print(f"{hosts} daemons, {bans} bans on random hosts at 100/s, {remote} remote "
                  f"bans applied in {took:.1f} s")
            print(f"propagation (origin's log line to each other host's): p50 "
                  f"{statistics.median(delays) * 1000:.0f} ms, p99 {_pct(delays, 0.99) * 1000:.0f}"
                  f" ms, max {max(delays) * 1000:.0f} ms")
            print(f"Redis: {redis_cpu:.2f} CPU s ({redis_cpu / bans * 1e6:.0f} µs per ban), "
                  f"memory {mem0 / 1e6:.2f} -> {mem / 1e6:.2f} MB "
                  f"({(mem - mem0) / bans:.0f} bytes per ban)")
            print(f"daemons: idle {idle_rate / hosts * 1000:.1f} ms CPU per second each; "
                  f"{cpu:.2f} CPU s above idle, {cpu / remote * 1e6:.0f} µs per remote ban")
        finally:
            for server in servers:
                server.close()
            redis.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20,
         int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
