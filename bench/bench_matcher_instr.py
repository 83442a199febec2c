#!/usr/bin/env python3
"""Instructions per log line of warden's matching loop, counted by valgrind (callgrind).

    bench/bench_matcher_instr.py --log FILE --filter NAME [-c DIR] [--lines N]
                                 [--driver tally|scan] [--tree SRC ...]

On a shared machine wall-clock timings of two builds differ by more than the change being
measured (runs of the same build spread by 20 % here); the number of instructions executed does
not depend on the load. For each source tree (a directory holding the ``warden`` package, as
``src`` or an unpacked ``git archive HEAD src``; default: this checkout's ``src``) the script
runs the loop under callgrind twice, over the first N lines of FILE and over one line, and
prints the difference divided by N - 1: start-up, imports and compiling the filter cancel out.

``--driver tally`` is what ``warden regex`` does for its summary (``core.batch.tally``, with a
counting filter where the tree has one); ``--driver scan`` is what the daemon does
(``core.batch.Scanner`` over blocks of 2,048 lines). Needs valgrind; takes about 30 s for
30,000 lines per tree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

# In the child these come from the tree being measured (PYTHONPATH, set by the parent).
from warden.cli.regex import resolve_filter
from warden.core.batch import Scanner, Tally, tally
from warden.core.datedetect import DateDetector
from warden.core.filter import Filter

_ROOT = Path(__file__).resolve().parent.parent
_NOW_AFTER_LOG = 7 * 86400  # genlog logs start 2026-01-01: "now" is a week later


def _child(args: argparse.Namespace) -> None:
    with open(args.log, encoding="utf-8", errors="replace") as stream:
        lines = [line.rstrip("\n") for _, line in zip(range(args.lines), stream, strict=False)]
    definition = resolve_filter(args.filter, Path(args.config_dir))
    now = 1767225600.0 + _NOW_AFTER_LOG
    dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone, now=now)
    if args.driver == "scan":
        scanner = Scanner(Filter(definition, dates=dates))
        found = sum(len(scanner.scan(lines[i:i + 2048], now))
                    for i in range(0, len(lines), 2048))
        print(f"failures: {found}")
        return
    try:
        flt = Filter(definition, dates=dates, details=False)
    except TypeError:  # a tree from before counting filters
        flt = Filter(definition, dates=dates)
    stats = Tally(len(flt.failregexes), len(flt.ignoreregexes))
    tally(flt, lines, now, stats)
    print(f"lines, ignored, matched, missed: {stats.counts()}")


def _instructions(tree: str, args: argparse.Namespace, lines: int) -> tuple[int, str]:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           __file__, "--child", "--log", args.log, "--filter", args.filter, "-c",
           args.config_dir, "--lines", str(lines), "--driver", args.driver]
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    refs = re.search(r"refs:\s+([\d,]+)", done.stderr)
    if refs is None:
        raise SystemExit(f"no instruction count from valgrind: {done.stderr[-300:]}")
    return int(refs.group(1).replace(",", "")), done.stdout.strip()


def main() -> None:
    """Parse the arguments; run each tree under callgrind and print its count per line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--filter", required=True, help="filter name or file")
    p.add_argument("-c", "--config-dir", default="/etc/fail2ban")
    p.add_argument("--lines", type=int, default=30000)
    p.add_argument("--driver", choices=("tally", "scan"), default="tally")
    p.add_argument("--tree", action="append", help="source tree(s) to compare")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    for tree in args.tree or [str(_ROOT / "src")]:
        many, result = _instructions(tree, args, args.lines)
        one, _ = _instructions(tree, args, 1)
        per_line = (many - one) / (args.lines - 1)
        print(f"{tree}: {per_line:,.0f} instructions/line ({args.driver}, {args.filter}, "
              f"{args.lines:,} lines; {result})")


if __name__ == "__main__":
    main()
