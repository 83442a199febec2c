"""What counting and banning by network (issue 14) costs per failure, beside fail2ban's way.

    .venv/bin/python bench/bench_networks.py [--failures 200000]

Feeds ``Jail.add_failure`` the same failures (one line each, ``maxmatches = 0``) in jails that
differ only in warden's own options: ``plain`` is what fail2ban does (per address), the others
set ``banprefix6 = 64``, add ``escalate = 3 in /24, 3 in /48``, or ``trustsuccess = 1d`` with a
filter that has success lines (none seen, so the threshold does not change). fail2ban itself
has no such options, so the plain jail is the comparison; its cost per failure is what
``bench_tracker.py`` compares with fail2ban. Three address sets: distinct IPv4 addresses,
distinct IPv6 addresses each in its own /64, and an attacker rotating 20 addresses through
each /64 (10,000 /64s, bans included).
"""

from __future__ import annotations

import argparse
import time
from types import MappingProxyType

from warden.core.escalate import parse_escalate
from warden.core.filter import Failure
from warden.core.filterdef import FilterDefinition
from warden.core.jail import Jail
from warden.core.spec import JailSpec

_NO_FIELDS: MappingProxyType[str, object] = MappingProxyType({})
OPTIONS: dict[str, dict[str, object]] = {
    "plain (fail2ban)": {},
    "banprefix6=64": {"banprefix6": 64},
    "banprefix6=64 + escalate": {"banprefix6": 64,
                                 "escalate": parse_escalate("3 in /24, 3 in /48")},
    "trustsuccess=1d": {"trustsuccess": 86400.0, "filters": (FilterDefinition(
        "sshd", failregex=(r"^Failed password from <HOST>",),
        successregex=(r"^Accepted password from <HOST>",)),)},
}


def run(addrs: list[str], options: dict[str, object]) -> tuple[float, int]:
    """Microseconds per failure and the bans at the end."""
    jail = Jail(JailSpec("bench", maxretry=5, findtime=600, bantime=600, maxmatches=0,
                         **options))  # type: ignore[arg-type]
    failures = [Failure(a, 1000.0, _NO_FIELDS, (), 0) for a in addrs]
    started = time.perf_counter()
    for failure in failures:
        jail.add_failure(failure, 1000.0)
    return (time.perf_counter() - started) / len(failures) * 1e6, len(jail.bans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--failures", type=int, default=200_000)
    n = parser.parse_args().failures
    sets = {
        "IPv4, distinct": [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(n)],
        "IPv6, one per /64": [f"2001:db8:{i >> 16:x}:{i & 0xffff:x}::{(i * 7) & 0xff:x}"
                              for i in range(n)],
        "IPv6, 20 per /64": [f"2001:db8:0:{(i // 20) & 0xffff:x}::{i % 20 + 1:x}"
                             for i in range(n)],
    }
    for name, addrs in sets.items():
        for label, options in OPTIONS.items():
            micros, bans = run(addrs, options)
            print(f"{name:18s} {label:26s} {micros:6.2f} us/failure  {bans:6d} bans")


if __name__ == "__main__":
    main()
