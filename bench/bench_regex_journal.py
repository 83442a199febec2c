"""Reading a journal with a filter: ``warden regex systemd-journal[...]`` vs ``fail2ban-regex``.

    .venv/bin/python bench/bench_regex_journal.py [--entries 100000]

One journal file is written with systemd-journal-remote (sshd failures from 1,000 addresses,
one entry in ten of another unit, which the filter's journalmatch leaves out); both tools read
it side by side in one run with the stock sshd filter and print ``-o id``; the outputs must be
identical, and the wall times of each are printed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REMOTE = shutil.which("systemd-journal-remote") or "/lib/systemd/systemd-journal-remote"
BOOT = "0123456789abcdef0123456789abcdef"


def export(n: int, start: float) -> bytes:
    parts: list[bytes] = []
    for i in range(n):
        unit, ident = ("cron.service", "CRON") if i % 10 == 9 else ("sshd.service", "sshd")
        addr = f"198.51.100.{i % 250}" if i % 2 else f"203.0.113.{i % 250}"
        parts.append(
            f"__REALTIME_TIMESTAMP={int((start + i / 100) * 1e6)}\n__MONOTONIC_TIMESTAMP={i + 1}\n"
            f"_BOOT_ID={BOOT}\n_HOSTNAME=host\nSYSLOG_IDENTIFIER={ident}\n_PID={1000 + i % 997}\n"
            f"_SYSTEMD_UNIT={unit}\n"
            f"MESSAGE=Failed password for root from {addr} port {1024 + i % 5000} ssh2\n\n"
            .encode())
    return b"".join(parts)


def run(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its output): on shared CPUs the CPU time is
    the fairer number."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=3600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "bench.journal"
        subprocess.run([REMOTE, f"--output={journal}", "-"], check=True, capture_output=True,
                       input=export(args.entries, time.time() - 86400))
        log = f"systemd-journal[journalfiles={journal}]"
        warden_wall, warden_cpu, ours = run([sys.executable, "-m", "warden", "regex", "-c",
                                             "/etc/fail2ban", "-o", "id", log, "sshd"])
        f2b_wall, f2b_cpu, theirs = run(["fail2ban-regex", "-o", "id", log, "sshd"])
    found = len(ours.splitlines())
    print(f"{args.entries:,} journal entries, {found:,} failures found by each: "
          f"identical output: {ours == theirs}")
    for name, wall, cpu in (("warden regex", warden_wall, warden_cpu),
                            ("fail2ban-regex", f2b_wall, f2b_cpu)):
        print(f"{name:15} wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
              f"{args.entries / cpu:9,.0f} entries per CPU second")
    print(f"ratio (CPU) {f2b_cpu / warden_cpu:.1f}x, (wall) {f2b_wall / warden_wall:.1f}x")
    return 0 if ours == theirs else 1


if __name__ == "__main__":
    sys.exit(main())
