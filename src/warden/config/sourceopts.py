"""The options of a jail's ``backend`` value that say where its lines come from.

``backend = systemd[journalpath=DIR, journalfiles=GLOBS, journalflags=N, namespace=NAME]``
reads another journal than the machine's system journal (a container's, a user's, a copied
one), as fail2ban does; ``backend = syslog[listen=ADDRESS]`` (warden's own) makes the jail
read what a syslog relay sends to a socket warden listens on. These functions check the
options and give them as typed values; the daemon hands them to the log sources, and
``config.validate`` reports their errors with file:line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warden.config.reference import parse_reference

__all__ = [
    "JOURNAL_OPTIONS",
    "JournalBackend",
    "SyslogBackend",
    "backend_name",
    "journal_backend",
    "syslog_backend",
]

#: the options of ``backend = systemd[...]``
JOURNAL_OPTIONS = ("journalpath", "journalfiles", "journalflags", "namespace")

# udp:HOST:PORT (udp:[V6]:PORT) or unix:/absolute/path
_UDP = re.compile(r"udp:(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d{1,5})")
_UNIX = re.compile(r"unix:(?P<path>/\S+)")
_MAX_PORT = 65535


def backend_name(backend: str) -> str:
    """The backend's name, before any ``[options]``, in lower case."""
    return backend.split("[", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class JournalBackend:
    """Which journal a ``backend = systemd`` jail reads.

    ``files`` are glob patterns (expanded by the source when it opens them); ``flags`` is
    None when not given: the system journal only when nothing else is named, otherwise
    every journal of the directory or files (as fail2ban).
    """

    path: str | None = None
    files: tuple[str, ...] = ()
    flags: int | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class SyslogBackend:
    """The socket a ``backend = syslog`` jail listens on (``udp:HOST:PORT``, ``unix:PATH``)."""

    listen: str


def _options(backend: str) -> dict[str, str]:
    return dict(parse_reference(backend).params)  # ValueError on malformed text


def journal_backend(backend: str) -> JournalBackend:
    """The options of ``systemd[...]``; ValueError naming the option that is wrong."""
    options = _options(backend)
    unknown = sorted(set(options) - set(JOURNAL_OPTIONS))
    if unknown:
        raise ValueError(f"unknown systemd backend option {unknown[0]!r}: use "
                         f"{', '.join(JOURNAL_OPTIONS)}")
    flags: int | None = None
    if "journalflags" in options:
        text = options["journalflags"].strip()
        try:
            flags = int(text, 0)
        except ValueError:
            raise ValueError(f"journalflags {text!r} is not an integer (sd_journal_open "
                             "flags, such as 1 for the local journal only)") from None
        if flags < 0:
            raise ValueError(f"journalflags {text!r} must not be negative")
    path = options.get("journalpath", "").strip() or None
    if path is not None and not path.startswith("/"):
        raise ValueError(f"journalpath {path!r} is not an absolute directory")
    files = tuple(options.get("journalfiles", "").split())
    if "journalfiles" in options and not files:
        raise ValueError("journalfiles is empty: give journal files or glob patterns")
    namespace = options.get("namespace", "").strip() or None
    return JournalBackend(path=path, files=files, flags=flags, namespace=namespace)


def syslog_backend(backend: str) -> SyslogBackend:
    """The options of ``syslog[listen=ADDRESS]``; ValueError naming what is wrong."""
    options = _options(backend)
    unknown = sorted(set(options) - {"listen"})
    if unknown:
        raise ValueError(f"unknown syslog backend option {unknown[0]!r}: use listen")
    listen = options.get("listen", "").strip()
    if not listen:
        raise ValueError("syslog needs listen=ADDRESS (udp:127.0.0.1:5514, udp:[::1]:5514 or "
                         "unix:/run/warden/log)")
    udp = _UDP.fullmatch(listen)
    if udp is not None:
        if int(udp["port"]) > _MAX_PORT:
            raise ValueError(f"listen {listen!r}: port beyond {_MAX_PORT}")
        return SyslogBackend(listen)
    if _UNIX.fullmatch(listen):
        return SyslogBackend(listen)
    raise ValueError(f"listen {listen!r}: use udp:HOST:PORT (udp:[::1]:PORT for IPv6) or "
                     "unix:/path/to/socket")
