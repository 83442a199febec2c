#!/usr/bin/env python3
"""``warden replay`` beside ``warden regex`` on the same generated auth log, in one run.

Generates (once, cached in the temporary directory) an auth log with
/work/shared/bench/genlog.py, writes warden's own configuration (``warden init``) with an
sshd jail reading it, then times, as subprocesses and one after the other:

- ``warden regex LOG sshd`` (its default: as many chunk processes as CPUs),
- ``warden regex LOG sshd`` with ``WARDEN_JOBS=1`` (one process, like replay),
- ``warden replay LOG`` (the whole jail logic: counting, bans, increments, unbans), with
  warden's default jail (its sshd jail also scans every line for successful logins,
  ``trustsuccess``) and with ``trustsuccess = no`` (no success filter), each by default (a
  big log in as many chunk processes as CPUs) and with ``WARDEN_JOBS=1``.

Each line shows wall seconds and lines/s, and CPU seconds (all processes of the command) and
lines per CPU second: on a machine shared with other work the CPU figures are the steadier
ones. The last lines give the ratios replay / regex of both, for the same number of
processes. Times include interpreter start and configuration loading, as a user sees them.

    .venv/bin/python bench/bench_replay.py [--lines 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENLOG = Path("/work/shared/bench/genlog.py")
ROOT = Path(__file__).resolve().parents[1]


def _log(lines: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"warden-bench-replay-auth-{lines}.log"
    if not path.exists():
        subprocess.run([sys.executable, str(GENLOG), "-n", str(lines), "-o", str(path), "auth"],
                       check=True, stderr=subprocess.DEVNULL)
    return path


def _config(work: Path, log: Path, extra: str = "") -> Path:
    conf = work / "conf"
    subprocess.run([sys.executable, "-m", "warden", "init", "-c", str(conf)], check=True,
                   stdout=subprocess.DEVNULL)
    (conf / "jail.local").write_text(
        f"[DEFAULT]\nbackend = polling\n[sshd]\nenabled = true\nlogpath = {log}\n{extra}")
    return conf


def _time(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the command and its children), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best is shown)")
    args = parser.parse_args()
    log = _log(args.lines)
    warden = [sys.executable, "-m", "warden"]
    with tempfile.TemporaryDirectory() as tmp:
        conf = _config(Path(tmp), log)
        lean = _config(Path(tmp) / "lean", log, "trustsuccess = no\n")
        runs = {
            "warden regex": ([*warden, "regex", str(log), "sshd", "-c", str(conf)], None),
            "warden regex (1 process)": ([*warden, "regex", str(log), "sshd", "-c", str(conf)],
                                         {"WARDEN_JOBS": "1"}),
            "warden replay": ([*warden, "replay", str(log), "-c", str(conf), "--json"], None),
            "warden replay (1 process)": ([*warden, "replay", str(log), "-c", str(conf),
                                           "--json"], {"WARDEN_JOBS": "1"}),
            "warden replay, 1 filter": ([*warden, "replay", str(log), "-c", str(lean),
                                         "--json"], None),
            "warden replay, 1 filter (1 process)": ([*warden, "replay", str(log), "-c",
                                                     str(lean), "--json"], {"WARDEN_JOBS": "1"}),
        }
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        summary = ""
        found_by: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, (argv, env) in runs.items():
                seconds, used, out = _time(argv, env)
                best[name] = min(best.get(name, seconds), seconds)
                cpu[name] = min(cpu.get(name, used), used)
                if name.startswith("warden replay") and name not in found_by:
                    result = json.loads(out)
                    found = ", ".join(f"{j['jail']}: {j['failures']:,} failures, "
                                      f"{j['bans']:,} bans of {j['addresses']:,} addresses"
                                      for j in result["jails"])
                    found_by[name] = found
                    summary += f"\n    {name}: {found}"
    print(f"{args.lines:,}-line auth log ({log}), {os.cpu_count()} CPUs")
    for name, seconds in best.items():
        print(f"  {name:<36} {seconds:7.2f} s {args.lines / seconds:>9,.0f} lines/s   "
              f"CPU {cpu[name]:7.2f} s {args.lines / cpu[name]:>9,.0f} lines/CPU-s")
    print(f"  replay found:{summary}")
    for mine, seconds in best.items():
        if mine.startswith("warden replay"):
            base = "warden regex (1 process)" if mine.endswith("(1 process)") else "warden regex"
            print(f"  {mine} / {base}: {best[base] / seconds:.2f}x the speed, "
                  f"{cpu[base] / cpu[mine]:.2f}x per CPU second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
