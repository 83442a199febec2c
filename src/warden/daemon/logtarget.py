"""The daemon's log: fail2ban's ``logtarget`` (a file, ``SYSLOG``, ``SYSTEMD-JOURNAL``,
``STDERR``, ``STDOUT``), fail2ban's line layout, a rate limit, and reopening on SIGUSR1 (after
log rotation).

Files and streams get fail2ban's layout, ``%(asctime)s %(name)-24s[%(process)d]: %(levelname)-7s
%(message)s``, and ban and unban lines (logger ``warden.actions``) are written under the name
``fail2ban.actions``: that is what the stock ``recidive`` filter and the scripts that grep a
fail2ban log look for, so they keep working on warden's log.

``SYSTEMD-JOURNAL`` speaks the journal's native datagram protocol (``KEY=value`` fields) to
``/run/systemd/journal/socket``, with the syslog priorities (bans and unbans are ``notice``, 5,
which the stock recidive ``journalmatch`` asks for).

The rate limit is a token bucket over every record below ERROR: a flood of failures cannot fill
the disk, and when records were dropped the next record that passes says how many. Ban and
unban lines (NOTICE) always pass: they are the audit trail and the input of the ``recidive``
jail, and there is one per ban, which the firewall and the store pay for anyway.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import logging.handlers
import os
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable

__all__ = ["JOURNAL_SOCKET", "NOTICE", "LogTarget", "RateLimit", "log_file", "parse_level",
           "setup_logging"]

#: fail2ban's NOTICE level (between INFO and WARNING): bans and unbans
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

#: where systemd-journald takes native-protocol datagrams
JOURNAL_SOCKET = "/run/systemd/journal/socket"

_FORMAT = "%(asctime)s %(shown_name)-24s[%(process)d]: %(levelname)-7s %(message)s"
#: logger names written as fail2ban's, for the tools that read a fail2ban log
_FAIL2BAN_NAMES = {"warden.actions": "fail2ban.actions"}
#: syslog lines are tagged ``warden[pid]``, ban and unban lines ``fail2ban.actions[pid]`` as
#: fail2ban tags them, so the stock recidive filter reads them from a syslog file too
_SYSLOG_FORMAT = "%(shown_tag)s[%(process)d]: %(levelname)s %(message)s"
_LEVELS = {"CRITICAL": logging.CRITICAL, "ERROR": logging.ERROR, "WARNING": logging.WARNING,
           "WARN": logging.WARNING, "NOTICE": NOTICE, "INFO": logging.INFO,
           "DEBUG": logging.DEBUG, "TRACEDEBUG": logging.DEBUG, "HEAVYDEBUG": logging.DEBUG}


def parse_level(text: str) -> int:
    """A ``loglevel`` value (name or number) as a logging level; ValueError if unknown."""
    text = text.strip().upper()
    if text.isdigit():
        return int(text)
    if text not in _LEVELS:
        raise ValueError(f"unknown loglevel {text!r} (use CRITICAL, ERROR, WARNING, NOTICE, "
                         "INFO or DEBUG)")
    return _LEVELS[text]


class RateLimit(logging.Filter):
    """Let at most ``rate`` records per second through (bursts of ``burst``) below ERROR,
    except NOTICE (ban and unban lines), which always pass and take no token."""

    def __init__(self, rate: float = 200.0, burst: float = 2000.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.last = clock()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass ``record`` if the bucket has a token (bans and errors always pass)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if record.levelno < logging.ERROR and record.levelno != NOTICE:
            if self.tokens < 1.0:
                self.dropped += 1
                return False
            self.tokens -= 1.0
        if self.dropped:
            record.msg = f"{record.msg} [{self.dropped} earlier messages suppressed by the " \
                         "rate limit]"
            self.dropped = 0
        return True


class _Fail2banFormatter(logging.Formatter):
    """fail2ban's file layout; ban and unban lines carry the name ``fail2ban.actions``."""

    def __init__(self) -> None:
        super().__init__(_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The line for ``record`` (its logger name shown as fail2ban's where one exists)."""
        record.shown_name = _FAIL2BAN_NAMES.get(record.name, record.name)
        return super().format(record)


class _SyslogFormatter(logging.Formatter):
    """The syslog message: tag, pid, level, text (the syslog daemon adds time and host)."""

    def __init__(self) -> None:
        super().__init__(_SYSLOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The message for ``record``, tagged as fail2ban's for ban and unban lines."""
        record.shown_tag = _FAIL2BAN_NAMES.get(record.name, "warden")
        return super().format(record)


class LogTarget:
    """The installed handler; :meth:`reopen` reopens a log file (SIGUSR1), :meth:`switch`
    moves the log to another target at run time (fail2ban's ``set logtarget``)."""

    def __init__(self, target: str, handler: logging.Handler, *, propagate: bool = True,
                 level: int = logging.NOTSET, syslogsocket: str = "auto",
                 journal: str = JOURNAL_SOCKET) -> None:
        self.target = target
        self.handler = handler
        self.syslogsocket = syslogsocket
        self.journal = journal
        self._saved = (propagate, level)

    def reopen(self) -> None:
        """Reopen the log file (after rotation); nothing for other targets."""
        if isinstance(self.handler, logging.FileHandler):
            self.handler.acquire()
            try:
                self.handler.close()
                self.handler.stream = self.handler._open()
            finally:
                self.handler.release()

    def switch(self, target: str, syslogsocket: str) -> bool:
        """Log to ``target`` (through ``syslogsocket`` for ``SYSLOG``) from now on: the new
        handler is opened first, then swapped in and the old one closed. Nothing changes when
        the target is the same (and, for ``SYSLOG``, so is the socket); False then.

        Raises OSError when the new target cannot be opened: the old one stays in place.
        """
        name = target.strip()
        syslog = _is_syslog(name)
        if name == self.target and (not syslog or syslogsocket == self.syslogsocket):
            self.syslogsocket = syslogsocket
            return False
        if log_file(name) is not None:
            _check_file(name)
        elif syslog:
            _check_syslog(syslogsocket)
        handler = _make_handler(name, syslogsocket, self.journal)
        for kept in self.handler.filters:  # the rate limit's bucket goes on
            handler.addFilter(kept)
        root = logging.getLogger("warden")
        old = self.handler
        root.addHandler(handler)
        root.removeHandler(old)
        old.close()
        self.target, self.handler, self.syslogsocket = name, handler, syslogsocket
        return True

    def close(self) -> None:
        """Remove and close the handler; the ``warden`` logger is as before."""
        root = logging.getLogger("warden")
        root.removeHandler(self.handler)
        root.propagate, level = self._saved
        root.setLevel(level)
        self.handler.close()


class _SysLog(logging.handlers.SysLogHandler):
    """Bans and unbans are syslog notices (the stock map knows no NOTICE level)."""

    priority_map = {**logging.handlers.SysLogHandler.priority_map, "NOTICE": "notice"}


def _journal_field(name: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" not in data:
        return name.encode() + b"=" + data + b"\n"
    # a value with a newline: the name, its length (64-bit little-endian), the bytes
    return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"


class _Journal(logging.Handler):
    """Records as journal entries over the native datagram protocol (no library needed).

    Each record is one datagram of fields; one too large for a datagram goes in a sealed
    memory file whose descriptor is passed instead, as journald's protocol provides.
    """

    _PRIORITIES = ((logging.DEBUG, 7), (logging.INFO, 6), (NOTICE, 5), (logging.WARNING, 4),
                   (logging.ERROR, 3))

    def __init__(self, path: str, identifier: str = "warden") -> None:
        super().__init__()
        self.path = path
        self.identifier = identifier
        # checked once at start; then each entry is addressed anew, so a restarted journald
        # (a new socket at the same path) gets the next entries
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(path)
            except OSError as exc:
                raise OSError(exc.errno, f"no systemd journal to log to ({path}: "
                              f"{exc.strerror}; is systemd-journald running?)") from exc
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @classmethod
    def priority(cls, level: int) -> int:
        """The syslog priority of logging ``level``."""
        for upto, prio in cls._PRIORITIES:
            if level <= upto:
                return prio
        return 2

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_PID, LOGGER)."""
        try:
            fields = {"MESSAGE": self.format(record), "PRIORITY": str(self.priority(
                record.levelno)), "SYSLOG_IDENTIFIER": self.identifier,
                "SYSLOG_PID": str(record.process), "LOGGER": record.name}
            data = b"".join(_journal_field(k, v) for k, v in fields.items())
            try:
                self.sock.sendto(data, self.path)
            except OSError as exc:
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                    raise
                self._send_large(data)
        except Exception:  # logging must never take the daemon down
            self.handleError(record)

    def _send_large(self, data: bytes) -> None:
        fd = os.memfd_create("warden-journal", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            # sealed, journald maps the file as it is instead of copying it
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                        | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
            self.sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    struct.pack("i", fd))], 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
        super().close()


def _syslog_address(socket: str) -> str | tuple[str, int]:
    if socket and socket != "auto":
        return socket
    for candidate in ("/dev/log", "/var/run/log", "/var/run/syslog"):
        if os.path.exists(candidate):
            return candidate
    return ("localhost", logging.handlers.SYSLOG_UDP_PORT)


def log_file(target: str) -> str | None:
    """The file ``target`` writes to, or None for the streams, syslog and the journal."""
    name = target.strip()
    if name.upper() in ("STDERR", "STDOUT", "SYSTEMD-JOURNAL") or _is_syslog(name):
        return None
    return name


def _is_syslog(target: str) -> bool:
    upper = target.upper()
    return upper == "SYSLOG" or upper.startswith("SYSLOG[")


def _check_file(name: str) -> None:
    """A log file named at run time is opened as fail2ban opens it: in a directory that
    exists (none is made) and only if it can be appended to (OSError otherwise); a new
    file is made 0600 (it names addresses)."""
    os.close(os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _check_syslog(syslogsocket: str) -> None:
    """A syslog socket named at run time must be there, as fail2ban checks (logging's
    handler would wait silently for one to appear)."""
    address = _syslog_address(syslogsocket)
    if isinstance(address, str) and not stat.S_ISSOCK(_mode(address)):
        raise OSError(errno.ENOTSOCK, f"{address} is not a socket")


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: {exc.strerror}") from None


def _make_handler(name: str, syslogsocket: str, journal: str) -> logging.Handler:
    """The handler for the target ``name``, formatted (OSError if it cannot be opened)."""
    upper = name.upper()
    handler: logging.Handler
    file = log_file(name)
    if file is not None:
        os.makedirs(os.path.dirname(os.path.abspath(file)), exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
        handler.setFormatter(_Fail2banFormatter())
    elif upper in ("STDERR", "STDOUT"):
        handler = logging.StreamHandler(sys.stderr if upper == "STDERR" else sys.stdout)
        handler.setFormatter(_Fail2banFormatter())
    elif upper == "SYSTEMD-JOURNAL":
        # the journal stamps, names and prioritises each entry itself
        handler = _Journal(journal)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # SYSLOG or SYSLOG[...]
        handler = _SysLog(address=_syslog_address(syslogsocket),
                          facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.setFormatter(_SyslogFormatter())
    return handler


def setup_logging(target: str, level: int, *, syslogsocket: str = "auto",
                  limit: RateLimit | None = None, journal: str = JOURNAL_SOCKET,
                  ) -> LogTarget:
    """Send the ``warden`` loggers to ``target``; return it for reopen/switch/close.

    ``journal`` is the journal's socket (for ``SYSTEMD-JOURNAL``). Raises OSError when a log
    file or the journal cannot be opened (the caller reports it).
    """
    name = target.strip()
    handler = _make_handler(name, syslogsocket, journal)
    handler.addFilter(limit or RateLimit())
    root = logging.getLogger("warden")
    saved = LogTarget(name, handler, propagate=root.propagate, level=root.level,
                      syslogsocket=syslogsocket, journal=journal)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return saved
