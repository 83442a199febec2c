"""The systemd journal as a log source (``backend = systemd``, ``journalmatch``).

Read with the python ``systemd`` binding (Debian ``python3-systemd``, PyPI ``systemd-python``,
the ``journal`` extra), which wraps libsystemd's reader: the journal's file format is libsystemd's
business, not ours. Without the binding the source says so in one line and the file jails run on.

Entries become lines as fail2ban writes them (``HOST IDENT[PID]: MESSAGE``); their dates are not
in the text but in ``LogBatch.times`` (the sender's ``_SOURCE_REALTIME_TIMESTAMP`` where the entry
has one, else journald's realtime stamp, as fail2ban). Positions are journal cursors.
"""

from __future__ import annotations

import glob
import importlib
import shlex
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from warden.errors import SourceError
from warden.sources.base import JournalPosition, LogBatch, SourceState, SourceStatus
from warden.sources.lines import DEFAULT_MAX_LINE
from warden.sources.watch import ReadyFlag

__all__ = ["JournalSource", "available", "format_entry", "match_text", "parse_journalmatch"]

try:
    _journal: Any = importlib.import_module("systemd.journal")
    _MISSING: str | None = None
except ImportError as _exc:  # an optional extra: report it when a jail asks for the journal
    _journal = None
    _MISSING = str(_exc)

_SYSTEM_ONLY = 4  # SD_JOURNAL_SYSTEM: what fail2ban opens by default
_BATCH = 4096


def available() -> str | None:
    """``None`` when the journal can be read here, else why not (one line)."""
    if _journal is None:
        return ("backend = systemd needs the python systemd binding, which is not installed "
                f"({_MISSING}); install python3-systemd or pip install 'warden-ips[journal]'")
    return None


def parse_journalmatch(lines: Iterable[str]) -> list[list[str]]:
    """Split ``journalmatch`` lines into groups of ``FIELD=value`` terms.

    Terms of a group must all match; the groups are alternatives (a ``+`` starts a new group,
    and so does each new line, as in fail2ban).
    """
    groups: list[list[str]] = []
    for line in lines:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise SourceError(f"journalmatch {line!r}: {exc}") from None
        current: list[str] = []
        for word in words:
            if word == "+":
                if current:
                    groups.append(current)
                current = []
                continue
            field, eq, _ = word.partition("=")
            if not eq or not field or not field.replace("_", "").isalnum() \
                    or field != field.upper():
                raise SourceError(f"journalmatch term {word!r} is not FIELD=value "
                                  "(an upper-case journal field name, '=', a value)")
            current.append(word)
        if current:
            groups.append(current)
    return groups


def match_text(lines: Iterable[str]) -> str:
    """``journalmatch`` as fail2ban's ``status`` shows it: terms joined by spaces, groups by
    `` + ``."""
    return " + ".join(" ".join(group) for group in parse_journalmatch(lines))


def _text(value: object, encoding: str) -> str:
    if isinstance(value, bytes):
        return value.decode(encoding, "replace")
    if isinstance(value, list):
        return " ".join(_text(v, encoding) for v in value)
    return str(value)


def format_entry(entry: Mapping[str, Any], *, encoding: str = "utf-8") -> str:
    """The log line fail2ban makes of a journal entry: ``HOST IDENT[PID]: MESSAGE``.

    Values may be converted (``str``, ``int``, ``timedelta``) or raw ``bytes``, as the binding
    gives them.
    """
    parts: list[str] = []
    host = entry.get("_HOSTNAME")
    if host:
        parts.append(_text(host, encoding))
    ident = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM")
    if ident:
        tag = _text(ident, encoding)
        pid = entry.get("SYSLOG_PID") or entry.get("_PID")
        if pid:
            text = _text(pid, encoding)
            try:
                tag += f"[{int(text, 0)}]"
            except ValueError:
                tag += f"[{text}]"
        tag += ":"
        parts.append(tag)
        if tag == "kernel:":
            seconds = _monotonic(entry)
            if seconds is not None:
                parts.append(f"[{seconds:12.6f}]")
    parts.append(_text(entry.get("MESSAGE", ""), encoding))
    return " ".join(parts).replace("\n", "\\n")


def _monotonic(entry: Mapping[str, Any]) -> float | None:
    """Seconds since boot of a kernel entry (source stamp first, as fail2ban)."""
    mono: Any = entry.get("_SOURCE_MONOTONIC_TIMESTAMP") or entry.get("__MONOTONIC_TIMESTAMP")
    if isinstance(mono, tuple):  # (stamp, boot id)
        mono = mono[0]
    if hasattr(mono, "total_seconds"):
        return float(mono.total_seconds())
    if isinstance(mono, bytes | str | int):  # raw microseconds
        try:
            return int(mono) / 1e6
        except ValueError:
            return None
    return None


def _epoch(value: object) -> float:
    stamp = getattr(value, "timestamp", None)
    if callable(stamp):
        return float(stamp())
    return float(value) / 1e6 if isinstance(value, int) else 0.0  # microseconds


class JournalSource:
    """Entries of the journal that match ``journalmatch``; a :class:`LogSource`.

    ``path`` (a directory), ``files`` (glob patterns, expanded here) or ``namespace`` read
    another journal than the machine's, opened with ``flags`` (default: the system journal only
    when nothing else is named, else every journal found there, as fail2ban): the options of
    ``backend = systemd[...]`` (``config.sourceopts.JournalBackend``).
    Start: after ``cursor`` if given (a restart), else at ``since`` (epoch seconds: the first
    start reads the last findtime), else at the end (only new entries).
    """

    def __init__(
        self,
        matches: Sequence[str] = (),
        *,
        path: str | None = None,
        files: Sequence[str] = (),
        flags: int | None = None,
        namespace: str | None = None,
        cursor: JournalPosition | None = None,
        since: float | None = None,
        encoding: str = "utf-8",
        max_line: int = DEFAULT_MAX_LINE,
        rescan: float = 5.0,
    ) -> None:
        problem = available()
        if problem is not None:
            raise SourceError(problem)
        groups = parse_journalmatch(matches)
        self._encoding = encoding
        self._max_line = max_line
        self._rescan = rescan
        where = path or (" ".join(files) if files else None) or namespace
        self._name = "journal" if where is None else f"journal:{where}"
        kwargs: dict[str, Any] = {}
        if files:
            found = sorted({name for pattern in files for name in glob.glob(pattern)})
            if not found:
                raise SourceError(f"journalfiles {' '.join(files)!r} matches no file")
            kwargs["files"] = found
        elif path is not None:
            kwargs["path"] = path
        elif namespace is not None:
            kwargs["namespace"] = namespace
        if flags is not None:
            kwargs["flags"] = flags
        elif not kwargs:
            kwargs["flags"] = _SYSTEM_ONLY
        try:
            self._reader = _journal.Reader(**kwargs)
        except (OSError, ValueError) as exc:
            detail = getattr(exc, "strerror", None) or exc
            raise SourceError(f"cannot open the journal {where or ''}: {detail}") from None
        reader = self._reader
        try:
            for i, group in enumerate(groups):
                if i:
                    reader.add_disjunction()
                for term in group:
                    reader.add_match(term)
        except (ValueError, OSError) as exc:
            self._reader.close()
            raise SourceError(f"journalmatch {groups!r} was refused: {exc}") from None
        self._position: JournalPosition | None = cursor
        self._raw = all(hasattr(reader, name) for name in (
            "_next", "_get_all", "_get_realtime", "_get_cursor", "_get_monotonic"))
        self._start(cursor, since)
        self._flag = ReadyFlag(reader.fileno())
        self._closed = False
        self._error: str | None = None

    def _start(self, cursor: JournalPosition | None, since: float | None) -> None:
        reader = self._reader
        if cursor is not None:
            try:
                reader.seek_cursor(cursor.cursor)
                entry = reader.get_next()
                if entry and not reader.test_cursor(cursor.cursor):
                    reader.get_previous()  # the cursor's entry is gone: start just after it
                return
            except (OSError, ValueError):
                pass  # a cursor of another machine or rotated away: fall back to the date
        if since is not None:
            reader.seek_realtime(since)
        else:
            reader.seek_tail()
            reader.get_previous()

    def status(self) -> list[SourceStatus]:
        """One entry for the journal."""
        state = SourceState.ERROR if self._error else SourceState.OK
        return [SourceStatus(self._name, state, self._position, 0, self._error)]

    def read_now(self) -> list[LogBatch]:
        """Every matching entry not read yet, in batches."""
        out: list[LogBatch] = []
        while True:
            batch = self._read()
            if batch is None:
                return out
            out.append(batch)

    def next_batch(self) -> LogBatch | None:
        """The next batch of matching entries (None: none yet), without waiting."""
        return self._read()

    def _read(self) -> LogBatch | None:
        lines: list[str] = []
        times: list[float] = []
        cap = self._max_line
        enc = self._encoding
        reader = self._reader
        cursor: object = None
        if self._raw:
            # the binding's low-level calls: fields stay bytes and only the ones a line needs
            # are decoded (its converters decode every field of every entry, 3x slower)
            for _ in range(_BATCH):
                if not reader._next():
                    break
                entry = reader._get_all()
                ident = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM")
                if ident == b"kernel":
                    entry["__MONOTONIC_TIMESTAMP"] = reader._get_monotonic()
                line = format_entry(entry, encoding=enc)
                lines.append(line[:cap] if len(line) > cap else line)
                # the sender's own time first, as fail2ban (journald's is when it was stored)
                source = entry.get("_SOURCE_REALTIME_TIMESTAMP")
                times.append(int(source) / 1e6 if source and source.isdigit()
                             else reader._get_realtime() / 1e6)
            if lines:
                cursor = reader._get_cursor()
        else:
            for _ in range(_BATCH):
                entry = reader.get_next()
                if not entry:
                    break
                line = format_entry(entry, encoding=enc)
                lines.append(line[:cap] if len(line) > cap else line)
                times.append(_epoch(entry.get("_SOURCE_REALTIME_TIMESTAMP")
                                    or entry.get("__REALTIME_TIMESTAMP")))
                cursor = entry.get("__CURSOR")
        if not lines:
            return None
        if cursor is not None:
            self._position = JournalPosition(str(cursor))
        return LogBatch(self._name, lines, self._position, times)

    async def batches(self) -> AsyncIterator[LogBatch]:
        """Yield batches of matching entries as the journal receives them."""
        while not self._closed:
            batch = self._read()
            if batch is not None:
                yield batch
                continue
            await self._flag.wait(self._rescan)
            if self._closed:
                return
            self._reader.process()  # acknowledge the wakeup (and notice rotated files)

    def close(self) -> None:
        """Close the journal; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._flag.detach()
            self._reader.close()
