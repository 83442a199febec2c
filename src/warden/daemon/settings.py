"""The daemon's own settings: ``[Definition]`` of warden.conf (or fail2ban.conf) and the
command line's overrides."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from warden.config import Value
from warden.config.metrics import MetricsEndpoint, metrics_endpoint
from warden.config.validate import COMPAT_SOCKET_OFF as _OFF
from warden.config.validate import (
    DEFAULT_DBMAXMATCHES,
    compat_socket_problem,
    dbmaxmatches,
    workers,
)
from warden.core.duration import parse_duration
from warden.daemon.logtarget import parse_level
from warden.errors import ConfigError
from warden.protocol.paths import DEFAULT_SOCKET, RUN_DIR

__all__ = ["DEFAULT_DBFILE", "DEFAULT_PIDFILE", "DEFAULT_SOCKET", "Settings", "read_settings"]

DEFAULT_PIDFILE = RUN_DIR / "warden.pid"
DEFAULT_DBFILE = ("/var/db/warden/warden.db" if "bsd" in sys.platform
                  else "/var/lib/warden/warden.db")
DEFAULT_LOGTARGET = "/var/log/warden.log"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the daemon keeps its socket, pid, state and log."""

    socket: Path = DEFAULT_SOCKET
    pidfile: Path = DEFAULT_PIDFILE
    dbfile: str = DEFAULT_DBFILE
    dbpurgeage: float = 86400.0
    logtarget: str = DEFAULT_LOGTARGET
    loglevel: int = 20
    syslogsocket: str = "auto"
    #: fail2ban's protocol on a socket of its own (None: not offered)
    compat_socket: Path | None = None
    #: where Prometheus' /metrics is served (None: not served)
    metrics: MetricsEndpoint | None = None
    #: matched log lines kept in the store per ban (fail2ban's ``dbmaxmatches``)
    dbmaxmatches: int = DEFAULT_DBMAXMATCHES
    #: jails whose filters run in worker processes (``workers``; 0: none)
    workers: int = 0


def _text(settings: Mapping[str, Value], name: str) -> str | None:
    value = settings.get(name)
    return value.text.strip() if value is not None and value.text.strip() else None


def _from_fail2ban(value: Value | None) -> bool:
    return value is not None and os.path.basename(value.origin.file).startswith("fail2ban.")


def read_settings(settings: Mapping[str, Value], *, foreground: bool,
                  socket: Path | None = None, pidfile: Path | None = None,
                  dbfile: str | None = None, logtarget: str | None = None,
                  loglevel: str | None = None) -> Settings:
    """Combine the configuration's ``settings`` with command-line overrides.

    Raises :class:`ConfigError` (with file:line) for a value that does not parse.
    """
    level_text = loglevel or _text(settings, "loglevel") or "INFO"
    try:
        level = parse_level(level_text)
    except ValueError as exc:
        where = settings.get("loglevel")
        raise ConfigError(str(exc), file=where.origin.file if where and not loglevel else None,
                          line=where.origin.line if where and not loglevel else None) from None
    purge = settings.get("dbpurgeage")
    purge_age = 86400.0
    if purge is not None:
        try:
            purge_age = parse_duration(purge.text)
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"dbpurgeage: {exc}", file=purge.origin.file,
                              line=purge.origin.line) from None
    db = dbfile or _text(settings, "dbfile") or DEFAULT_DBFILE
    if dbfile is None and _from_fail2ban(settings.get("dbfile")):
        # fail2ban's own database has another schema: keep warden's state beside it.
        db = os.path.join(os.path.dirname(db) or ".", "warden.db")
    if db.lower() in ("none", ":memory:"):
        db = ":memory:"
    # -f logs to stderr (DESIGN.md) unless --logtarget says otherwise
    target = logtarget or ("STDERR" if foreground
                           else _text(settings, "logtarget") or DEFAULT_LOGTARGET)
    return Settings(
        socket=socket or Path(_text(settings, "socket") or DEFAULT_SOCKET),
        pidfile=pidfile or Path(_text(settings, "pidfile") or DEFAULT_PIDFILE),
        dbfile=db,
        dbpurgeage=purge_age,
        logtarget=target,
        loglevel=level,
        syslogsocket=_text(settings, "syslogsocket") or "auto",
        compat_socket=_compat_socket(settings),
        metrics=metrics_endpoint(settings.get("metrics")),
        dbmaxmatches=dbmaxmatches(settings.get("dbmaxmatches")),
        workers=workers(settings.get("workers")),
    )


def _compat_socket(settings: Mapping[str, Value]) -> Path | None:
    """``compat_socket``: an absolute path, or None when unset (or ``none``/``off``); what
    :func:`warden.config.validate.settings_problems` refuses is refused here too."""
    value = settings.get("compat_socket")
    problem = compat_socket_problem(value, settings.get("socket"))
    if problem is not None:
        raise problem
    text = _text(settings, "compat_socket")
    return None if text is None or text.lower() in _OFF else Path(text)
