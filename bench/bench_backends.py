"""10,000 bans reaching the kernel: warden's nftables backend vs fail2ban's nftables action.

Run as root (it creates a network namespace and removes it)::

    python3 bench/bench_backends.py [--bans 10000] [--fail2ban-bans 10000]

warden: one ``NftablesBackend.commit`` for all bans (one ``nft -f -`` transaction).
fail2ban 1.0.2: its nftables action runs ``actionban`` once per ban; the loop runs inside the
namespace under /usr/bin/python3 and calls fail2ban's own ``CommandAction.executeCmd`` (a
shell and an ``nft`` process per ban, exactly what fail2ban-server does); the table, set and
chain are created first with the action's ``actionstart`` commands. Both end with every
address in a kernel set, which is checked.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from warden.backends.base import BanEntry, JailRule, UnbanEntry
from warden.backends.nftables import NftablesBackend
from warden.backends.runner import SubprocessRunner


def _addresses(count: int, base: str) -> list[str]:
    first = int(ipaddress.IPv4Address(base))
    return [str(ipaddress.IPv4Address(first + i)) for i in range(count)]


def _count(ns: str, table: str, name: str) -> int:
    out = subprocess.run(("ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet", table,
                          name), capture_output=True, text=True, check=True).stdout
    for item in json.loads(out)["nftables"]:
        if "set" in item:
            return len(item["set"].get("elem", []))
    return 0


def bench_warden(ns: str, count: int) -> dict[str, float]:
    backend = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns)))
    backend.start([JailRule("sshd", ("ssh",))])
    now = time.time()
    entries = [BanEntry("sshd", a, now + 3600) for a in _addresses(count, "10.0.0.1")]
    started = time.perf_counter()
    backend.ban(entries)
    backend.commit(now)
    ban = time.perf_counter() - started
    assert _count(ns, "warden", "sshd4") == count
    started = time.perf_counter()
    restarted = NftablesBackend(runner=SubprocessRunner(("ip", "netns", "exec", ns)))
    restarted.start([JailRule("sshd", ("ssh",))])
    restarted.reconcile(entries, now)
    reconcile = time.perf_counter() - started
    started = time.perf_counter()
    restarted.unban(UnbanEntry("sshd", e.address) for e in entries)
    restarted.commit(now)
    unban = time.perf_counter() - started
    assert _count(ns, "warden", "sshd4") == 0
    return {"ban": ban, "restart+reconcile": reconcile, "unban": unban}


def bench_fail2ban(ns: str, count: int) -> float:
    # fail2ban's nftables action (action.d/nftables.conf), tags substituted for jail sshd
    start = [
        "nft add table inet f2b-table",
        "nft -- add chain inet f2b-table f2b-chain \\{ type filter hook input priority -1 \\; \\}",
        "nft add set inet f2b-table addr-set-sshd \\{ type ipv4_addr\\; \\}",
        "for proto in $(echo 'tcp' | sed 's/,/ /g'); do nft add rule inet f2b-table f2b-chain "
        "$proto dport \\{ $(echo 'ssh' | sed s/:/-/g) \\} ip saddr @addr-set-sshd reject; done",
    ]
    for cmd in start:
        subprocess.run(("ip", "netns", "exec", ns, "sh", "-c", cmd), check=True)
    done = subprocess.run(
        ("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", _FAIL2BAN_LOOP, str(count)),
        capture_output=True, text=True, check=True)
    assert _count(ns, "f2b-table", "addr-set-sshd") == count
    return float(done.stdout.strip())


# fail2ban's own command execution, one actionban (tags substituted) per ban
_FAIL2BAN_LOOP = r"""
import ipaddress, sys, time
from fail2ban.server.action import CommandAction
count = int(sys.argv[1])
first = int(ipaddress.IPv4Address("10.64.0.1"))
started = time.perf_counter()
for i in range(count):
    ip = ipaddress.IPv4Address(first + i)
    ok = CommandAction.executeCmd(
        "nft add element inet f2b-table addr-set-sshd \{ %s \}" % ip, 60)
    assert ok, ip
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bans", type=int, default=10_000)
    parser.add_argument("--fail2ban-bans", type=int, default=10_000)
    args = parser.parse_args()
    ns = f"wbench-{secrets.token_hex(3)}"
    subprocess.run(("ip", "netns", "add", ns), check=True)
    try:
        warden = bench_warden(ns, args.bans)
        print(f"warden nftables: {args.bans} bans in one transaction: {warden['ban']:.3f} s; "
              f"restart+reconcile: {warden['restart+reconcile']:.3f} s; "
              f"{args.bans} unbans: {warden['unban']:.3f} s")
        f2b = bench_fail2ban(ns, args.fail2ban_bans)
        per = f2b / args.fail2ban_bans
        print(f"fail2ban nftables action: {args.fail2ban_bans} bans, one sh+nft each: {f2b:.2f} s "
              f"({per * 1000:.2f} ms per ban; {per * args.bans:.1f} s for {args.bans})")
        print(f"speed-up: {per * args.bans / warden['ban']:.0f}x")
    finally:
        subprocess.run(("ip", "netns", "del", ns), check=False)


if __name__ == "__main__":
    main()
