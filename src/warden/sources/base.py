"""The values every log source speaks: batches of lines, positions, status, and the protocol.

A source turns a log (files, the journal) into :class:`LogBatch` values: decoded lines plus the
position *after* them, so the daemon can store that position once the batch is handled and a
restart resumes exactly there. Sources never store anything themselves (they do not import the
store); positions are plain frozen values with a JSON-friendly dictionary form.
"""

from __future__ import annotations

import codecs
import enum
import locale
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from warden.errors import SourceError

__all__ = [
    "BACKENDS",
    "FilePosition",
    "JournalPosition",
    "LogBatch",
    "LogSource",
    "Position",
    "SourceState",
    "SourceStatus",
    "position_from_dict",
    "resolve_backend",
    "resolve_encoding",
]

# fail2ban's backend values and what warden runs for them. pyinotify and gamin were Python
# wrappers of the kernel's change notification; warden binds the kernel directly.
BACKENDS: Mapping[str, str] = {
    "auto": "auto",
    "polling": "polling",
    "inotify": "inotify",
    "pyinotify": "inotify",
    "gamin": "inotify",
    "kqueue": "kqueue",
    "systemd": "systemd",
    "syslog": "syslog",  # warden's own: a socket a syslog relay sends to (sources.syslog)
}


def resolve_backend(name: str, *, platform: str | None = None) -> str:
    """Map a jail's ``backend`` value to ``inotify``, ``kqueue``, ``polling``, ``systemd`` or
    ``syslog``.

    ``auto`` picks the kernel's change notification of ``platform`` (default: this machine):
    inotify on Linux, kqueue on the BSDs and macOS, polling elsewhere. A value with options
    (``systemd[journalflags=1]``) is accepted; only the name before ``[`` is looked at.
    """
    base = name.split("[", 1)[0].strip().lower()
    if base not in BACKENDS:
        raise SourceError(
            f"unknown backend {name!r}: use one of auto, polling, inotify, kqueue, systemd, "
            "syslog"
        )
    resolved = BACKENDS[base]
    if resolved != "auto":
        return resolved
    plat = sys.platform if platform is None else platform
    if plat.startswith("linux"):
        return "inotify"
    if "bsd" in plat or plat == "darwin":
        return "kqueue"
    return "polling"


def resolve_encoding(name: str) -> str:
    """Return the codec name for a jail's ``logencoding`` (``auto``: the locale's encoding).

    Lines are split on the byte ``\\n`` before decoding, so only encodings that write ``\\n``
    as that one byte (UTF-8, Latin-1, the other ASCII supersets) can be read.
    """
    enc = locale.getpreferredencoding(False) if name.strip().lower() == "auto" else name.strip()
    try:
        info = codecs.lookup(enc)
    except LookupError:
        raise SourceError(f"unknown logencoding {name!r}: use a codec name such as utf-8") from None
    if "\n".encode(info.name, "replace") != b"\n":
        raise SourceError(
            f"logencoding {name!r} does not write a newline as one byte; "
            "use an ASCII-compatible encoding such as utf-8 or latin-1"
        )
    return info.name


@dataclass(frozen=True, slots=True)
class FilePosition:
    """Where reading of one log file stopped.

    The file is recognised by its device and inode and by a digest of its first bytes (an inode
    is reused after rotation, a head is not): ``head_len`` bytes hashed to ``head``. ``offset``
    is the byte offset just after the last complete line handed out.
    """

    path: str
    offset: int
    dev: int = 0
    ino: int = 0
    head: str = ""
    head_len: int = 0

    def as_dict(self) -> dict[str, object]:
        """Plain dictionary (JSON-ready) for the store."""
        return {"kind": "file", "path": self.path, "offset": self.offset, "dev": self.dev,
                "ino": self.ino, "head": self.head, "head_len": self.head_len}


@dataclass(frozen=True, slots=True)
class JournalPosition:
    """Where reading of the systemd journal stopped: the cursor of the last entry handed out."""

    cursor: str

    def as_dict(self) -> dict[str, object]:
        """Plain dictionary (JSON-ready) for the store."""
        return {"kind": "journal", "cursor": self.cursor}


Position = FilePosition | JournalPosition


def position_from_dict(data: Mapping[str, object]) -> Position:
    """Rebuild a position from :meth:`FilePosition.as_dict` / :meth:`JournalPosition.as_dict`."""
    try:
        if data["kind"] == "journal":
            return JournalPosition(str(data["cursor"]))
        if data["kind"] == "file":
            return FilePosition(
                path=str(data["path"]), offset=_int(data["offset"]), dev=_int(data["dev"]),
                ino=_int(data["ino"]), head=str(data["head"]), head_len=_int(data["head_len"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"stored log position is damaged ({exc}); reading restarts") from None
    raise SourceError(f"stored log position of unknown kind {data.get('kind')!r}")


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Lines read in one go from one log, and the position after the last of them.

    ``source`` is the file's path (as matched by the jail's ``logpath``) or ``journal``.
    ``times`` is set when the log carries its own timestamps beside the text (the journal):
    one epoch value per line. File lines carry their dates in the text.
    """

    source: str
    lines: list[str]
    position: Position | None
    times: list[float] | None = None


class SourceState(enum.Enum):
    """What ``status`` shows for a log."""

    OK = "ok"
    MISSING = "missing"  # the file does not exist (yet); it is watched for
    ERROR = "error"  # it exists but cannot be read (permissions, a directory, I/O error)
    RESTARTING = "restarting"  # the source failed and waits for its backoff to end
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One log's line in ``status``."""

    path: str
    state: SourceState
    position: Position | None = None
    restarts: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain dictionary (JSON-ready) for the control protocol."""
        return {"path": self.path, "state": self.state.value,
                "position": None if self.position is None else self.position.as_dict(),
                "restarts": self.restarts, "error": self.error}


@runtime_checkable
class LogSource(Protocol):
    """A reader of one or more logs, driven by the daemon's event loop.

    ``batches`` yields as lines arrive, forever (until ``close``); it raises
    :class:`~warden.errors.SourceError` (or ``OSError``) when the source as a whole fails, and
    the supervisor then restarts it with backoff. Problems of one file (missing, unreadable)
    are not failures: they show in ``status`` and the other files go on.
    """

    def batches(self) -> AsyncIterator[LogBatch]:
        """Yield batches of new lines as they are written."""
        ...

    def status(self) -> list[SourceStatus]:
        """The state of every log this source reads or waits for."""
        ...

    def close(self) -> None:
        """Release files and kernel watches; safe to call twice."""
        ...
