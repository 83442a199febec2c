"""Micro-benchmark: date detection, warden vs fail2ban, side by side.

    python3 bench/bench_dates.py [--lines N] [--no-fail2ban]

For each log format it generates N lines one to three seconds apart (a busy syslog), feeds
them to one detector (the template is first after the first line) and reports lines/s of
``DateDetector.match`` (warden) and ``matchTime`` + ``getTime`` (fail2ban 1.0.2, run by
/usr/bin/python3 in a subprocess, same lines, same TZ). Best of 5 (warden) / 3 runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

from warden.core.datedetect import DateDetector

NOW = 1795000000.0  # 2026-11-19, after every generated date
START = NOW - 86400 * 3
TZ = "CET-01CEST-02,M3.5.0,M10.5.0"
MONS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# name -> (datepattern or None for the default list, line renderer)
FORMATS: dict[str, tuple[str | None, Callable[[time.struct_time, int], str]]] = {
    "syslog {^LN-BEG}": (
        "{^LN-BEG}",
        lambda t, i: (
            f"{MONS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} host sshd[{i}]: Failed password for root from 10.0.0.1 port 22 ssh2"
        ),
    ),
    "syslog defaults": (
        None,
        lambda t, i: (
            f"{MONS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} host sshd[{i}]: Failed password for root from 10.0.0.1 port 22 ssh2"
        ),
    ),
    "rfc3339 defaults": (
        None,
        lambda t, i: (
            f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}.{i % 1000:03d}+01:00 host app: login failed from 10.0.0.1"
        ),
    ),
    "apache defaults": (
        None,
        lambda t, i: (
            f"10.0.0.1 - - [{t.tm_mday:02d}/{MONS[t.tm_mon - 1]}/{t.tm_year}:"
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000] "GET /x HTTP/1.1" 404 {i}'
        ),
    ),
    "epoch EPOCH": ("EPOCH", lambda t, i: f"{int(time.mktime(t))}.{i % 1000:03d} denied {i}"),
}

_F2B = r"""
import json, sys, time
sys.path.insert(0, "/work/shared/compat")
import f2b_engine as eng
eng.setup(now=%(now)r)
from fail2ban.server.filter import Filter
job = json.load(sys.stdin)
flt = Filter(None)
if job["pattern"] is not None:
    flt.setDatePattern(job["pattern"])
dd = flt.dateDetector
lines = job["lines"]
best = 1e9
for _ in range(3):
    t0 = time.perf_counter()
    for line in lines:
        m = dd.matchTime(line)
        if m[0]:
            dd.getTime(line, m)
    best = min(best, time.perf_counter() - t0)
print(len(lines) / best)
"""


def make_lines(render: Callable[[time.struct_time, int], str], n: int) -> list[str]:
    """``n`` lines 0..2 seconds apart starting at START (local time)."""
    out = []
    t = START
    for i in range(n):
        out.append(render(time.localtime(t), i))
        t += i % 3
    return out


def bench_warden(pattern: str | None, lines: list[str]) -> float:
    """Lines/s of DateDetector.match, best of 5 (a fresh detector each run)."""
    best = 1e9
    for _ in range(5):
        dd = DateDetector(pattern)
        match = dd.match
        match(lines[0], NOW)  # template first
        t0 = time.perf_counter()
        for line in lines:
            match(line, NOW)
        best = min(best, time.perf_counter() - t0)
    return len(lines) / best


def bench_fail2ban(pattern: str | None, lines: list[str]) -> float | None:
    """fail2ban's lines/s on the same lines, or None if it cannot run."""
    try:
        proc = subprocess.run(
            ["/usr/bin/python3", "-c", _F2B % {"now": NOW}],
            input=json.dumps({"pattern": pattern, "lines": lines}),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TZ": TZ},
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return float(proc.stdout)


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--no-fail2ban", action="store_true")
    args = ap.parse_args()
    os.environ["TZ"] = TZ
    time.tzset()
    print(f"{'format':20} {'warden lines/s':>15} {'fail2ban lines/s':>17} {'ratio':>6}")
    for name, (pattern, render) in FORMATS.items():
        lines = make_lines(render, args.lines)
        ours = bench_warden(pattern, lines)
        theirs = None if args.no_fail2ban else bench_fail2ban(pattern, lines)
        ratio = f"{ours / theirs:5.1f}x" if theirs else "-"
        print(f"{name:20} {ours:15,.0f} {theirs or 0:17,.0f} {ratio:>6}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
