"""The dry-run twin of the ban store: the same behaviour, kept in memory only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from warden.store.model import (
    BanKey,
    HistoryEntry,
    PositionData,
    StoredBan,
    TrustEntry,
    bounded_line,
)

__all__ = ["MemoryBanStore"]


class MemoryBanStore:
    """:class:`~warden.store.model.BanStore` in memory (dry runs and tests); nothing survives."""

    def __init__(self) -> None:
        """An empty store."""
        self._bans: dict[BanKey, StoredBan] = {}
        self._history: list[tuple[str, str, float, float, bool]] = []
        self._positions: dict[str, PositionData] = {}
        self._ends: dict[BanKey, float] = {}
        self._cursors: dict[str, str] = {}
        self._outbox: list[tuple[int, str]] = []
        self._origins: dict[BanKey, str] = {}
        self._matches: dict[BanKey, StoredBan] = {}
        self._trust: dict[BanKey, float] = {}
        self._seq = 0

    def add_bans(self, bans: Sequence[StoredBan]) -> None:
        """Record ``bans`` as active and in the history."""
        for ban in bans:
            if ban.matches:
                ban = replace(ban, matches=tuple(bounded_line(x) for x in ban.matches))
                self._matches[ban.key] = replace(ban, members=())
            self._bans[ban.key] = replace(ban, matches=())
            self._history.append((ban.jail, ban.addr, ban.start, ban.bantime, ban.counted))

    def remove_bans(self, keys: Iterable[BanKey], *, forget: bool = False,
                    at: float | None = None) -> None:
        """End the active bans named by ``keys`` (``forget``: and their history; ``at``:
        record when they ended)."""
        dropped = set()
        for key in keys:
            self._bans.pop(key, None)
            dropped.add(key)
            if at is not None:
                self._ends[key] = max(at, self._ends.get(key, at))
        if forget:
            self._history = [h for h in self._history if (h[0], h[1]) not in dropped]
            for key in dropped:
                self._matches.pop(key, None)

    def ends(self, jails: Iterable[str]) -> dict[BanKey, float]:
        """When the bans of ``jails`` last ended."""
        names = set(jails)
        return {key: at for key, at in self._ends.items() if key[0] in names}

    def active_bans(self, now: float) -> list[StoredBan]:
        """Every ban still active at ``now``, oldest first."""
        live = [self._with_lines(b) for b in self._bans.values()
                if b.bantime < 0 or b.start + b.bantime > now]
        return sorted(live, key=lambda b: b.start)

    def _with_lines(self, ban: StoredBan) -> StoredBan:
        kept = self._matches.get(ban.key)
        if kept is None or kept.start != ban.start:
            return ban
        return replace(ban, matches=kept.matches)

    def matches_of(self, addr: str) -> list[StoredBan]:
        """The latest ban of ``addr`` in each jail that kept its matched lines."""
        return sorted((b for b in self._matches.values() if b.addr == addr),
                      key=lambda b: b.start)

    def history(self, addr: str, jail: str | None, since: float) -> HistoryEntry | None:
        """How often ``addr`` was banned since ``since`` (in ``jail``, or anywhere)."""
        hits = [h for h in self._history
                if h[1] == addr and h[2] >= since and (jail is None or h[0] == jail)]
        if not hits:
            return None
        last = max(hits, key=lambda h: h[2])
        return HistoryEntry(addr, len(hits), last[2], last[3])

    def load_history(self, since: float) -> list[StoredBan]:
        """The latest ban of every (jail, address) since ``since``, with its ban count."""
        latest: dict[BanKey, StoredBan] = {}
        for jail, addr, start, bantime, counted in sorted(self._history, key=lambda h: h[2]):
            if start < since:
                continue
            old = latest.get((jail, addr))
            latest[(jail, addr)] = StoredBan(jail, addr, start, bantime,
                                             old.count + 1 if old else 1, counted=counted)
        return sorted(latest.values(), key=lambda b: b.start)

    def purge_history(self, before: float) -> int:
        """Drop history entries that started before ``before``."""
        kept = [h for h in self._history if h[2] >= before]
        dropped = len(self._history) - len(kept)
        self._history = kept
        self._ends = {key: at for key, at in self._ends.items() if at >= before}
        self._matches = {key: b for key, b in self._matches.items()
                         if b.start >= before or key in self._bans}
        return dropped

    def save_positions(self, positions: Mapping[str, PositionData]) -> None:
        """Remember each log's read position."""
        for key, data in positions.items():
            self._positions[key] = dict(data)

    def positions(self) -> dict[str, PositionData]:
        """Every remembered log position."""
        return dict(self._positions)

    def fleet_cursors(self) -> dict[str, str]:
        """The last fleet entry ID read, by stream."""
        return dict(self._cursors)

    def save_fleet_cursors(self, cursors: Mapping[str, str]) -> None:
        """Remember the last entry ID read of each stream."""
        self._cursors.update(cursors)

    def fleet_origins(self) -> dict[BanKey, str]:
        """The host that decided each ban taken from the fleet."""
        return dict(self._origins)

    def save_fleet_origins(self, origins: Mapping[BanKey, str | None]) -> None:
        """Remember (a host name) or forget (``None``) the origin of each ban."""
        for key, origin in origins.items():
            if origin is None:
                self._origins.pop(key, None)
            else:
                self._origins[key] = origin

    def save_trust(self, entries: Sequence[TrustEntry], before: float | None = None) -> None:
        """Remember the logins (the later time wins); drop those older than ``before``."""
        for entry in entries:
            key = (entry.jail, entry.key)
            self._trust[key] = max(entry.time, self._trust.get(key, entry.time))
        if before is not None:
            self._trust = {k: at for k, at in self._trust.items() if at >= before}

    def trust(self, since: float) -> list[TrustEntry]:
        """The remembered logins since ``since``, oldest first."""
        return sorted((TrustEntry(jail, key, at) for (jail, key), at in self._trust.items()
                       if at >= since), key=lambda e: e.time)

    def outbox_add(self, entries: Sequence[str]) -> None:
        """Queue fleet entries to publish."""
        for entry in entries:
            self._seq += 1
            self._outbox.append((self._seq, entry))

    def outbox(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` queued fleet entries."""
        return self._outbox[:limit]

    def outbox_remove(self, through: int) -> None:
        """Drop the queued fleet entries up to ``through``."""
        self._outbox = [item for item in self._outbox if item[0] > through]

    def outbox_size(self) -> int:
        """How many fleet entries wait."""
        return len(self._outbox)

    def close(self) -> None:
        """Nothing to release."""
