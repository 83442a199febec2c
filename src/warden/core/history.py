"""Ban history: how often each address was banned, per jail (fail2ban's ``bips`` table).

``bantime.increment`` needs, for every ban and for every failure of a known offender, the
number of earlier bans and the time of the latest. One :class:`BanHistory` is shared by all
jails of a daemon (that is what ``bantime.overalljails`` reads); the daemon fills it from the
store at start (:meth:`BanHistory.load`) and the jails record each new ban in it.

It is bounded: at most ``max_addresses`` addresses, the least recently banned dropped first,
and :meth:`BanHistory.purge` drops entries older than a time (fail2ban's ``dbpurgeage``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

__all__ = ["BanHistory", "HistoryRecord", "Previous"]


class Previous(NamedTuple):
    """The earlier bans of an address: how many, and when the latest started."""

    bans: int
    last: float


class HistoryRecord(Protocol):
    """What :meth:`BanHistory.load` reads (``warden.store.StoredBan`` fits)."""

    @property
    def jail(self) -> str: ...
    @property
    def addr(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def count(self) -> int: ...


class BanHistory:
    """Earlier bans by address and jail."""

    __slots__ = ("_entries", "max_addresses")

    def __init__(self, max_addresses: int = 1_000_000) -> None:
        self.max_addresses = max_addresses
        # address -> {jail: (count, latest start)}; dict order = least recently banned first
        self._entries: dict[str, dict[str, Previous]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, addr: str, jail: str, overall: bool = False) -> Previous | None:
        """Earlier bans of ``addr`` in ``jail`` (``overall``: summed over every jail)."""
        jails = self._entries.get(addr)
        if not jails:
            return None
        if not overall:
            return jails.get(jail)
        return Previous(sum(p.bans for p in jails.values()), max(p.last for p in jails.values()))

    def record(self, addr: str, jail: str, count: int, start: float) -> None:
        """Note that ``addr`` was banned in ``jail`` at ``start``, its ``count``-th ban there."""
        entries = self._entries
        jails = entries.pop(addr, None)
        if jails is None:
            jails = {}
            if len(entries) >= self.max_addresses:
                del entries[next(iter(entries))]
        old = jails.get(jail)
        jails[jail] = Previous(max(count, old.bans if old else 0),
                               max(start, old.last if old else start))
        entries[addr] = jails

    def forget(self, addr: str, jail: str | None = None) -> None:
        """Drop the history of ``addr`` in ``jail`` (every jail if ``None``): a manual unban
        forgives, as in fail2ban."""
        jails = self._entries.get(addr)
        if jails is None:
            return
        if jail is None:
            jails.clear()
        else:
            jails.pop(jail, None)
        if not jails:
            del self._entries[addr]

    def load(self, records: Iterable[HistoryRecord]) -> None:
        """Add what the store remembers (any order; the latest of each address wins)."""
        for rec in sorted(records, key=lambda r: r.start):
            self.record(rec.addr, rec.jail, rec.count, rec.start)

    def purge(self, before: float) -> int:
        """Drop every entry whose latest ban started before ``before``; return how many."""
        dropped = 0
        for addr in list(self._entries):
            jails = self._entries[addr]
            for jail in [j for j, p in jails.items() if p.last < before]:
                del jails[jail]
                dropped += 1
            if not jails:
                del self._entries[addr]
        return dropped
