"""A real OpenSSH server under attack, in network namespaces, defended by warden + nftables.

victim namespace: ``sshd`` (Debian openssh-server) logging through syslog(3) to an
``rsyslogd`` of the test's own (sshd runs in a private mount namespace whose ``/dev/log`` is
rsyslogd's socket; the host's ``/dev`` is untouched), rsyslogd writing the usual file, and
``warden server`` with the nftables backend over a copy of the stock fail2ban jail.conf.
attacker namespace: 192.0.2.2 and 2001:db8::2 run a real ``ssh`` client with wrong passwords
(``sshpass``); 192.0.2.3 is an innocent user with a key.

Checks: after maxretry failures new TCP connections from the attacker time out (IPv4 and
IPv6); ``warden status sshd`` lists both; the innocent address still logs in; restarting
warden while the attacker keeps probing lets no probe through; a sendmail-auth jail
(maxretry=1, findtime=1d, bantime=1w in jail.local over the stock jail.conf) bans on the first
``AUTH failure`` line with a week's ban; after bantime the attacker can connect again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns_pair
from tests.e2e.harness import Server, append, wait_for
from tests.e2e.sshd import NEEDS, probe, ssh, sshd_server, syslog_daemon

STOCK = Path("/etc/fail2ban")
pytestmark = pytest.mark.skipif(
    not can_use_netns() or any(shutil.which(t) is None for t in NEEDS)
    or not Path("/usr/sbin/sshd").exists() or not (STOCK / "jail.conf").exists(),
    reason="needs root, iproute2, nftables, openssh-server/client, sshpass, rsyslog, fail2ban")

BANTIME = 15  # seconds: long enough for the restart under probing, short enough to wait out

_PROBER = r"""
import socket, sys, time, os
src, dst, stop = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(stop):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
    s.settimeout(0.3); s.bind((src, 0))
    try:
        s.connect((dst, 22)); print("ok", flush=True)
    except TimeoutError:
        print("timeout", flush=True)
    except OSError as e:
        print(type(e).__name__, flush=True)
    finally:
        s.close()
"""


def _dropped(ns: str, src: str, dst: str) -> bool:
    return probe(ns, src, dst) == "timeout"


def _is_banned(server: Server, addr: str) -> bool:
    return addr in server.banned("sshd")


def _server(tmp_path: Path, authlog: Path, maillog: Path) -> Server:
    server = Server(tmp_path, "", action="nftables-multiport")
    conf = server.conf
    for name in ("jail.conf", "paths-common.conf", "paths-debian.conf"):
        shutil.copy(STOCK / name, conf / name)
    for sub in ("filter.d", "action.d"):
        shutil.rmtree(conf / sub)
        shutil.copytree(STOCK / sub, conf / sub)
    # drop: connections of a banned address time out (the stock nftables action rejects)
    (conf / "action.d" / "nftables.local").write_text("[Init]\nblocktype = drop\n")
    (conf / "jail.local").write_text(
        "[DEFAULT]\nbanaction = nftables-multiport\nbanaction_allports = nftables-allports\n"
        "backend = auto\n\n"
        f"[sshd]\nenabled = true\nlogpath = {authlog}\nbackend = auto\nmaxretry = 3\n"
        f"findtime = 1h\nbantime = {BANTIME}s\n\n"
        f"[sendmail-auth]\nenabled = true\nlogpath = {maillog}\nbackend = auto\n"
        "maxretry = 1\nfindtime = 1d\nbantime = 1w\n")
    return server


def test_sshd_under_attack(tmp_path: Path) -> None:
    maillog = tmp_path / "mail.log"
    maillog.touch()
    with netns_pair() as (victim, attacker), syslog_daemon(tmp_path) as (sock, authlog), \
            sshd_server(victim, tmp_path, sock) as userkey:
        wait_for("sshd to listen", lambda: "Server listening" in authlog.read_text())
        server = _server(tmp_path, authlog, maillog)
        prefix = ("ip", "netns", "exec", victim)
        try:
            server.start(prefix=prefix)
            wait_for("the innocent user to get in", lambda: "logged-in" in ssh(
                attacker, "192.0.2.3", "192.0.2.1", key=userkey).stdout, timeout=15)

            for src, dst in (("192.0.2.2", "192.0.2.1"), ("2001:db8::2", "2001:db8::1")):
                assert probe(attacker, src, dst) == "ok"  # reachable before the attack
                for _ in range(3):
                    if src in server.banned("sshd"):
                        break
                    done = ssh(attacker, src, dst)
                    assert "logged-in" not in done.stdout
                wait_for(f"{src} banned", partial(_is_banned, server, src))
                # the store is written before the firewall: poll until the kernel drops it
                wait_for(f"{src} dropped", partial(_dropped, attacker, src, dst))
            assert "Failed password for root from 192.0.2.2" in authlog.read_text()

            status = server.cli("status", "sshd")
            assert status.returncode == 0, status.stderr
            assert "192.0.2.2" in status.stdout and "2001:db8::2" in status.stdout
            assert "logged-in" in ssh(attacker, "192.0.2.3", "192.0.2.1", key=userkey).stdout
            assert probe(attacker, "2001:db8::3", "2001:db8::1") == "ok"

            # a mail jail over the stock jail.conf: one AUTH failure is enough, for a week
            stamp = time.strftime("%b %d %H:%M:%S")
            append(maillog, f"{stamp} relay1 sendmail[16664]: 06I02CNi016764: AUTH failure "
                   "(LOGIN): authentication failure (-13) SASL(-13): authentication failure: "
                   "checkpass failed, user=x, relay=[198.51.100.9]\n")
            ban = wait_for("the sendmail-auth ban",
                           lambda: server.banned("sendmail-auth").get("198.51.100.9"))
            assert ban.remaining is not None and 7 * 86400 - 60 < ban.remaining <= 7 * 86400

            # restart while the attacker keeps probing: no probe gets through
            stop = tmp_path / "stop-probing"
            prober = subprocess.Popen(("ip", "netns", "exec", attacker, sys.executable, "-c",
                                       _PROBER, "192.0.2.2", "192.0.2.1", str(stop)),
                                      stdout=subprocess.PIPE, text=True)
            try:
                assert server.stop() == 0
                server.start(prefix=prefix)
                wait_for("both bans restored", lambda: {"192.0.2.2", "2001:db8::2"} <= set(
                    server.banned("sshd")))
            finally:
                stop.touch()
                outcomes = (prober.communicate(timeout=10)[0] or "").split()
            assert outcomes and set(outcomes) == {"timeout"}, outcomes

            # after bantime the kernel lets the attacker in again (and warden unbans)
            wait_for("the attacker to connect again after bantime", lambda: probe(
                attacker, "192.0.2.2", "192.0.2.1", 0.5) == "ok", timeout=BANTIME + 15)
            wait_for("IPv6 too", lambda: probe(attacker, "2001:db8::2", "2001:db8::1", 0.5)
                     == "ok", timeout=10)
            wait_for("warden's list to drop them", lambda: not server.banned("sshd"))
        finally:
            server.close()
