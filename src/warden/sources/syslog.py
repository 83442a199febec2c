"""A syslog socket as a log source: datagrams from a Unix socket or UDP, one message a line.

For hosts without a log file for a service, warden can listen itself: ``unix:/run/warden/log``
(local programs, like ``/dev/log``) or ``udp:127.0.0.1:5514`` (a relay such as rsyslog
forwarding to it). RFC 3164 messages become the text after their ``<PRI>`` (what a syslog daemon
would have written, less the host when the sender left it out); RFC 5424 messages become
``TIMESTAMP HOST APP[PROCID]: MSG``. Datagrams carry no position: nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import stat
from collections.abc import AsyncIterator

from warden.errors import SourceError
from warden.sources.base import LogBatch, SourceState, SourceStatus
from warden.sources.lines import DEFAULT_MAX_LINE
from warden.sources.watch import ReadyFlag

__all__ = ["SyslogSource", "parse_address", "syslog_line"]

_PRI = re.compile(rb"<(\d{1,3})>")
_BATCH = 1024
_DATAGRAM = 65536


def parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    """``unix:PATH`` or ``udp:HOST:PORT`` (``udp:[V6]:PORT``) as (family, address)."""
    kind, sep, rest = address.partition(":")
    if sep and kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if sep and kind == "udp":
        host, colon, port = rest.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if colon and host and port.isdigit() and int(port) < 65536:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return family, (host, int(port))
    raise SourceError(f"syslog address {address!r}: use unix:/path/to/socket or "
                      "udp:HOST:PORT (udp:[::1]:PORT for IPv6)")


def _skip_structured_data(text: str) -> str:
    """``text`` after RFC 5424 STRUCTURED-DATA (``-`` or ``[id k="v"]...``)."""
    if text.startswith("-"):
        return text[1:].lstrip(" ")
    i = 0
    while i < len(text) and text[i] == "[":
        i += 1
        while i < len(text) and text[i] != "]":
            i += 2 if text[i] == "\\" else 1  # an escaped ] or " inside a value
        i += 1
    return text[i:].lstrip(" ")


def syslog_line(data: bytes, *, encoding: str = "utf-8") -> str:
    """The log line for one syslog datagram."""
    m = _PRI.match(data)
    body = data[m.end():] if m else data
    text = body.decode(encoding, "replace").rstrip("\r\n\0")
    if text.startswith("1 "):  # RFC 5424: VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG
        parts = text.split(" ", 6)
        if len(parts) == 7:
            _, stamp, host, app, procid, _msgid, rest = parts
            msg = _skip_structured_data(rest).removeprefix("\ufeff")
            tag = "" if app == "-" else app + ("" if procid == "-" else f"[{procid}]") + ":"
            text = " ".join(p for p in (stamp if stamp != "-" else "",
                                         "" if host == "-" else host, tag, msg) if p)
    return text.replace("\n", "\\n")


class SyslogSource:
    """Datagrams received on one socket; a :class:`~warden.sources.base.LogSource`."""

    def __init__(self, address: str, *, encoding: str = "utf-8",
                 max_line: int = DEFAULT_MAX_LINE, mode: int = 0o666) -> None:
        family, where = parse_address(address)
        self.name = address
        self._encoding = encoding
        self._max_line = max_line
        self._unix_path = where if isinstance(where, str) else None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if self._unix_path is None:
                sock.bind(where)
            else:
                _check_directory(os.path.dirname(os.path.abspath(self._unix_path)))
                _remove_stale_socket(self._unix_path)
                # Born with its mode (local programs of any user may log): a chmod by name
                # afterwards would follow whatever link had been put in its place meanwhile.
                old = os.umask(0o777 & ~mode)
                try:
                    sock.bind(where)
                finally:
                    os.umask(old)
        except OSError as exc:
            sock.close()
            raise SourceError(f"cannot listen on syslog address {address!r}: "
                              f"{exc.strerror or exc}") from None
        self._sock = sock
        self._flag = ReadyFlag(sock.fileno())
        self._closed = False
        self.received = 0

    @property
    def address(self) -> str | tuple[str, int]:
        """The bound address (with the port the kernel chose for ``udp:HOST:0``)."""
        bound: str | tuple[str, int] = self._sock.getsockname()[:2] \
            if self._unix_path is None else self._unix_path
        return bound

    def status(self) -> list[SourceStatus]:
        """One entry for the socket."""
        state = SourceState.STOPPED if self._closed else SourceState.OK
        return [SourceStatus(self.name, state)]

    def read_now(self) -> LogBatch | None:
        """The datagrams queued now (at most a batch of them), as lines."""
        lines: list[str] = []
        cap = self._max_line
        for _ in range(_BATCH):
            try:
                data = self._sock.recv(_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            line = syslog_line(data, encoding=self._encoding)
            lines.append(line[:cap] if len(line) > cap else line)
        if not lines:
            return None
        self.received += len(lines)
        return LogBatch(self.name, lines, None)

    async def batches(self) -> AsyncIterator[LogBatch]:
        """Yield batches of messages as they arrive."""
        while not self._closed:
            batch = self.read_now()
            if batch is not None:
                yield batch
                # A sender that never pauses keeps the queue full at every read: let the
                # daemon's other tasks (bans, the control socket, timers) run in between.
                await asyncio.sleep(0)
                continue
            await self._flag.wait(5.0)  # and look at _closed now and then

    def close(self) -> None:
        """Stop listening (and remove a Unix socket's file); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._flag.detach()
        self._sock.close()
        if self._unix_path is not None:
            with contextlib.suppress(OSError):
                _remove_stale_socket(self._unix_path)


def _check_directory(directory: str) -> None:
    """Refuse a socket directory (or one above it) that a user other than root or us could
    change: he could swap the socket's name for a link, or remove it."""
    real = os.path.realpath(directory)
    probe = real
    while True:
        st = os.stat(probe)
        if st.st_uid not in (0, os.geteuid()):
            raise OSError(errno.EPERM, f"{probe} is owned by uid {st.st_uid}: put the socket "
                          "in a directory only root can change, such as /run/warden", real)
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            raise OSError(errno.EPERM, f"{probe} is writable by others: put the socket in a "
                          "directory only root can change, such as /run/warden", real)
        parent = os.path.dirname(probe)
        if parent == probe:
            return
        probe = parent


def _remove_stale_socket(path: str) -> None:
    """Remove ``path`` if it is a socket (left by an earlier run); refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(errno.EEXIST, "exists and is not a socket", path)
    os.unlink(path)
