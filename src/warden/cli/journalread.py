"""The journal as ``warden regex``'s LOG: ``systemd-journal[OPTIONS]``, as fail2ban-regex.

The options are those of ``backend = systemd[...]`` (``journalpath``, ``journalfiles``,
``journalflags``, ``namespace``). Entries are read from the oldest on, through the daemon's
own journal source, so the tester sees exactly the lines (``HOST IDENT[PID]: MESSAGE``) and
times a journal jail sees.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from warden.config.sourceopts import JournalBackend, journal_backend
from warden.errors import ConfigError

__all__ = ["JOURNAL_LOG", "is_journal_log", "journal_lines", "journal_options"]

#: the LOG argument that names the journal (with optional ``[options]``)
JOURNAL_LOG = "systemd-journal"


def is_journal_log(log: str) -> bool:
    """True when the LOG argument names the journal."""
    return log == JOURNAL_LOG or log.startswith(JOURNAL_LOG + "[")


def journal_options(log: str) -> JournalBackend:
    """The options of ``systemd-journal[...]``; ConfigError naming the LOG argument."""
    try:
        return journal_backend("systemd" + log[len(JOURNAL_LOG):])
    except ValueError as exc:
        raise ConfigError(f"LOG argument {log!r}: {exc}") from None


def journal_lines(log: str, matches: Sequence[str], *, encoding: str = "utf-8"
                  ) -> Iterator[tuple[str, float]]:
    """(line, time) of every journal entry matching ``matches``, oldest first."""
    # (imported here: the journal source brings the event loop's modules, which reading a
    # file does not need; warden regex and replay start faster without them)
    from warden.sources.journal import JournalSource  # noqa: PLC0415

    where = journal_options(log)
    source = JournalSource(matches, path=where.path, files=where.files, flags=where.flags,
                           namespace=where.namespace, since=0.0, encoding=encoding)
    try:
        while (batch := source.next_batch()) is not None:
            yield from zip(batch.lines, batch.times or [], strict=True)
    finally:
        source.close()
