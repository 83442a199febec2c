"""No lockout of a user who belongs: a real OpenSSH server, warden's own sshd filter with its
``successregex``, ``trustsuccess = 1d``, real nftables (issue 14).

The namespaces and sshd are those of ``test_sshd_attack.py`` (victim 192.0.2.1; 192.0.2.3 is
the user's address, a NAT address he shares; 192.0.2.2 is a stranger).

Checks: the user logs in with his key, the daemon is restarted, then he mistypes his password
three times (maxretry): he is not banned and still gets in. The stranger is banned after three
failures. Someone behind the user's shared NAT address who keeps guessing is banned too, once
the trusted threshold (3 x maxretry failures) is reached, and then cannot connect.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.backends.netns import can_use_netns, netns_pair
from tests.e2e.harness import Server, wait_for
from tests.e2e.sshd import NEEDS, nftables_drop, probe, ssh, sshd_server, syslog_daemon

ACTIONS = Path("/etc/fail2ban/action.d")
OWN = Path(__file__).resolve().parents[2] / "src" / "warden" / "data" / "filter.d"
pytestmark = pytest.mark.skipif(
    not can_use_netns() or any(shutil.which(t) is None for t in NEEDS)
    or not Path("/usr/sbin/sshd").exists() or not (ACTIONS / "nftables-multiport.conf").exists(),
    reason="needs root, iproute2, nftables, openssh-server/client, sshpass, rsyslog, fail2ban")

USER, STRANGER, HOST = "192.0.2.3", "192.0.2.2", "192.0.2.1"


def _server(tmp_path: Path, authlog: Path) -> Server:
    server = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {authlog}\n"
                    "port = ssh\nmaxretry = 3\nfindtime = 1h\nbantime = 1h\n"
                    "trustsuccess = 1d\n", action="nftables-multiport")
    for name in ("sshd.conf", "common.conf"):  # warden's own: it has the success lines
        shutil.copy(OWN / name, server.conf / "filter.d" / name)
    nftables_drop(server.conf)
    return server


def _failed(authlog: Path, addr: str) -> int:
    return authlog.read_text().count(f"Failed password for root from {addr} ")


def test_a_user_who_logged_in_is_not_locked_out_by_typos(tmp_path: Path) -> None:
    with netns_pair() as (victim, attacker), syslog_daemon(tmp_path) as (sock, authlog), \
            sshd_server(victim, tmp_path, sock) as userkey:
        wait_for("sshd to listen", lambda: "Server listening" in authlog.read_text())
        server = _server(tmp_path, authlog)
        try:
            server.start(prefix=("ip", "netns", "exec", victim))
            wait_for("the user to log in with his key", lambda: "logged-in" in ssh(
                attacker, USER, HOST, key=userkey).stdout, timeout=15)
            wait_for("sshd to log it", lambda: f"Accepted publickey for root from {USER}"
                     in authlog.read_text())
            wait_for("the login to be trusted", lambda: server.status("sshd").trusted == 1)
            # systemctl restart warden: the user stays trusted (the store keeps his login)
            assert server.stop() == 0
            server.start(prefix=("ip", "netns", "exec", victim))
            assert server.status("sshd").trusted == 1

            # later he mistypes his password maxretry times: not banned
            for n in range(1, 4):
                assert "logged-in" not in ssh(attacker, USER, HOST).stdout
                wait_for("the failure logged", lambda n=n: _failed(authlog, USER) >= n)  # type: ignore[misc]
            wait_for("the failures counted", lambda: server.status("sshd").total_failed >= 3)
            assert USER not in server.banned("sshd")
            assert "logged-in" in ssh(attacker, USER, HOST, key=userkey).stdout

            # a stranger is banned after maxretry failures, as ever
            for _ in range(3):
                ssh(attacker, STRANGER, HOST)
            wait_for("the stranger banned", lambda: STRANGER in server.banned("sshd"))

            # someone behind the user's NAT address keeps guessing: banned at 3 x maxretry
            while USER not in server.banned("sshd"):
                assert _failed(authlog, USER) < 9, "not banned at the trusted threshold"
                ssh(attacker, USER, HOST)
                wait_for("the failure logged or the ban", lambda: USER in server.banned("sshd")
                         or server.status("sshd").total_failed >= 3 + _failed(authlog, USER))
            assert _failed(authlog, USER) == 9
            wait_for("the NAT address dropped", lambda: probe(attacker, USER, HOST) != "ok")
            assert "[sshd] Ban 192.0.2.3" in server.log_text()
        finally:
            server.close()
