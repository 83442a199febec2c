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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(address: str | tuple[str, int]) -> str:
    """GET /metrics over TCP (host, port) or a Unix socket path; the body."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as conn:
        conn.settimeout(10)
        conn.connect(address)
        conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def _refused(port: int) -> bool:
    with socket.socket() as conn:
        return conn.connect_ex(("127.0.0.1", port)) != 0


def test_a_reload_moves_the_endpoint_or_keeps_the_old_one(tmp_path: Path,
                                                          servers: list[Server]) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    jails = JAIL.format(log=log)
    first, second = _free_port(), _free_port()
    server = Server(tmp_path / "w", jails, settings=f"metrics = 127.0.0.1:{first}\n")
    servers.append(server.start())
    _ban_one(server, log)
    assert 'warden_bans_active{jail="sshd"} 1' in _get(("127.0.0.1", first))

    def reload(settings: str) -> None:
        server.write_config(jails, settings=settings)
        done = server.cli("reload")
        assert done.returncode == 0, done.stdout + done.stderr

    # another port: served there at once, the old one let go
    reload(f"metrics = 127.0.0.1:{second}\n")
    assert 'warden_bans_active{jail="sshd"} 1' in _get(("127.0.0.1", second))
    assert _refused(first)
    assert f"metrics moved to 127.0.0.1:{second} at /metrics (was 127.0.0.1:{first})" \
        in server.log_text()
    # a port someone else holds: said in the log, and the old endpoint goes on serving
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        reload(f"metrics = 127.0.0.1:{busy}\n")
        assert f"metrics: cannot listen on 127.0.0.1:{busy} after the reload (Address " \
               f"already in use); /metrics stays on 127.0.0.1:{second}" in server.log_text()
        assert "warden_build_info" in _get(("127.0.0.1", second))
    # a Unix socket, then off
    path = server.run / "metrics.sock"
    reload(f"metrics = {path}\n")
    assert 'warden_bans_active{jail="sshd"} 1' in _get(str(path))
    assert _refused(second)
    reload("")
    assert not path.exists()
    assert f"metrics: no longer served (metrics is off after the reload; was {path})" \
        in server.log_text()
    # bans went on through all of it
    append(log, failure_line("192.0.2.45") * 3)
    wait_for("the ban", lambda: server.banned("sshd").get("192.0.2.45"))
    assert "Traceback" not in server.log_text()
