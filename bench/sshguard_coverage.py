#!/usr/bin/env python3
"""Does warden's own filter find every failure that SSHGuard finds and fail2ban's filter counts?

    bench/sshguard_coverage.py --log FILE --stock NAME --own NAME [--parser PATH] [--samples 3]

SSHGuard's ``sshg-parser`` (Debian package ``sshguard``) reads log lines on stdin and prints one
line per attack it recognises, without saying which input line it came from. Its parser looks
at one line at a time, so the script groups the log's lines by *shape* (the date dropped,
addresses, ids and numbers replaced by placeholders), feeds a few lines of each shape to the parser
one at a time, and takes a shape as an SSHGuard attack when all its samples are.

``warden regex --json`` runs over the whole log twice, with fail2ban's stock filter
(``-c /etc/fail2ban``; warden gives fail2ban-regex's results there) and with warden's own
(``-c src/warden/data``), so sessions and dates see every line in order. A line *missed* is
one of an SSHGuard attack shape that the stock filter counts as a failure and the own filter
does not. Prints per shape the lines, SSHGuard's verdict and the stock / own counts, and
exits 1 if any line is missed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_PARSER = "/usr/libexec/sshguard/sshg-parser"
_SYSLOG_DATE = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
_BRACKET_DATE = re.compile(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]")
_ADDRESS = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}")
_TOKEN = re.compile(r"\b(?=\w*\d)(?=\w*[A-Za-z])\w{6,}\b")  # queue ids, session ids
_NUMBER = re.compile(r"\d+")


def shape(line: str) -> str:
    """The line with its date dropped and addresses and numbers replaced."""
    line = _BRACKET_DATE.sub("[DATE]", _SYSLOG_DATE.sub("", line))
    return _NUMBER.sub("N", _TOKEN.sub("ID", _ADDRESS.sub("ADDR", line)))[:160]


def _sshguard_attacks(parser: str, lines: list[str]) -> list[bool]:
    out = []
    for line in lines:
        done = subprocess.run([parser], input=line + "\n", capture_output=True, text=True,
                              check=False)
        out.append(bool(done.stdout.strip()))
    return out


def _counted(config_dir: str, log: str, name: str) -> set[int]:
    cmd = [sys.executable, "-m", "warden", "regex", "--json", "-c", config_dir, log, name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=_ROOT)
    found = set()
    for row in done.stdout.splitlines():
        if row.startswith("{"):
            item = json.loads(row)
            if item.get("failures"):
                found.add(int(item["line"]))
    return found


def main() -> None:
    """Compare; print the table; exit 1 if the own filter misses a line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True)
    p.add_argument("--stock", required=True, help="fail2ban filter name (/etc/fail2ban)")
    p.add_argument("--own", required=True, help="warden filter name (src/warden/data)")
    p.add_argument("--parser", default=_PARSER)
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--rows", type=int, default=20, help="shapes listed (and all with misses)")
    args = p.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as stream:
        lines = stream.read().splitlines()
    by_shape: dict[str, list[int]] = defaultdict(list)
    for number, line in enumerate(lines, 1):
        by_shape[shape(line)].append(number)
    attack = {}
    for key, numbers in by_shape.items():
        picked = numbers[:: max(1, len(numbers) // args.samples)][: args.samples]
        attack[key] = all(_sshguard_attacks(args.parser, [lines[n - 1] for n in picked]))
    stock = _counted("/etc/fail2ban", args.log, args.stock)
    own = _counted(str(_ROOT / "src/warden/data"), args.log, args.own)
    missed_total = both = own_of_sshg = 0
    rows = 0
    print(f"{args.log}: {len(lines):,} lines, {len(by_shape)} shapes; stock {args.stock} counts "
          f"{len(stock):,} lines, own {args.own} {len(own):,}")
    print("| lines | SSHGuard | stock | own | missed | shape |\n|---|---|---|---|---|---|")
    for key, numbers in sorted(by_shape.items(), key=lambda kv: -len(kv[1])):
        in_stock = sum(1 for n in numbers if n in stock)
        in_own = sum(1 for n in numbers if n in own)
        missed = sum(1 for n in numbers if n in stock and n not in own) if attack[key] else 0
        missed_total += missed
        if attack[key]:
            both += sum(1 for n in numbers if n in stock)
            own_of_sshg += in_own
        if missed or (rows < args.rows and (attack[key] or in_stock or in_own)):
            rows += 1
            print(f"| {len(numbers):,} | {'attack' if attack[key] else '-'} | {in_stock:,} | "
                  f"{in_own:,} | {missed:,} | `{key[:90]}` |")
    sshg_lines = sum(len(n) for k, n in by_shape.items() if attack[k])
    print(f"SSHGuard attack lines: {sshg_lines:,}; counted by the stock filter: {both:,}; "
          f"by the own filter: {own_of_sshg:,}; counted by stock, missed by own: "
          f"{missed_total:,}")
    sys.exit(1 if missed_total else 0)


if __name__ == "__main__":
    main()
