"""What the store keeps: ban records, history entries, log positions, and the ``BanStore`` seam."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MAX_MATCH_BYTES", "BanKey", "BanStore", "HistoryEntry", "PositionData", "StoredBan",
           "TrustEntry", "bounded_line"]

#: a log position as the source describes it (a JSON-ready dictionary, opaque to the store)
PositionData = Mapping[str, object]

#: (jail, address) identifies one active ban
BanKey = tuple[str, str]

#: the longest matched log line a store keeps, in UTF-8 bytes (longer ones are cut)
MAX_MATCH_BYTES = 1024


def bounded_line(line: str, limit: int = MAX_MATCH_BYTES) -> str:
    """``line`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    if len(line) * 4 <= limit:
        return line
    data = line.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return line
    return data[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True, slots=True)
class StoredBan:
    """One ban: ``bantime`` seconds from ``start`` (``bantime < 0``: forever).

    ``count`` is how many times the address was banned in this jail so far, this ban included
    (the ``bantime.increment`` policies grow with it). ``matches`` are the log lines that led
    to it (fail2ban's ``dbmaxmatches`` of them at most, each cut to :data:`MAX_MATCH_BYTES`):
    kept with the ban so that they survive a restart (``<matches>`` of restored bans,
    ``warden explain``); a ban without lines keeps none (a manual ban, a fleet ban).
    ``members``: of a network banned by escalation (``escalate``), the banned addresses
    inside it that made the jail ban it (kept while the ban is active, for ``explain`` and
    the escalation groups after a restart). ``counted``: the jail banned it for failures it
    counted (False: by hand, or from the fleet); only those go into escalation groups, live
    and rebuilt after a restart alike.
    """

    jail: str
    addr: str
    start: float
    bantime: float
    count: int = 1
    matches: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    counted: bool = True

    @property
    def key(self) -> BanKey:
        """The (jail, address) pair this ban is filed under."""
        return (self.jail, self.addr)

    @property
    def permanent(self) -> bool:
        """True if the ban never expires."""
        return self.bantime < 0

    @property
    def end(self) -> float | None:
        """When the ban ends (epoch), ``None`` if never."""
        return None if self.bantime < 0 else self.start + self.bantime

    def remaining(self, now: float) -> float | None:
        """Seconds left at ``now`` (never below 0), ``None`` if permanent."""
        end = self.end
        return None if end is None else max(0.0, end - now)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """The ban history of one address: how often it was banned and the latest ban."""

    addr: str
    count: int
    last_start: float
    last_bantime: float


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """The latest successful login (``trustsuccess``) of ``key`` (an address, or its counting
    network) seen by ``jail``, at ``time``."""

    jail: str
    key: str
    time: float


class BanStore(Protocol):
    """The durable state of the daemon. Every method is one transaction.

    Bans are recorded before they are enforced; :meth:`add_bans` takes a whole burst at once.
    """

    def add_bans(self, bans: Sequence[StoredBan]) -> None:
        """Record ``bans`` as active (replacing a ban of the same key) and in the history."""

    def remove_bans(self, keys: Iterable[BanKey], *, forget: bool = False,
                    at: float | None = None) -> None:
        """End the active bans named by ``keys``; with ``forget`` also drop their history
        (a manual unban forgives, as in fail2ban). With ``at`` also record that each ban
        ended then (kept until the history purge, even when ``forget`` drops the history):
        the evidence that lets a restart remove a kernel element the store unbanned."""

    def ends(self, jails: Iterable[str]) -> dict[BanKey, float]:
        """When the bans of ``jails`` last ended, by (jail, address)."""

    def active_bans(self, now: float) -> list[StoredBan]:
        """Every ban still active at ``now`` (permanent ones included), with its matched
        lines."""

    def matches_of(self, addr: str) -> list[StoredBan]:
        """The latest ban of ``addr`` in every jail that kept its matched lines (active or
        not, until the history purge drops it or a manual unban forgets it)."""

    def history(self, addr: str, jail: str | None, since: float) -> HistoryEntry | None:
        """Bans of ``addr`` started at or after ``since``: in ``jail``, or in any jail if None."""

    def load_history(self, since: float) -> list[StoredBan]:
        """The latest ban of every (jail, address) started at or after ``since``; its
        ``count`` is the number of bans of that address in that jail so far."""

    def purge_history(self, before: float) -> int:
        """Drop history (and end records) older than ``before``; return the number of history
        entries dropped."""

    def save_positions(self, positions: Mapping[str, PositionData]) -> None:
        """Remember where each log (by its key, e.g. the path) was read up to."""

    def positions(self) -> dict[str, PositionData]:
        """Every remembered log position, by key."""

    def fleet_cursors(self) -> dict[str, str]:
        """The last fleet stream entry ID read, by stream key (a host catches up from it)."""

    def save_fleet_cursors(self, cursors: Mapping[str, str]) -> None:
        """Remember the last entry ID read of each stream in ``cursors``."""

    def fleet_origins(self) -> dict[BanKey, str]:
        """The host that decided each ban taken from the fleet, by (jail, address)."""

    def save_fleet_origins(self, origins: Mapping[BanKey, str | None]) -> None:
        """Remember the origin of each ban in ``origins`` (``None``: forget it)."""

    def save_trust(self, entries: Sequence[TrustEntry], before: float | None = None) -> None:
        """Remember each entry's login time (the later one wins for a key); with ``before``
        also drop the logins older than that (no jail trusts them any more)."""

    def trust(self, since: float) -> list[TrustEntry]:
        """The remembered logins at or after ``since``, oldest first."""

    def outbox_add(self, entries: Sequence[str]) -> None:
        """Queue fleet entries (opaque text) to publish, after those already queued."""

    def outbox(self, limit: int) -> list[tuple[int, str]]:
        """The oldest ``limit`` queued fleet entries with their sequence numbers, in order."""

    def outbox_remove(self, through: int) -> None:
        """Drop the queued fleet entries up to sequence number ``through`` (published)."""

    def outbox_size(self) -> int:
        """How many fleet entries wait to be published."""

    def close(self) -> None:
        """Flush and release the store."""
