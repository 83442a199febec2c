"""What ``trustsuccess`` costs a jail reading an sshd log (issue 14).

    python3 ../shared/bench/genlog.py auth -n 200000 -o /tmp/auth-200k.log
    .venv/bin/python bench/bench_trust.py /tmp/auth-200k.log [--rounds 3]

Feeds the log in blocks of 2,000 lines (as the daemon's reader hands them out) to warden's own
sshd filter in a jail without and with ``trustsuccess = 1d`` (which also runs the filter's
``successregex``), alternating, and prints the best round of each, in CPU seconds of this
process (``time.process_time``: on a machine shared with other work, wall time mostly measures
the others). The cycle collector rests
while the jail reads, as in the daemon (it pauses it while jails take a batch). fail2ban has
no such option; the jail without it is the comparison.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from warden.config import load_filter
from warden.core.jail import Jail
from warden.core.spec import JailSpec

DATA = Path(__file__).resolve().parents[1] / "src" / "warden" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    definition = load_filter(DATA, "sshd", backend="auto")
    lines = Path(args.log).read_text(encoding="utf-8").splitlines(keepends=True)
    best = {"without trustsuccess": 1e9, "trustsuccess = 1d": 1e9}
    found: dict[str, tuple[int, int]] = {}
    for _ in range(args.rounds):
        for label, trust in (("without trustsuccess", None), ("trustsuccess = 1d", 86400.0)):
            # findtime reaches back to the log's dates, so every failure is counted
            jail = Jail(JailSpec("sshd", filters=(definition,), maxretry=5, findtime=3e8,
                                 bantime=600, trustsuccess=trust))
            gc.disable()
            started = time.process_time()
            for i in range(0, len(lines), 2000):
                jail.feed_lines(lines[i:i + 2000], 1.9e9)
            best[label] = min(best[label], time.process_time() - started)
            gc.enable()
            found[label] = (jail.total_failed, len(jail.trust) if jail.trust else 0)
    for label, seconds in best.items():
        failed, trusted = found[label]
        print(f"{label:22s} {seconds:6.2f} s CPU  {len(lines) / seconds:9,.0f} lines/s  "
              f"{failed} failures, {trusted} trusted")


if __name__ == "__main__":
    main()
