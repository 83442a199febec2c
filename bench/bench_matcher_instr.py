#!/usr/bin/env python3
"""Instructions per log line of warden's matching loop, counted by valgrind (callgrind).

    bench/bench_matcher_instr.py --log FILE --filter NAME [-c DIR] [--lines N]
                                 [--driver tally|scan|dates] [--tree SRC ...] [--by-kind]

On a shared machine wall-clock timings of two builds differ by more than the change being
measured (runs of the same build spread by 20 % here); the number of instructions executed does
not depend on the load. For each source tree (a directory holding the ``warden`` package, as
``src`` or an unpacked ``git archive HEAD src``; default: this checkout's ``src``) the script
runs the loop under callgrind twice, over the first N lines of FILE and over one line, and
prints the difference divided by N - 1: start-up, imports and compiling the filter cancel out.

``--driver tally`` is what ``warden regex`` does for its summary (``core.batch.tally``, with a
counting filter where the tree has one); ``--driver scan`` is what the daemon does
(``core.batch.Scanner`` over blocks of 2,048 lines); ``--driver dates`` only finds the
lines' dates, as both do first (``Filter.dates_of`` over blocks of 2,048 lines). Needs
valgrind; takes about 30 s for 30,000 lines per tree (minutes on a loaded machine).
``--by-kind`` runs it twice more and splits the instructions per line by the kind of C
function that executed them (the regex engine, substring tests, dictionaries, memory, the
interpreter's bytecode and calls...): the account of where a line's cost goes that no
sampling profiler gives on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
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
    if args.driver == "dates":
        flt = Filter(definition, dates=dates)
        found = sum(1 for i in range(0, len(lines), 2048)
                    for d in flt.dates_of(lines[i:i + 2048], now) if d is not None)
        print(f"dated lines: {found}")
        return
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


def _instructions(tree: str, args: argparse.Namespace, lines: int,
                  out_file: str = "/dev/null") -> tuple[int, str]:
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable,
           __file__, "--child", "--log", args.log, "--filter", args.filter, "-c",
           args.config_dir, "--lines", str(lines), "--driver", args.driver]
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    refs = re.search(r"refs:\s+([\d,]+)", done.stderr)
    if refs is None:
        raise SystemExit(f"no instruction count from valgrind: {done.stderr[-300:]}")
    return int(refs.group(1).replace(",", "")), done.stdout.strip()


# C functions of the interpreter, grouped into what they do for a log line.
_KINDS = (
    ("regex engine (_sre)", ("_sre/", "sre_")),
    ("substring tests (in)", ("fastsearch", "PyUnicode_Contains", "stringlib")),
    ("dicts", ("dictobject.c", "pyhash.c")),
    ("memory", ("obmalloc.c", "memmove", "memcpy", "memset", "gcmodule.c")),
    ("strings", ("unicodeobject.c",)),
    ("tuples, lists", ("tupleobject.c", "listobject.c")),
    ("interpreter (bytecode, calls)", ("ceval.c", "call.c", "frameobject.c", "object.c",
                                       "typeobject.c", "methodobject.c", "descrobject.c",
                                       "abstract.c", "longobject.c", "floatobject.c",
                                       "boolobject.c", "pystate.c")),
)


def _by_function(out_file: str) -> dict[str, int]:
    done = subprocess.run(["callgrind_annotate", "--threshold=100", out_file],
                          capture_output=True, text=True, check=True)
    found: dict[str, int] = {}
    for line in done.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*?)(?: \[.*)?$", line)
        if m and "PROGRAM TOTALS" not in line:
            found[m.group(2)] = found.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return found


def _account(tree: str, args: argparse.Namespace) -> None:
    """Instructions per line by kind of C function: the difference of a run over N lines
    and one over N/4 lines, divided by the lines between (start-up cancels out)."""
    few = max(2, args.lines // 4)
    with tempfile.TemporaryDirectory() as tmp:
        counts = []
        for n in (few, args.lines):
            _instructions(tree, args, n, f"{tmp}/cg.{n}")
            counts.append(_by_function(f"{tmp}/cg.{n}"))
    span = args.lines - few
    kinds: dict[str, float] = {}
    for name in set(counts[0]) | set(counts[1]):
        per_line = (counts[1].get(name, 0) - counts[0].get(name, 0)) / span
        kind = next((k for k, keys in _KINDS if any(key in name for key in keys)), "other")
        kinds[kind] = kinds.get(kind, 0.0) + per_line
    total = sum(kinds.values())
    print(f"{tree}: {total:,.0f} instructions/line ({args.driver}, {args.filter}, lines "
          f"{few:,}..{args.lines:,}), by kind of C function:")
    for kind, value in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:32} {value:9,.0f}  {100 * value / total:5.1f} %")


def main() -> None:
    """Parse the arguments; run each tree under callgrind and print its count per line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--filter", required=True, help="filter name or file")
    p.add_argument("-c", "--config-dir", default="/etc/fail2ban")
    p.add_argument("--lines", type=int, default=30000)
    p.add_argument("--driver", choices=("tally", "scan", "dates"), default="tally")
    p.add_argument("--tree", action="append", help="source tree(s) to compare")
    p.add_argument("--by-kind", action="store_true",
                   help="also split the instructions by kind of C function (regex engine, "
                        "dicts, memory, interpreter...)")
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
        if args.by_kind:
            _account(tree, args)


if __name__ == "__main__":
    main()
