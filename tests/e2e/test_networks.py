"""Banning the attacker's network: a real OpenSSH server, real nftables, ``banprefix6 = 64``.

victim namespace: ``sshd`` logging through the test's own ``rsyslogd`` (the machinery of
``test_sshd_attack.py``), ``warden server`` with the nftables backend; it has
2001:db8:0:1::1. attacker namespace: twenty addresses of 2001:db8:0:a::/64, which the attacker
rotates through with a real ``ssh`` client and wrong passwords, and 2001:db8:0:b::1, a
neighbour in another /64. Every address is on the link (a /32 on both sides).

Checks: the /64 is banned after ``maxretry`` failures although no address failed twice; then
no address of that /64 can connect (the kernel's interval set holds the network), the other
/64 still can; ``warden status`` lists the network; unbanning the network lets them all in.
Escalation (no sshd: log lines written by the test): three /32 bans of a /24 ban the /24, also
across a crash of the daemon between the second and the third; ``warden explain`` names the
members.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns
from tests.e2e.harness import Server, append, failure_line, wait_for
from tests.e2e.sshd import NEEDS, nftables_drop, probe, ssh, sshd_server, syslog_daemon

ACTIONS = Path("/etc/fail2ban/action.d")
pytestmark = pytest.mark.skipif(
    not can_use_netns() or any(shutil.which(t) is None for t in NEEDS)
    or not Path("/usr/sbin/sshd").exists() or not (ACTIONS / "nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nftables, openssh-server/client, sshpass, rsyslog, fail2ban")

VICTIM = "2001:db8:0:1::1"
ROTATING = [f"2001:db8:0:a::{n:x}" for n in range(1, 21)]
NEIGHBOUR = "2001:db8:0:b::1"


def _ip(*args: str) -> None:
    subprocess.run(("ip", *args), check=True, capture_output=True)


@contextmanager
def _pair() -> Iterator[tuple[str, str]]:
    with netns("wnv") as victim, netns("wna") as attacker:
        _ip("link", "add", "wnv0", "netns", victim, "type", "veth", "peer", "wna0",
            "netns", attacker)
        _ip("-n", victim, "addr", "add", f"{VICTIM}/32", "dev", "wnv0", "nodad")
        for addr in (*ROTATING, NEIGHBOUR):
            _ip("-n", attacker, "addr", "add", f"{addr}/32", "dev", "wna0", "nodad")
        for ns, dev in ((victim, "wnv0"), (attacker, "wna0")):
            _ip("-n", ns, "link", "set", dev, "up")
        yield victim, attacker


def _set(ns: str, name: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "set", "inet", "warden",
                           name], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _server(tmp_path: Path, authlog: Path) -> Server:
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {authlog}\n"
                    "port = ssh\nmaxretry = 3\nfindtime = 1h\nbantime = 1h\n"
                    "banprefix6 = 64\n", action="nftables-multiport")
    nftables_drop(server.conf)
    return server


def test_an_attacker_rotating_through_his_64_is_banned_as_the_64(tmp_path: Path) -> None:
    with _pair() as (victim, attacker), syslog_daemon(tmp_path) as (sock, authlog), \
            sshd_server(victim, tmp_path, sock):
        wait_for("sshd to listen", lambda: "Server listening" in authlog.read_text())
        server = _server(tmp_path, authlog)
        try:
            server.start(prefix=("ip", "netns", "exec", victim))
            assert probe(attacker, NEIGHBOUR, VICTIM, timeout=5.0) == "ok"
            attempts = 0
            for src in ROTATING:
                if "2001:db8:0:a::/64" in server.banned("sshd"):
                    break
                # (a longer wait: the victim's first neighbour solicitation for a new address
                # can go unanswered, and its retry comes a second later)
                assert probe(attacker, src, VICTIM, timeout=5.0) == "ok", \
                    f"{src} cut off too early"
                done = ssh(attacker, src, VICTIM)
                assert "logged-in" not in done.stdout
                attempts += 1
                wait_for(f"sshd to log the failure of {src}",
                         lambda s=src: f"from {s} port" in authlog.read_text())  # type: ignore[misc]
            wait_for("the /64 banned", lambda: "2001:db8:0:a::/64" in server.banned("sshd"))
            # three addresses, one failure each: the network reached maxretry
            assert attempts <= 3
            text = authlog.read_text()
            assert sum(f"Failed password for root from {a} " in text for a in ROTATING) <= 3
            wait_for("the network in the kernel's interval set",
                     lambda: "2001:db8:0:a::/64" in _set(victim, "sshd6n"))
            # no single address of the /64 was banned: the network holds them all
            assert set(server.banned("sshd")) == {"2001:db8:0:a::/64"}
            for src in ROTATING:
                assert probe(attacker, src, VICTIM) != "ok", f"{src} got through"
            assert probe(attacker, NEIGHBOUR, VICTIM, timeout=5.0) == "ok"

            status = server.cli("status", "sshd")
            assert status.returncode == 0, status.stderr
            assert "2001:db8:0:a::/64" in status.stdout

            done = server.cli("unban", "2001:db8:0:a::/64")
            assert done.returncode == 0, done.stderr
            assert "2001:db8:0:a::/64" not in _set(victim, "sshd6n")
            for src in (ROTATING[0], ROTATING[-1]):
                assert probe(attacker, src, VICTIM, timeout=5.0) == "ok"
        finally:
            server.close()


def test_three_banned_addresses_of_a_24_escalate_to_the_24(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"
                    "port = ssh\nmaxretry = 1\nbantime = 1h\nescalate = 3 in /24\n",
                    action="nftables-multiport")
    for name in ("nftables.conf", "nftables-multiport.conf"):
        shutil.copy(ACTIONS / name, server.conf / "action.d" / name)
    with netns("wne") as ns:
        try:
            server.start(prefix=("ip", "netns", "exec", ns))
            append(log, failure_line("203.0.113.1") + failure_line("203.0.113.2"))
            wait_for("two bans", lambda: len(server.banned("sshd")) == 2)
            assert "203.0.113.0/24" not in server.banned("sshd")
            # a crash between the second and the third: the group of two is not forgotten
            server.kill9()
            server.start(prefix=("ip", "netns", "exec", ns))
            append(log, failure_line("203.0.113.3"))
            wait_for("the /24", lambda: "203.0.113.0/24" in server.banned("sshd"))
            wait_for("the /24 in the kernel", lambda: "203.0.113.0/24" in _set(ns, "sshd4n"))
            wait_for("the log line", lambda: "Escalate 203.0.113.0/24: 3 of its addresses"
                     in server.log_text())
            status = server.cli("status", "sshd")
            assert "Escalated networks:\t1" in status.stdout, status.stdout
            # its end is the longest of its members'
            bans = server.banned("sshd")
            net, last = bans["203.0.113.0/24"], bans["203.0.113.3"]
            assert net.remaining is not None and last.remaining is not None
            assert abs(net.remaining - last.remaining) < 5
            # explain names the network and its members, for an address inside and for
            # the network (after a restart too: tests/daemon/test_runtime_restart.py)
            members = "203.0.113.1, 203.0.113.2, 203.0.113.3"
            inside = server.cli("explain", "203.0.113.200")
            assert inside.returncode == 0, inside.stderr
            assert "inside the banned network 203.0.113.0/24, escalated:" in inside.stdout
            assert "3 of its addresses banned within findtime " in inside.stdout
            assert f": {members}\n" in inside.stdout
            whole = server.cli("explain", "203.0.113.0/24", "--json")
            assert whole.returncode == 0, whole.stderr
            (jail,) = json.loads(whole.stdout)["jails"]
            assert jail["banned"] and jail["members"] == members.split(", ")
        finally:
            server.close()
