"""A real ``redis-server`` for the fleet tests: a temporary directory, a Unix socket (or a
loopback port), a password, no persistence; stopped and restarted on demand."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["PASSWORD", "RedisServer", "have_redis"]

PASSWORD = "fleet-test-secret"


def have_redis() -> bool:
    """True if redis-server and redis-py are both installed."""
    try:
        import redis  # noqa: F401, PLC0415 - only asking whether it is there
    except ImportError:
        return False
    return shutil.which("redis-server") is not None


class RedisServer:
    """One redis-server process; ``port`` 0 serves the Unix socket only."""

    def __init__(self, root: Path, *, port: int = 0, tls: tuple[Path, Path, Path] | None = None
                 ) -> None:
        """``tls``: (CA, certificate, key) to serve TLS on ``port`` (clients must show a
        certificate the CA signed); the Unix socket stays plain for redis-cli."""
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket = root / "redis.sock"
        self.port = port
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL warden is given (the password comes with it)."""
        if self.port:
            return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        return f"unix://:{PASSWORD}@{self.socket}?db=0"

    def start(self) -> RedisServer:
        """Start it and wait until it answers."""
        if not have_redis():
            pytest.skip("needs redis-server (Debian package) and redis-py")
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            ca, cert, key = self.tls
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-ca-cert-file", str(ca),
                     "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                     "--tls-auth-clients", "yes"]
        self.proc = subprocess.Popen(
            ["redis-server", *ports, "--bind", "127.0.0.1",
             "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.root / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("redis-server did not start: "
                                     + (self.root / "redis.log").read_text()[-2000:])
            time.sleep(0.02)
        return self

    def cli(self, *args: str) -> str:
        """One command through redis-cli; its output without the final newline."""
        done = subprocess.run(["redis-cli", "-s", str(self.socket), "--no-auth-warning",
                               "-a", PASSWORD, *args], capture_output=True, text=True,
                              check=False, timeout=10)
        return done.stdout.rstrip("\n")

    def stop(self) -> None:
        """Stop it (the data goes with it unless restarted with :meth:`restart`)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        """Stop the process but keep the data for :meth:`resume` (a saved RDB file)."""
        self.cli("SAVE")
        self.stop()

    def resume(self) -> None:
        """Start again with the data :meth:`pause` saved."""
        self.start()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
