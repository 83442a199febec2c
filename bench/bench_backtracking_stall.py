"""What one log line does to the daemon when a failregex backtracks exponentially.

    .venv/bin/python bench/bench_backtracking_stall.py [--chars 25]

First the regex alone (``re.search`` of ``^user (\\w+)+ from <HOST>$`` on ``user aaa…a! from
ADDR``, each extra character doubles the time), then a real ``warden server -f`` whose filter
keeps that regex with ``backtracking = allow``: the control socket's ``ping`` is timed before
and while the daemon matches one such line. Without the opt-in the daemon refuses the jail at
load (``warden check`` exits 2), so no line can reach the regex.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import Server, append

from warden.core.failregex import compile_regex
from warden.protocol import PingRequest

REGEX = r"^user (\w+)+ from <HOST>$"


def main() -> None:
    """Print the timings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=25)
    args = parser.parse_args()
    pattern = compile_regex(REGEX).pattern
    for n in range(args.chars - 5, args.chars + 1):
        line = "user " + "a" * n + "! from 192.0.2.1"
        started = time.perf_counter()
        pattern.search(line)
        print(f"re.search, {n} characters: {time.perf_counter() - started:.2f} s")
    root = Path(tempfile.mkdtemp(prefix="warden-stall-"))
    log = root / "slow.log"
    log.touch()
    server = Server(root, f"[slow]\nenabled = true\nfilter = slow\nlogpath = {log}\n")
    (server.conf / "filter.d" / "slow.conf").write_text(
        f"[Definition]\nbacktracking = allow\nfailregex = {REGEX}\ndatepattern = {{NONE}}\n")
    server.start()
    try:
        started = time.perf_counter()
        server.call(PingRequest())
        idle = time.perf_counter() - started
        append(log, "user " + "a" * args.chars + "! from 192.0.2.1\n")
        time.sleep(0.05)  # the daemon reads the line and starts matching it
        started = time.perf_counter()
        server.call(PingRequest())
        busy = time.perf_counter() - started
        print(f"daemon (backtracking = allow): ping {idle * 1000:.1f} ms idle, {busy:.2f} s "
              f"while one {args.chars}-character line is matched")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
