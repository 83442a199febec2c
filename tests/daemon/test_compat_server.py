"""The fail2ban socket's own bounds, over a real Unix socket: 0600, idle connections closed,
at most ``max_connections`` at once, a silent partial message does not hold a slot forever."""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from warden.daemon.compat_server import CompatServer
from warden.daemon.f2bproto import END
from warden.protocol import PongReply, Request, Response


async def _handler(request: Request) -> Response:
    return PongReply()


class _Loop:
    """An event loop in a thread serving the socket, so blocking sockets can talk to it."""

    def __init__(self, path: Path, **limits: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = CompatServer(path, _handler, time.time, **limits)  # type: ignore[arg-type]
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "f2b" / "fail2ban.sock"


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(os.fspath(path))
    return sock


def _ask(sock: socket.socket, command: list[str]) -> object:
    sock.sendall(pickle.dumps(command, protocol=4) + END)
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return pickle.loads(data[:-len(END)])


def test_0600_in_a_0700_directory_and_gone_after_close(path: Path) -> None:
    loop = _Loop(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        with _connect(path) as sock:
            assert _ask(sock, ["ping"]) == (0, "pong")
            # fail2ban's client says goodbye like this before it hangs up
            sock.sendall(b"<F2B_CLOSE_COMMAND>" + END)
            assert sock.recv(100) == b""
    finally:
        loop.close()
    assert not path.exists()


def test_an_idle_or_half_sent_connection_is_closed(path: Path) -> None:
    loop = _Loop(path, idle_timeout=0.3)
    try:
        with _connect(path) as idle, _connect(path) as partial:
            partial.sendall(pickle.dumps(["ping"], protocol=4)[:5])  # and never the rest
            started = time.monotonic()
            assert idle.recv(100) == b"" and partial.recv(100) == b""
            assert time.monotonic() - started < 5.0
    finally:
        loop.close()


def test_one_connection_more_than_allowed_is_told_and_closed(path: Path) -> None:
    loop = _Loop(path, max_connections=2)
    try:
        with _connect(path) as first, _connect(path) as second:
            assert _ask(first, ["ping"]) == (0, "pong") and _ask(second, ["ping"]) == (0, "pong")
            with _connect(path) as third:
                data = b""
                while chunk := third.recv(4096):
                    data += chunk
            code, error = pickle.loads(data[:-len(END)])
            assert code == 1 and "too many connections" in str(error)
            assert _ask(first, ["ping"]) == (0, "pong")
    finally:
        loop.close()
