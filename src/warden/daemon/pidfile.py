"""The pid file and detaching from the terminal (``warden server`` without ``-f``)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from warden.daemon.statefiles import UnsafeStatePath, check_dir, write_atomic

__all__ = ["PidFile", "PidFileError", "Readiness", "detach"]


class PidFileError(OSError):
    """Another daemon runs with this pid file, or it cannot be written."""


class PidFile:
    """A pid file holding this process's id, removed again by :meth:`remove`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def running(self) -> int | None:
        """The pid of a live process named in the file, else None (a stale file is ignored)."""
        try:
            pid = int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if pid == os.getpid() or not _may_be_warden(pid):
            return None
        return pid

    def write(self) -> None:
        """Write our pid; PidFileError if another live daemon owns the file."""
        other = self.running()
        if other is not None:
            raise PidFileError(f"{self.path}: warden already runs as pid {other}")
        try:
            check_dir(self.path.parent)
        except UnsafeStatePath as exc:
            raise PidFileError(str(exc)) from None
        try:
            # a fresh 0600 file renamed into place: nothing planted there is followed
            write_atomic(self.path, f"{os.getpid()}\n".encode())
        except OSError as exc:
            raise PidFileError(f"{self.path}: cannot write the pid file ({exc.strerror})"
                               ) from None

    def remove(self) -> None:
        """Remove the file if it still holds our pid."""
        with contextlib.suppress(OSError):
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()


def _may_be_warden(pid: int) -> bool:
    """False only when the process is known not to be warden: after a reboot or a crash the
    pid in a stale file may belong to any other program, which must not block the start.
    Where the command line cannot be read (no /proc, as on FreeBSD) the pid counts."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"warden" in cmdline


class Readiness:
    """The detached daemon's line back to the process that started it."""

    def __init__(self, fd: int | None, *, echo: bool = False) -> None:
        """``fd``: the pipe to the starter (None in the foreground); ``echo``: print a
        start-up failure on stderr (in the foreground when the log goes elsewhere)."""
        self._fd = fd
        self._echo = echo

    def _send(self, text: str) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, text.encode())
            os.close(self._fd)
        self._fd = None

    def ready(self) -> None:
        """Tell the starter that the daemon runs (it exits 0)."""
        self._send("0\n")

    def failed(self, code: int, message: str) -> None:
        """Tell the starter that start-up failed (it prints ``message``, exits ``code``)."""
        if self._echo:
            print(message, file=sys.stderr)
        self._send(f"{code}\n{message}")


def detach() -> Readiness:
    """Become a daemon: double fork, new session, cwd /, standard streams on /dev/null.

    The original process waits until the daemon reports through the returned
    :class:`Readiness` (or dies), then exits with its code, so start-up errors reach the
    terminal and the shell's exit status.
    """
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        text = b"".join(chunks).decode(errors="replace")
        code_text, _, message = text.partition("\n")
        if message:
            sys.stderr.write(message if message.endswith("\n") else message + "\n")
        os._exit(int(code_text) if code_text.isdigit() else 1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o077)  # state files (and SQLite's -wal, -shm) are the daemon's alone
    null = os.open(os.devnull, os.O_RDWR)
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(null, stream.fileno())
    os.close(null)
    return Readiness(write_end)
