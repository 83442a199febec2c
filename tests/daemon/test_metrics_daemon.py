"""The real daemon and its metrics endpoint: off by default, a port in use never stops it from
banning, and a bad value stops it with the file:line."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.harness import Server, append, failure_line, wait_for

JAIL = "[sshd]\nenabled = true\nport = ssh\nfilter = sshd\nlogpath = {log}\n"


def _ban_one(server: Server, log: Path) -> None:
    append(log, failure_line("192.0.2.44") * 3)
    wait_for("the ban", lambda: server.banned("sshd").get("192.0.2.44"))


def test_a_port_in_use_is_logged_and_bans_go_on(tmp_path: Path, servers: list[Server]
                                                 ) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(tmp_path / "w", JAIL.format(log=log),
                        settings=f"metrics = 127.0.0.1:{port}\n")
        servers.append(server.start())
        _ban_one(server, log)
    text = server.log_text()
    assert f"metrics: cannot listen on 127.0.0.1:{port} (Address already in use); " \
           "/metrics is not served" in text



def test_a_socket_path_that_is_unsafe_or_not_a_socket_is_logged_and_bans_go_on(
        tmp_path: Path, servers: list[Server]) -> None:
    # a directory others may write, and a regular file where the socket should be: the
    # daemon says why in its log and protects as usual (it used to die with a traceback)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    taken = tmp_path / "notes"
    taken.write_text("keep me")
    for n, where in enumerate((shared / "metrics.sock", taken)):
        log = tmp_path / f"auth{n}.log"
        log.write_text("")
        server = Server(tmp_path / f"w{n}", JAIL.format(log=log),
                        settings=f"metrics = {where}\n")
        servers.append(server.start())
        _ban_one(server, log)
        text = server.log_text()
        assert f"metrics: cannot listen on {where} (" in text
        assert "Traceback" not in text
    assert "writable by group or others" in servers[-2].log_text()
    assert "other than a socket is there" in servers[-1].log_text()
    assert taken.read_text() == "keep me"
    assert not (shared / "metrics.sock").exists()


def test_off_by_default(tmp_path: Path, servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    server = Server(tmp_path / "w", JAIL.format(log=log))
    servers.append(server.start())
    _ban_one(server, log)
    assert "metrics served" not in server.log_text()
    assert "metrics:" not in server.log_text()


def test_a_bad_value_is_refused_with_its_line(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    server = Server(tmp_path / "w", JAIL.format(log=log), settings="metrics = *:9191\n")
    done = server.cli("server", "-f", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    conf = server.conf / "warden.conf"
    assert f"{conf}:7: metrics = *:9191: name the address to listen on" in done.stderr
    assert "Traceback" not in done.stderr
