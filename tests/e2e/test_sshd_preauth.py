"""Pre-authentication attacks on a real OpenSSH server, counted by warden's own sshd filter in
its default mode (issue 15), real nftables.

The namespaces, rsyslogd and sshd are those of ``test_sshd_attack.py`` (victim 192.0.2.1 and
2001:db8::1). 192.0.2.2 sends HTTP to the SSH port (a protocol scanner); 2001:db8::2 offers only
a cipher the server does not have (an old scanner library); 192.0.2.3 is a monitoring host whose
TCP health check connects and closes without a word.

Checks: both scanners are banned after maxretry attempts without ever trying a password, from
the lines sshd itself writes (``banner exchange: ... invalid format``, ``Unable to negotiate
... no matching cipher``); the health checks, as many, are not counted and the monitoring host
keeps its access.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns_pair
from tests.e2e.harness import Server, wait_for
from tests.e2e.sshd import NEEDS, nftables_drop, probe, sshd_server, syslog_daemon

ACTIONS = Path("/etc/fail2ban/action.d")
OWN = Path(__file__).resolve().parents[2] / "src" / "warden" / "data" / "filter.d"
pytestmark = pytest.mark.skipif(
    not can_use_netns() or any(shutil.which(t) is None for t in NEEDS)
    or not Path("/usr/sbin/sshd").exists() or not (ACTIONS / "nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nftables, openssh-server/client, rsyslog, fail2ban actions")

HOST4, HOST6 = "192.0.2.1", "2001:db8::1"
SCANNER, OLDCLIENT, MONITOR = "192.0.2.2", "2001:db8::2", "192.0.2.3"
MAXRETRY = 3

# one TCP connection from src to dst:22 that sends `payload` (maybe nothing) and reads the answer
_TALK = r"""
import socket, sys
src, dst, payload = sys.argv[1], sys.argv[2], sys.argv[3].encode()
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
s.settimeout(5)
s.bind((src, 0))
s.connect((dst, 22))
if payload:
    s.recv(256)  # the server's banner first, as a scanner would read it
    s.sendall(payload)
    try:
        while s.recv(256):
            pass
    except OSError:
        pass
s.close()
"""


def _talk(ns: str, src: str, dst: str, payload: str) -> None:
    subprocess.run(("ip", "netns", "exec", ns, sys.executable, "-c", _TALK, src, dst, payload),
                   check=True, capture_output=True, timeout=30)


def _old_client(ns: str, src: str, dst: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ("ip", "netns", "exec", ns, "ssh", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", f"BindAddress={src}",
         "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", "-o", "Ciphers=3des-cbc",
         f"root@{dst}", "true"),
        capture_output=True, text=True, timeout=30, check=False)


def _server(tmp_path: Path, authlog: Path) -> Server:
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {authlog}\n"
                    f"port = ssh\nmaxretry = {MAXRETRY}\nfindtime = 1h\nbantime = 1h\n",
                    action="nftables-multiport")
    for name in ("sshd.conf", "common.conf"):  # warden's own filter, default mode
        shutil.copy(OWN / name, server.conf / "filter.d" / name)
    nftables_drop(server.conf)
    return server


def test_preauth_scanners_are_banned_and_health_checks_are_not(tmp_path: Path) -> None:
    with netns_pair() as (victim, attacker), syslog_daemon(tmp_path) as (sock, authlog), \
            sshd_server(victim, tmp_path, sock):
        wait_for("sshd to listen", lambda: "Server listening" in authlog.read_text())
        server = _server(tmp_path, authlog)
        try:
            server.start(prefix=("ip", "netns", "exec", victim))

            # the monitoring host's health checks: as many as maxretry and more
            for _ in range(MAXRETRY + 1):
                _talk(attacker, MONITOR, HOST4, "")
            wait_for("sshd to log the health checks", lambda: authlog.read_text().count(
                f"{MONITOR} port") >= MAXRETRY + 1)

            # a protocol scanner speaking HTTP to the SSH port
            for _ in range(MAXRETRY):
                _talk(attacker, SCANNER, HOST4, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_for(f"{SCANNER} banned", lambda: SCANNER in server.banned("sshd"))
            assert f"banner exchange: Connection from {SCANNER} port" in authlog.read_text()
            wait_for(f"{SCANNER} dropped", lambda: probe(attacker, SCANNER, HOST4) == "timeout")

            # a client that shares no cipher with the server, over IPv6
            for _ in range(MAXRETRY):
                done = _old_client(attacker, OLDCLIENT, HOST6)
                assert done.returncode != 0
                if OLDCLIENT in server.banned("sshd"):
                    break
            wait_for(f"{OLDCLIENT} banned", lambda: OLDCLIENT in server.banned("sshd"))
            assert f"Unable to negotiate with {OLDCLIENT} port" in authlog.read_text()
            wait_for(f"{OLDCLIENT} dropped",
                     lambda: probe(attacker, OLDCLIENT, HOST6) == "timeout")

            # the monitoring host was never counted and still gets through
            assert MONITOR not in server.banned("sshd")
            assert probe(attacker, MONITOR, HOST4) == "ok"
            assert server.status("sshd").total_failed == 2 * MAXRETRY
        finally:
            server.close()
