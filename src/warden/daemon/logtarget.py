"""The daemon's log: fail2ban's ``logtarget`` (a file, ``SYSLOG``, ``STDERR``, ``STDOUT``),
fail2ban's line layout, a rate limit, and reopening on SIGUSR1 (after log rotation).

The rate limit is a token bucket over every record below ERROR: a flood of failures cannot fill
the disk, and when records were dropped the next record that passes says how many. Ban and
unban lines (NOTICE) always pass: they are the audit trail and the input of the ``recidive``
jail, and there is one per ban, which the firewall and the store pay for anyway.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable

__all__ = ["NOTICE", "LogTarget", "RateLimit", "parse_level", "setup_logging"]

#: fail2ban's NOTICE level (between INFO and WARNING): bans and unbans
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

_FORMAT = "%(asctime)s %(name)-20s [%(process)d]: %(levelname)-7s %(message)s"
_SYSLOG_FORMAT = "warden[%(process)d]: %(levelname)s %(message)s"
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


class LogTarget:
    """The installed handler; :meth:`reopen` reopens a log file (SIGUSR1)."""

    def __init__(self, target: str, handler: logging.Handler, *, propagate: bool = True,
                 level: int = logging.NOTSET) -> None:
        self.target = target
        self.handler = handler
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


def _syslog_address(socket: str) -> str | tuple[str, int]:
    if socket and socket != "auto":
        return socket
    for candidate in ("/dev/log", "/var/run/log", "/var/run/syslog"):
        if os.path.exists(candidate):
            return candidate
    return ("localhost", logging.handlers.SYSLOG_UDP_PORT)


def setup_logging(target: str, level: int, *, syslogsocket: str = "auto",
                  limit: RateLimit | None = None) -> LogTarget:
    """Send the ``warden`` loggers to ``target``; return it for reopen/close.

    Raises OSError when a log file cannot be opened (the caller reports it).
    """
    name = target.strip()
    upper = name.upper()
    handler: logging.Handler
    if upper in ("STDERR", "STDOUT"):
        handler = logging.StreamHandler(sys.stderr if upper == "STDERR" else sys.stdout)
        handler.setFormatter(logging.Formatter(_FORMAT))
    elif upper == "SYSLOG" or upper.startswith("SYSLOG["):
        handler = _SysLog(address=_syslog_address(syslogsocket),
                          facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.setFormatter(logging.Formatter(_SYSLOG_FORMAT))
    else:
        os.makedirs(os.path.dirname(os.path.abspath(name)), exist_ok=True)
        handler = logging.FileHandler(name, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(limit or RateLimit())
    root = logging.getLogger("warden")
    saved = LogTarget(name, handler, propagate=root.propagate, level=root.level)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return saved
