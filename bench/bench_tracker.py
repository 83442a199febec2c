"""Memory and speed of failure tracking under a flood of distinct addresses, warden vs fail2ban.

    python3 bench/bench_tracker.py [--addresses N] [--no-fail2ban]

N distinct IPv4 addresses fail once or twice each (alternately, in time order, one failure
every millisecond; nobody reaches maxretry = 3 and nothing leaves findtime), as in a scan from
a botnet. Reported per tracked address: the bytes still allocated afterwards (tracemalloc: the
id strings, the log lines kept as matches, and the tracker's own structures, measured from an
empty tracker), and the time per failure.

- ``warden Tracker``: ``warden.core.tracker.Tracker.add`` (maxmatches 5 and 0);
- ``warden Jail``: the whole per-failure path of ``warden.core.jail.Jail.add_failure``
  (time rules, id parsing, ignoreip with 2 networks, history lookup, tracker);
- ``fail2ban``: 1.0.2's ``FailManager.addFailure(FailTicket(...))`` as its filter calls it, run
  by /usr/bin/python3 in a subprocess on the same data.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from types import MappingProxyType
from typing import TypeVar

from warden.core.filter import Failure
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.core.tracker import Tracker

T0 = 1_700_000_000.0
BASE = 0x0A000000  # 10.0.0.0: addresses as strings, no traffic involved
T = TypeVar("T")
Events = list[tuple[int, float]]


def events(n: int) -> Events:
    """(address index, time): address i fails once if i is even, twice if odd."""
    out: Events = []
    for i in range(n):
        out.append((i, T0 + len(out) / 1000))
        if i % 2:
            out.append((i, T0 + len(out) / 1000))
    return out


def ip(i: int) -> str:
    v = BASE + i
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def line(i: int) -> str:
    return (f"Nov 27 21:{i // 60 % 60:02d}:{i % 60:02d} host sshd[{1000 + i % 50000}]: "
            f"Failed password for invalid user admin from {ip(i)} port {1024 + i % 60000} ssh2")


def _measure(name: str, n: int, build: Callable[[], T], feed: Callable[[T, Events], None],
             tracker: Callable[[T], Tracker]) -> dict[str, object]:
    evs = events(n)
    # Time without tracemalloc (it slows every allocation down), then memory with it.
    target = build()
    start = time.perf_counter()
    feed(target, evs)
    elapsed = time.perf_counter() - start
    del target
    gc.collect()
    tracemalloc.start()
    target = build()
    base = tracemalloc.get_traced_memory()[0]
    feed(target, evs)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(tracker(target)) == n, name
    return {"name": name, "bytes_per_address": used / n,
            "us_per_failure": elapsed / len(evs) * 1e6}


def feed_tracker(tracker: Tracker, evs: Events) -> None:
    add = tracker.add
    for i, t in evs:
        # id and line are made per failure, as the filter makes them
        add(ip(i), t, (line(i),))


def feed_jail(jail: Jail, evs: Events) -> None:
    add = jail.add_failure
    now = evs[-1][1]
    for i, t in evs:
        fid = ip(i)
        add(Failure(fid, t, MappingProxyType({"ip4": fid}), (line(i),), 0), now)


FAIL2BAN = r"""
import gc, json, sys, time, tracemalloc
from fail2ban.server.failmanager import FailManager
from fail2ban.server.ticket import FailTicket
from fail2ban.server.mytime import MyTime
n, T0, BASE = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
def ip(i):
    v = BASE + i
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"
def line(i):
    return (f"Nov 27 21:{i // 60 % 60:02d}:{i % 60:02d} host sshd[{1000 + i % 50000}]: "
            f"Failed password for invalid user admin from {ip(i)} port {1024 + i % 60000} ssh2")
evs = []
for i in range(n):
    evs.append((i, T0 + len(evs) / 1000))
    if i % 2:
        evs.append((i, T0 + len(evs) / 1000))
MyTime.setTime(evs[-1][1])
def build():
    fm = FailManager()
    fm.setMaxRetry(3); fm.setMaxTime(600); fm.maxMatches = 5
    return fm
def feed(fm):
    for i, t in evs:
        # what Filter.processLineAndAdd does per failure: the ticket's data is the match's
        # groups (None values dropped) and its lines as a list
        fm.addFailure(FailTicket(ip(i), t, data={"ip4": ip(i), "matches": [line(i)]}))
fm = build()
start = time.perf_counter()
feed(fm)
elapsed = time.perf_counter() - start
del fm
gc.collect()
tracemalloc.start()
fm = build()
base = tracemalloc.get_traced_memory()[0]
feed(fm)
gc.collect()
used = tracemalloc.get_traced_memory()[0] - base
assert fm.size() == n
print(json.dumps({"name": "fail2ban FailManager", "bytes_per_address": used / n,
                  "us_per_failure": elapsed / len(evs) * 1e6}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--no-fail2ban", action="store_true")
    args = parser.parse_args()
    n = args.addresses
    results = [
        _measure("warden Tracker (maxmatches 5)", n,
                 lambda: Tracker(3, 600, 5, max_tracked=10 * n), feed_tracker, lambda t: t),
        _measure("warden Tracker (maxmatches 0)", n,
                 lambda: Tracker(3, 600, 0, max_tracked=10 * n), feed_tracker, lambda t: t),
        _measure("warden Jail.add_failure", n,
                 lambda: Jail(JailSpec("bench", ignore=("127.0.0.1/8", "192.0.2.0/24"),
                                       max_tracked=10 * n)), feed_jail,
                 lambda j: j.tracker),
    ]
    if not args.no_fail2ban:
        done = subprocess.run(["/usr/bin/python3", "-c", FAIL2BAN, str(n), str(T0), str(BASE)],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            results.append(json.loads(done.stdout))
        else:
            print(f"fail2ban run failed: {done.stderr.strip().splitlines()[-1:]}",
                  file=sys.stderr)
    print(f"{n:,} addresses, 1-2 failures each ({len(events(n)):,} failures)")
    print(f"{'':32} {'bytes/address':>14} {'µs/failure':>11}")
    for r in results:
        print(f"{r['name']:32} {r['bytes_per_address']:14.0f} {r['us_per_failure']:11.2f}")


if __name__ == "__main__":
    main()
