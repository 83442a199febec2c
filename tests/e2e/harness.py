"""Running ``warden server`` as a user does, in a temporary tree, and talking to it.

:class:`Server` writes a configuration directory (warden.conf naming a temporary socket, pid
file, database and log; jail.local; fail2ban's sshd filter; a dry-run action), starts
``python -m warden server -f`` as a subprocess and waits (polling with a deadline) until it
answers. The client library is the one the ``warden`` command uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from warden.cli.client import Unreachable, call
from warden.protocol import (
    BanInfo,
    BannedReply,
    BannedRequest,
    JailStatusReply,
    PingRequest,
    PongReply,
    Request,
    Response,
    StatusRequest,
)

__all__ = ["Server", "failure_line", "wait_for"]

FILTERS = Path("/etc/fail2ban/filter.d")
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 10.0,
             interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def failure_line(addr: str, when: float | None = None, user: str = "root") -> str:
    """One sshd failure line in syslog format, dated ``when`` (default: now)."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(when or time.time()))
    # each attacker's connection is its own sshd process (the filter joins lines by pid)
    pid = 1000 + zlib.crc32(addr.encode()) % 60000
    return f"{stamp} host sshd[{pid}]: Failed password for {user} from {addr} port 2222 ssh2\n"


class Server:
    """One daemon under test, with its own directory."""

    def __init__(self, root: Path, jails: str, *, settings: str = "", action: str = "dummy"
                 ) -> None:
        self.root = root
        self.conf = root / "conf"
        self.run = root / "run"
        self.socket = self.run / "warden.sock"
        self.pidfile = self.run / "warden.pid"
        self.db = self.run / "warden.db"
        self.logfile = self.run / "warden.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = root / "server.stderr"
        self.write_config(jails, settings=settings, action=action)

    def write_config(self, jails: str, *, settings: str = "", action: str = "dummy") -> None:
        """(Re)write the configuration tree."""
        (self.conf / "filter.d").mkdir(parents=True, exist_ok=True)
        (self.conf / "action.d").mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        for name in ("sshd.conf", "common.conf"):
            shutil.copy(FILTERS / name, self.conf / "filter.d" / name)
        (self.conf / "action.d" / "dummy.conf").write_text(
            "[Definition]\nactionstart =\nactionstop =\nactionban =\nactionunban =\n")
        (self.conf / "warden.conf").write_text(
            "[Definition]\nloglevel = INFO\n"
            f"logtarget = {self.logfile}\nsocket = {self.socket}\npidfile = {self.pidfile}\n"
            f"dbfile = {self.db}\n{settings}")
        (self.conf / "jail.conf").write_text(
            f"[DEFAULT]\nbanaction = {action}\nbanaction_allports = {action}\n"
            "action = %(banaction)s\nmaxretry = 3\nfindtime = 1h\nbantime = 1h\n"
            "backend = auto\nignoreself = false\n")
        (self.conf / "jail.local").write_text(jails)

    # -- process ---------------------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        """The command line of ``warden ARGS`` for this tree."""
        return [sys.executable, "-m", "warden", *args, "-c", str(self.conf)]

    def start(self, *extra: str, prefix: Sequence[str] = (), timeout: float = 20.0) -> Server:
        """Start ``warden server -f`` and wait until it answers ``ping``."""
        err = open(self.stderr_path, "ab")  # noqa: SIM115 - the child writes to it
        try:
            self.proc = subprocess.Popen(
                [*prefix, *self.argv("server", "-f", "--logtarget", str(self.logfile), *extra)],
                stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        finally:
            err.close()
        wait_for("the daemon to answer ping", self._ready, timeout)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: "
                                 f"{self.stderr_path.read_text()[-2000:]}")
        try:
            return call(self.socket, PingRequest(), timeout=2.0) == PongReply()
        except (Unreachable, OSError):
            return False

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the daemon."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; return the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)  # the second one reports what is stuck
            self.proc.wait(5)
            raise
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return code

    def kill9(self) -> None:
        """Kill the daemon without warning."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    # -- talking ---------------------------------------------------------------------------
    def call(self, request: Request, timeout: float = 30.0) -> Response:
        """One request through the client library."""
        return call(self.socket, request, timeout)

    def status(self, jail: str) -> JailStatusReply:
        """The status of ``jail``."""
        answer = self.call(StatusRequest(jail))
        assert isinstance(answer, JailStatusReply), answer
        return answer

    def banned(self, jail: str | None = None) -> dict[str, BanInfo]:
        """Active bans by address (of ``jail``, or of all jails)."""
        answer = self.call(BannedRequest((), jail))
        assert isinstance(answer, BannedReply), answer
        return {b.addr: b for b in answer.bans}

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the ``warden`` command against this daemon."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def log_text(self) -> str:
        """The daemon's log so far."""
        try:
            return self.logfile.read_text()
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop the daemon if it runs (used by fixtures in ``finally``)."""
        if self.proc is not None:
            self.stop()


def append(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` in one write, as a logger does."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
