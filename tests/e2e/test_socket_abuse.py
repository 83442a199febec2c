"""A hostile or careless client on the control socket of the real daemon (``warden server -f``
subprocess): deep JSON, too many connections, and a daemon that runs out of descriptors."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Server, wait_for
from warden.daemon.control import IDLE_TIMEOUT, MAX_CONNECTIONS
from warden.protocol import FailedReply, PingRequest, PongReply, Response, decode_response, encode

pytestmark = pytest.mark.skipif(not Path("/etc/fail2ban/filter.d/sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "auth.log"
    log.touch()
    made = Server(tmp_path, f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n")
    try:
        yield made
    finally:
        made.close()


def _connect(server: Server) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(os.fspath(server.socket))
    return sock


def _ask(sock: socket.socket, line: bytes) -> Response:
    sock.sendall(line)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, "the daemon closed the connection"
        answer += chunk
    return decode_response(answer)


def _no_tracebacks(server: Server) -> None:
    assert "Traceback" not in server.log_text()
    assert "Traceback" not in server.stderr_path.read_text()


def test_deeply_nested_json_is_a_usage_error_on_a_connection_that_stays(server: Server) -> None:
    server.start()
    with _connect(server) as sock:
        answer = _ask(sock, b"[" * 100_000 + b"]" * 100_000 + b"\n")
        assert answer == FailedReply("malformed message: nested too deeply", "usage")
        answer = _ask(sock, b'{"v": 1, "kind": "ping", "x": ' + b'{"x": ' * 100_000
                      + b"1" + b"}" * 100_001 + b"\n")
        assert answer == FailedReply("malformed message: nested too deeply", "usage")
        assert _ask(sock, encode(PingRequest())) == PongReply()
    _no_tracebacks(server)


def test_one_connection_too_many_is_told_so_and_closed(server: Server) -> None:
    server.start()
    held: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            sock = _connect(server)
            held.append(sock)
            assert _ask(sock, encode(PingRequest())) == PongReply()  # served, and now held open
        with _connect(server) as extra:
            answer = extra.recv(65536)
            assert decode_response(answer) == FailedReply(
                f"too many connections (at most {MAX_CONNECTIONS}); try again later")
            assert extra.recv(100) == b""
        held.pop().close()

        def served() -> bool:
            try:
                with _connect(server) as sock:
                    return _ask(sock, encode(PingRequest())) == PongReply()
            except OSError:  # refused while the closed connection was still counted
                return False
        wait_for("a free connection slot", served)
    finally:
        for sock in held:
            sock.close()
    wait_for("the slots to be freed", lambda: server.call(PingRequest()) == PongReply())
    _no_tracebacks(server)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit")
def test_running_out_of_descriptors_is_one_log_line_and_the_daemon_recovers(
        server: Server) -> None:
    # about 15 descriptors are in use when the daemon idles: room for a few connections only
    server.start(prefix=["prlimit", "--nofile=32:32", "--"])
    clients: list[socket.socket] = []
    try:
        for _ in range(60):
            sock = socket.socket(socket.AF_UNIX)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # the backlog is full
                sock.connect(os.fspath(server.socket))
            clients.append(sock)
        wait_for("the out-of-descriptors line", lambda: "out of descriptors" in server.log_text())
        time.sleep(1.5)  # several attempts to accept while exhausted
    finally:
        for sock in clients:
            sock.close()

    def recovered() -> bool:
        # the episode ends with the first connection after a calm spell
        assert server.call(PingRequest()) == PongReply()
        return "descriptors available again" in server.log_text()
    wait_for("the recovery line", recovered, interval=0.5)
    text = server.log_text()
    assert text.count("out of descriptors") == 1, text
    assert text.count("descriptors available again") == 1
    _no_tracebacks(server)


def test_an_idle_connection_is_closed_by_the_real_daemon(server: Server) -> None:
    # the daemon's own limit (IDLE_TIMEOUT, 60 s): one connection that never speaks, one that
    # asked something and then stays silent; both end, and the daemon answers afterwards
    server.start()
    silent, asked = _connect(server), _connect(server)
    with silent, asked:
        assert _ask(asked, encode(PingRequest())) == PongReply()
        started = time.monotonic()
        for sock in (silent, asked):
            sock.settimeout(IDLE_TIMEOUT + 30)
            assert sock.recv(1) == b""  # closed by the daemon, not by our timeout
        assert time.monotonic() - started >= IDLE_TIMEOUT - 1
    with _connect(server) as sock:
        assert _ask(sock, encode(PingRequest())) == PongReply()
    _no_tracebacks(server)
