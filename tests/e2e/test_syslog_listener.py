"""``backend = syslog[listen=...]``: a real rsyslogd (the test's own, on a private socket, with
its own configuration and pid file) forwards what programs log to warden's listener, and
warden bans from those lines. The daemon runs as users start it, with the dry-run action."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import Server, wait_for
from tests.e2e.sshd import rsyslogd

pytestmark = pytest.mark.skipif(
    shutil.which("rsyslogd") is None or shutil.which("logger") is None
    or not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
    reason="needs rsyslog, util-linux logger and fail2ban's sshd filter")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _log_failures(sock: Path, addr: str, count: int, pid: int) -> None:
    for _ in range(count):
        subprocess.run(("logger", "--socket", str(sock), "--socket-errors=on", "-t", "sshd",
                        f"--id={pid}", "-p", "auth.info",
                        f"Failed password for root from {addr} port 2222 ssh2"),
                       check=True, timeout=10)


def _jail(listen: str, name: str = "sshd") -> str:
    return f'[{name}]\nenabled = true\nfilter = sshd\nbackend = syslog[listen="{listen}"]\n'


def test_rsyslog_forwards_over_udp_and_warden_bans(tmp_path: Path,
                                                   servers: list[Server]) -> None:
    port = _free_udp_port()
    listen = f"udp:127.0.0.1:{port}"
    # two jails on one address share one listener
    server = Server(tmp_path / "warden", _jail(listen) + _jail(listen, "sshd-too"))
    servers.append(server)
    server.start()
    forward = (f'*.* action(type="omfwd" target="127.0.0.1" port="{port}" protocol="udp" '
               'template="RSYSLOG_TraditionalForwardFormat")')
    with rsyslogd(tmp_path / "rsyslog", forward) as sock:
        _log_failures(sock, "192.0.2.51", 3, pid=4242)
        wait_for("both jails' bans from the forwarded lines",
                 lambda: "192.0.2.51" in server.banned("sshd")
                 and "192.0.2.51" in server.banned("sshd-too"))
    assert list(server.banned()) == ["192.0.2.51"]
    status = server.status("sshd")
    assert [(f.path, f.state) for f in status.files] == [(listen, "ok")]
    assert status.total_failed == 3
    shown = server.cli("status", "sshd").stdout
    assert f"`- File list:\t{listen}\n" in shown


def test_rsyslog_forwards_to_a_unix_listener(tmp_path: Path, servers: list[Server]) -> None:
    listen_path = tmp_path / "warden-log.sock"
    server = Server(tmp_path / "warden", _jail(f"unix:{listen_path}"))
    servers.append(server)
    server.start()
    wait_for("warden's listening socket", listen_path.exists)
    # omuxsock takes only the legacy directives
    forward = (f"$ModLoad omuxsock\n$OMUxSockSocket {listen_path}\n"
               "*.* :omuxsock:;RSYSLOG_TraditionalForwardFormat")
    with rsyslogd(tmp_path / "rsyslog", forward) as sock:
        _log_failures(sock, "198.51.100.52", 3, pid=4343)
        wait_for("the ban", lambda: server.banned().get("198.51.100.52"))
    assert server.stop() == 0
    assert not listen_path.exists()  # the listener removes its socket when it stops


def test_a_bad_listen_address_is_refused_with_its_line(tmp_path: Path) -> None:
    server = Server(tmp_path, _jail("tcp:127.0.0.1:514"))
    check = server.cli("check")
    assert check.returncode == 2
    assert (f"{server.conf / 'jail.local'}:4: [sshd] backend: listen 'tcp:127.0.0.1:514': "
            "use udp:HOST:PORT") in check.stdout + check.stderr


def test_a_reload_keeps_the_listener_and_adds_a_jail_to_it(tmp_path: Path,
                                                           servers: list[Server]) -> None:
    port = _free_udp_port()
    listen = f"udp:127.0.0.1:{port}"
    server = Server(tmp_path / "warden", _jail(listen))
    servers.append(server)
    server.start()
    forward = (f'*.* action(type="omfwd" target="127.0.0.1" port="{port}" protocol="udp" '
               'template="RSYSLOG_TraditionalForwardFormat")')
    with rsyslogd(tmp_path / "rsyslog", forward) as sock:
        _log_failures(sock, "192.0.2.71", 3, pid=5151)
        wait_for("the first jail's ban", lambda: "192.0.2.71" in server.banned("sshd"))
        server.write_config(_jail(listen) + _jail(listen, "late"))
        reloaded = server.cli("reload")
        assert reloaded.returncode == 0, reloaded.stderr
        _log_failures(sock, "192.0.2.72", 3, pid=5252)
        wait_for("both jails' bans after the reload",
                 lambda: "192.0.2.72" in server.banned("late")
                 and "192.0.2.72" in server.banned("sshd"))
    assert "192.0.2.71" in server.banned("sshd")  # the ban from before the reload stays
