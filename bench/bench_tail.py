"""Benchmark: reading appended log lines (throughput) and waking up on an append (latency).

    python3 bench/bench_tail.py [--lines N] [--samples N] [--polling] [--journal N] [--no-fail2ban]

Throughput: N generated sshd lines (default 200,000) are appended in one write to a log that a
``FileSource`` (inotify) watches; the time from the write to the last line yielded by
``batches()`` gives lines/s (best of 3). Also a cold read of the same file from its start
(``read_now``), and fail2ban 1.0.2's ``FileContainer`` iterating the same file (run by
/usr/bin/python3 in a subprocess), side by side. Latency: one line appended at a time, the
time from ``write`` returning to the batch arriving, median/p90/p99 over ``--samples`` appends;
``--polling`` adds the polling backend (1 s interval) for comparison (5 samples, slow).
``--journal N`` writes N entries to a journal file with systemd-journal-remote and times
``JournalSource`` reading them (entries/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from warden.sources.filetail import FileSource, LogSpec
from warden.sources.journal import JournalSource
from warden.sources.polling import PollingWatcher


def make_lines(n: int) -> bytes:
    return "".join(
        f"Nov 19 10:{i // 60 % 60:02d}:{i % 60:02d} host sshd[{1000 + i % 30000}]: Failed password "
        f"for invalid user u{i % 97} from 192.0.2.{i % 250 + 1} port {20000 + i % 40000} ssh2\n"
        for i in range(n)
    ).encode()


async def append_throughput(path: Path, data: bytes, n: int) -> float:
    path.write_bytes(b"")
    src = FileSource([LogSpec(str(path))], backend="inotify", rescan=3600)
    it = src.batches()
    first = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.05)  # the source has opened the file and waits on inotify
    assert not first.done()
    t0 = time.perf_counter()
    with open(path, "ab") as f:
        f.write(data)
    got = len((await first).lines)
    while got < n:
        got += len((await anext(it)).lines)
    elapsed = time.perf_counter() - t0
    src.close()
    return n / elapsed


def cold_read(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    src = FileSource([LogSpec(str(path))], backend="polling")
    got = sum(len(b.lines) for b in src.read_now())
    elapsed = time.perf_counter() - t0
    src.close()
    assert got == n, got
    return n / elapsed


FAIL2BAN = r"""
import sys, time
from fail2ban.server.filter import FileContainer
best = 0.0
for _ in range(3):
    fc = FileContainer(sys.argv[1], "UTF-8", tail=False)
    fc.open()
    t0 = time.perf_counter()
    n = 0
    for _line in fc:
        n += 1
    best = max(best, n / (time.perf_counter() - t0))
print(best)
"""


def fail2ban_read(path: Path) -> float | None:
    if not Path("/usr/bin/python3").exists():
        return None
    proc = subprocess.run(["/usr/bin/python3", "-c", FAIL2BAN, str(path)], check=False,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"fail2ban run failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return float(proc.stdout)


async def latency(path: Path, samples: int, *, polling: bool) -> list[float]:
    path.write_bytes(b"")
    watcher = PollingWatcher(interval=1.0) if polling else None
    src = FileSource([LogSpec(str(path))], backend="polling" if polling else "inotify",
                     watcher=watcher, rescan=3600)
    it = src.batches()
    out: list[float] = []
    with open(path, "ab", buffering=0) as f:
        nxt = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0.05)
        for i in range(samples):
            t0 = time.perf_counter()
            f.write(f"Nov 19 10:00:00 host sshd[1]: Failed password from 192.0.2.{i % 250}\n"
                    .encode())
            batch = await nxt
            out.append(time.perf_counter() - t0)
            assert len(batch.lines) == 1
            nxt = asyncio.ensure_future(anext(it))
            await asyncio.sleep(0)
        nxt.cancel()
    src.close()
    return out


def journal_read(tmp: Path, n: int) -> float:
    d = tmp / "journal"
    d.mkdir()
    export = b"".join(
        f"__REALTIME_TIMESTAMP={(1_700_000_000 + i) * 1_000_000}\n__MONOTONIC_TIMESTAMP={i + 1}\n"
        f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=host\nSYSLOG_IDENTIFIER=sshd\n"
        f"_PID={i}\n_SYSTEMD_UNIT=sshd.service\nMESSAGE=Failed password for root from "
        f"192.0.2.{i % 250 + 1} port 22 ssh2\n\n".encode() for i in range(n))
    subprocess.run(["/lib/systemd/systemd-journal-remote", f"--output={d}/a.journal", "-"],
                   input=export, check=True, capture_output=True)
    best = 0.0
    for _ in range(3):
        src = JournalSource(["_SYSTEMD_UNIT=sshd.service"], path=str(d), since=0)
        t0 = time.perf_counter()
        got = sum(len(b.lines) for b in src.read_now())
        best = max(best, got / (time.perf_counter() - t0))
        src.close()
        assert got == n, got
    return best


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6
    return (f"median {statistics.median(values) * 1e6:8.1f} us  p90 {q(0.9):8.1f} us  "
            f"p99 {q(0.99):8.1f} us  max {ordered[-1] * 1e6:8.1f} us  (n={len(values)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--polling", action="store_true")
    ap.add_argument("--journal", type=int, default=0, metavar="N")
    ap.add_argument("--no-fail2ban", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = make_lines(args.lines)
    results: dict[str, object] = {"lines": args.lines, "bytes": len(data)}
    with tempfile.TemporaryDirectory(prefix="bench-tail-") as tmp:
        path = Path(tmp) / "auth.log"
        results["append_lines_per_s"] = max(
            asyncio.run(append_throughput(path, data, args.lines)) for _ in range(3))
        path.write_bytes(data)
        results["cold_read_lines_per_s"] = max(cold_read(path, args.lines) for _ in range(3))
        if not args.no_fail2ban:
            results["fail2ban_filecontainer_lines_per_s"] = fail2ban_read(path)
        lat = asyncio.run(latency(Path(tmp) / "lat.log", args.samples, polling=False))
        results["inotify_latency_us"] = {"median": statistics.median(lat) * 1e6,
                                         "max": max(lat) * 1e6}
        text = [f"append {args.lines} lines ({len(data) / 1e6:.1f} MB), inotify, until the "
                f"last batch: {results['append_lines_per_s']:12,.0f} lines/s",
                f"cold read of the file (read_now):{'':>22}"
                f"{results['cold_read_lines_per_s']:12,.0f} lines/s"]
        f2b = results.get("fail2ban_filecontainer_lines_per_s")
        if isinstance(f2b, float):
            text.append(f"fail2ban 1.0.2 FileContainer, same file:{'':>15}{f2b:12,.0f} lines/s")
        text.append(f"wakeup latency, inotify:  {describe(lat)}")
        if args.polling:
            slow = asyncio.run(latency(Path(tmp) / "poll.log", 5, polling=True))
            results["polling_latency_us"] = {"median": statistics.median(slow) * 1e6}
            text.append(f"wakeup latency, polling:  {describe(slow)}")
        if args.journal:
            results["journal_entries_per_s"] = journal_read(Path(tmp), args.journal)
            text.append(f"journal read ({args.journal} entries, JournalSource):{'':>11}"
                        f"{results['journal_entries_per_s']:12,.0f} entries/s")
    if args.json:
        print(json.dumps(results))
    else:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print("\n".join(text))


if __name__ == "__main__":
    main()
