"""10,000 bans on host A of a three-host fleet: how long until B's and C's kernel sets hold
them all, and how many Redis round trips each ban costs (root; network namespaces).

    sudo .venv/bin/python bench/bench_fleet.py [N]

Builds the fleet of tests/e2e/test_fleet.py (a real redis-server on a Unix socket, three
``warden server`` daemons each in its own namespace with nftables), bans N addresses
(default 10,000: 600 IPv4, the rest IPv6) on A through the control socket, then polls B's
and C's nftables sets until each holds N elements. Redis's ``total_reads_processed`` (one
per request a client sends, a pipeline counting as one or a few) stands for round trips;
``commandstats`` gives the commands behind them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.test_fleet import build_fleet
from tests.e2e.test_kernel_bans import _addresses, _ban, _count


def _info(fleet_redis: object, section: str) -> dict[str, str]:
    text = fleet_redis.cli("INFO", section)  # type: ignore[attr-defined]
    found: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            found[key] = value.strip()
    return found


def _calls(stats: dict[str, str], command: str) -> int:
    entry = stats.get(f"cmdstat_{command}", "")
    for part in entry.split(","):
        if part.startswith("calls="):
            return int(part[len("calls="):])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (and of its waited-for children:
    the ``nft`` commands a daemon runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def main(n: int) -> None:
    """Print the time to A's firewall, to B's and C's, and Redis round trips per ban."""
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        fleet = build_fleet(Path(tmp), stack)
        addrs = _addresses(n)
        reads0 = int(_info(fleet.redis, "stats")["total_reads_processed"])
        cmds0 = _info(fleet.redis, "commandstats")
        pids = {h: s.proc.pid for h, s in fleet.servers.items() if s.proc is not None}
        assert fleet.redis.proc is not None
        pids["redis"] = fleet.redis.proc.pid
        cpu0 = {h: cpu_seconds(pid) for h, pid in pids.items()}
        started = time.monotonic()
        _ban(fleet.servers["a"], "sshd", addrs)
        on_a = time.monotonic() - started
        done: dict[str, float] = {}
        while len(done) < 2:
            for host in ("b", "c"):
                if host not in done and _count(fleet.namespaces[host], "nftables",
                                               "sshd") >= n:
                    done[host] = time.monotonic() - started
            if time.monotonic() - started > 600:
                raise SystemExit(f"timed out: {done}")
            time.sleep(0.05)
        cpu = {h: cpu_seconds(pid) - cpu0[h] for h, pid in pids.items()}
        reads = int(_info(fleet.redis, "stats")["total_reads_processed"]) - reads0
        cmds = _info(fleet.redis, "commandstats")
        print(f"{n} bans: in A's kernel sets after {on_a:.2f} s, B's after {done['b']:.2f} s, "
              f"C's after {done['c']:.2f} s")
        for command in ("xadd", "xread", "xrevrange", "hset", "evalsha"):
            print(f"  {command}: {_calls(cmds, command) - _calls(cmds0, command)} calls")
        print(f"  Redis requests read (round trips, all 3 hosts): {reads}, "
              f"{reads / n:.4f} per ban")
        print("  CPU seconds: " + ", ".join(f"{h} {t:.2f}" for h, t in cpu.items()))
        print(f"  kernel elements: A {_count(fleet.namespaces['a'], 'nftables', 'sshd')}, "
              f"B {_count(fleet.namespaces['b'], 'nftables', 'sshd')}, "
              f"C {_count(fleet.namespaces['c'], 'nftables', 'sshd')}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
