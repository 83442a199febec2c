"""The ``[Fleet]`` section of warden.conf (or warden.local) and the per-jail ``fleet`` option.

A host without a ``[Fleet]`` section has no fleet: :func:`read_fleet` returns ``None`` and
every jail's mode is ``none``. With the section, a jail shares its bans unless it says
otherwise (``fleet = bans | failures | both | none``). Every problem is a
:class:`~warden.errors.ConfigError` at the option's file:line; a broken ``[Fleet]`` section
leaves the host without a fleet (the jails still run).
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from warden.config.confset import ConfigSet, Value
from warden.core.filterdef import Origin
from warden.errors import ConfigError

if TYPE_CHECKING:  # the model holds a FleetConfig: import it only for the types
    from warden.config.model import JailConfig

__all__ = [
    "FLEET_MODES",
    "FLEET_OPTIONS",
    "FLEET_SECTION",
    "FleetConfig",
    "fleet_mode",
    "fleet_problems",
    "read_fleet",
]

FLEET_SECTION = "Fleet"
#: what a jail may share: its bans, its failure counts, both, or nothing
FLEET_MODES = ("bans", "failures", "both", "none")
#: the options of ``[Fleet]``
FLEET_OPTIONS = ("redis", "name", "password_file", "sentinels", "service", "cafile",
                 "certfile", "keyfile", "maxlen")
_SCHEMES = ("redis", "rediss", "unix")
_DEFAULT_MAXLEN = 100_000


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Where the fleet's Redis is and who this host is in it.

    ``redis`` is the URL as written (it may hold a password: never log it, use
    :attr:`shown`); ``sentinels`` are (host, port) pairs that know the master ``service``.
    ``maxlen`` bounds each jail's stream (approximately, ``XADD MAXLEN ~``).
    """

    redis: str
    name: str
    password_file: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    maxlen: int = _DEFAULT_MAXLEN

    @property
    def shown(self) -> str:
        """The URL without its password, for logs and status."""
        parts = urlsplit(self.redis)
        if parts.password is None:
            return self.redis
        user = f"{parts.username}:***@" if parts.username else ":***@"
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=user + host).geturl()


def _url_problem(url: str) -> str | None:
    """What is wrong with the ``redis`` URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in _SCHEMES:
        return (f"the scheme {parts.scheme or '(none)'!r} is not one of "
                "redis://, rediss:// (TLS) or unix://")
    if parts.scheme == "unix":
        if not parts.path.startswith("/"):
            return "a unix:// URL needs an absolute socket path (unix:///run/redis.sock)"
        return None
    if not parts.hostname:
        return "the URL names no host (redis://HOST:PORT/DB)"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range"
    db = parts.path.strip("/")
    if db and not db.isdigit():
        return f"the database {unquote(db)!r} is not a number (redis://HOST:PORT/0)"
    return None


def _sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """``host:port, host:port`` (commas or spaces) -> pairs; ValueError names the bad one."""
    found: list[tuple[str, int]] = []
    for item in text.replace(",", " ").split():
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not HOST:PORT")
        found.append((host, int(port)))
    return tuple(found)


def _secret_file_problem(path: str) -> str | None:
    """Why ``path`` cannot hold the Redis password (missing, or readable by others)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a file"
    if info.st_mode & 0o077:
        return (f"{path} may be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
                "make it readable by root only (chmod 600)")
    return None


def read_fleet(confset: ConfigSet | None) -> tuple[FleetConfig | None, list[ConfigError]]:
    """The ``[Fleet]`` section of warden.conf/.local (``confset``), or None without one;
    with every problem found, each at its file:line (with problems, the config is None)."""
    if confset is None or FLEET_SECTION not in confset.sections:
        return None, []
    problems: list[ConfigError] = []
    values: dict[str, Value] = {}
    for option in confset.own_options(FLEET_SECTION):
        raw = confset.sections[FLEET_SECTION][option]
        if option not in FLEET_OPTIONS:
            problems.append(ConfigError(
                f"[{FLEET_SECTION}] unknown option {option!r} (known: "
                f"{', '.join(FLEET_OPTIONS)})", file=raw.origin.file, line=raw.origin.line))
            continue
        try:
            found = confset.get(FLEET_SECTION, option)
        except ConfigError as exc:
            problems.append(exc)
            continue
        if found is not None and found.text.strip():
            values[option] = found

    def fail(option: str, message: str) -> None:
        where = values[option].origin if option in values else _section_origin(confset)
        problems.append(ConfigError(f"[{FLEET_SECTION}] {option}: {message}",
                                    file=where.file, line=where.line))

    url = values["redis"].text.strip() if "redis" in values else ""
    if not url:
        fail("redis", "missing: the fleet needs redis = redis://HOST:PORT/DB, "
                      "rediss://... or unix:///PATH")
    elif (why := _url_problem(url)) is not None:
        fail("redis", why)
    sentinels: tuple[tuple[str, int], ...] = ()
    if "sentinels" in values:
        try:
            sentinels = _sentinels(values["sentinels"].text)
        except ValueError as exc:
            fail("sentinels", f"{exc} (write host:port, host:port)")
    service = values["service"].text.strip() if "service" in values else None
    if sentinels and not service:
        fail("sentinels", "the sentinels need the master's name in service =")
    if service and not sentinels and "sentinels" not in values:
        fail("service", "a service name is only used with sentinels =")
    paths: dict[str, str] = {}
    for option in ("password_file", "cafile", "certfile", "keyfile"):
        if option not in values:
            continue
        path = values[option].text.strip()
        paths[option] = path
        why = (_secret_file_problem(path) if option in ("password_file", "keyfile")
               else None if os.path.isfile(path) else f"{path} is not a readable file")
        if why:
            fail(option, why)
    if ("cafile" in paths or "certfile" in paths) and not url.startswith("rediss://"):
        fail("cafile" if "cafile" in paths else "certfile",
             "certificates are only used with a rediss:// (TLS) URL")
    if ("certfile" in paths) != ("keyfile" in paths):
        fail("certfile" if "certfile" in paths else "keyfile",
             "a client certificate needs both certfile and keyfile")
    maxlen = _DEFAULT_MAXLEN
    if "maxlen" in values:
        text = values["maxlen"].text.strip()
        if not text.isdigit() or int(text) < 100:
            fail("maxlen", f"{text!r} is not a whole number of at least 100")
        else:
            maxlen = int(text)
    name = values["name"].text.strip() if "name" in values else socket.gethostname()
    if "name" in values and (not name.isprintable() or any(c.isspace() for c in name)):
        fail("name", f"{name!r}: a host name has no spaces or control characters")
    if problems:
        return None, problems
    return FleetConfig(redis=url, name=name, password_file=paths.get("password_file"),
                       sentinels=sentinels, service=service, cafile=paths.get("cafile"),
                       certfile=paths.get("certfile"), keyfile=paths.get("keyfile"),
                       maxlen=maxlen), []


def _section_origin(confset: ConfigSet) -> Origin:
    options = confset.sections.get(FLEET_SECTION, {})
    first = next(iter(options.values()), None)
    return first.origin if first is not None else Origin(confset.files[0] if confset.files
                                                         else "<warden.conf>")


def fleet_problems(cfg: JailConfig) -> list[ConfigError]:
    """The jail's ``fleet`` option, if it is not one of :data:`FLEET_MODES`."""
    text = cfg.fleet.strip().lower()
    if not text or text in FLEET_MODES:
        return []
    origin = cfg.origins.get("fleet")
    return [ConfigError(f"[{cfg.name}] fleet: must be one of {', '.join(FLEET_MODES)}, "
                        f"not {cfg.fleet!r}", file=origin.file if origin else None,
                        line=origin.line if origin else None)]


def fleet_mode(cfg: JailConfig, fleet: FleetConfig | None) -> str:
    """What the jail shares: ``none`` without a fleet, else its ``fleet`` option
    (``bans`` when it sets none)."""
    if fleet is None:
        return "none"
    return cfg.fleet.strip().lower() or "bans"
