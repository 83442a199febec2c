"""The active bans of one jail (fail2ban's ``BanManager``), with a heap of ban ends so that
finding the bans to lift costs only those lifted."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from warden.core.addr import Target

__all__ = ["ActiveBan", "BanList", "ends_later"]


def ends_later(a: float | None, b: float | None) -> bool:
    """True if an end ``a`` is later than ``b`` (``None`` is forever)."""
    if b is None:
        return False
    return a is None or a > b


class ActiveBan:
    """One active ban: since ``time`` until ``until`` (``None``: forever). ``key`` is its id
    in the history; ``count`` the number of this ban in the jail."""

    __slots__ = ("bantime", "count", "key", "seq", "time", "until")

    def __init__(self, key: str, time: float, until: float | None, *, count: int) -> None:
        self.key = key
        self.time = time
        self.until = until
        self.bantime = -1.0 if until is None else until - time
        self.count = count
        self.seq = 0  # which heap entry is current (older ones are skipped)


class BanList:
    """Active bans by target; ``total`` counts every ban ever added (fail2ban's ban total)."""

    __slots__ = ("_bans", "_heap", "_keys", "_nets", "_seq", "total")

    def __init__(self) -> None:
        self._bans: dict[Target, ActiveBan] = {}
        # how many network bans (wider than one address) of each (version, prefix length)
        self._nets: dict[tuple[int, int], int] = {}
        # the target of each ban by its key (a failure id): found without parsing the id
        self._keys: dict[str, Target] = {}
        self._heap: list[tuple[float, int, Target]] = []
        self._seq = 0
        self.total = 0

    def __len__(self) -> int:
        return len(self._bans)

    def __contains__(self, target: object) -> bool:
        return target in self._bans

    def __iter__(self) -> Iterator[Target]:
        return iter(self._bans)

    def get(self, target: Target) -> ActiveBan | None:
        """The active ban of exactly ``target``, if any."""
        return self._bans.get(target)

    def target_of(self, key: str) -> Target | None:
        """The banned target whose ban has the key ``key``, if any."""
        return self._keys.get(key)

    def items(self) -> list[tuple[Target, ActiveBan]]:
        """Every active ban, the oldest first."""
        return sorted(self._bans.items(), key=lambda kv: kv[1].time)

    def put(self, target: Target, ban: ActiveBan) -> None:
        """Add ``ban`` (replacing one of the same target, which then does not count again)."""
        old = self._bans.get(target)
        if old is None:
            self.total += 1
            self._count_net(target, 1)
        else:
            self._forget_key(old, target)
        self._bans[target] = ban
        self._keys[ban.key] = target
        self._schedule(target, ban)

    def prolong(self, target: Target, until: float | None) -> ActiveBan:
        """Make the ban of ``target`` end at ``until`` instead."""
        ban = self._bans[target]
        ban.until = until
        ban.bantime = -1.0 if until is None else until - ban.time
        self._schedule(target, ban)
        return ban

    def _schedule(self, target: Target, ban: ActiveBan) -> None:
        self._seq += 1
        ban.seq = self._seq
        if ban.until is not None:
            heapq.heappush(self._heap, (ban.until, self._seq, target))

    def pop(self, target: Target) -> ActiveBan | None:
        """Remove and return the ban of ``target`` (its heap entry is skipped later)."""
        ban = self._bans.pop(target, None)
        if ban is not None:
            self._forget_key(ban, target)
            self._count_net(target, -1)
        return ban

    def _count_net(self, target: Target, delta: int) -> None:
        if isinstance(target, str) or target.prefixlen == target.max_prefixlen:
            return
        key = (target.version, target.prefixlen)
        left = self._nets.get(key, 0) + delta
        if left > 0:
            self._nets[key] = left
        else:
            self._nets.pop(key, None)

    def covering(self, target: Target) -> tuple[Target, ActiveBan] | None:
        """The active ban of a network wider than ``target`` that holds it, if any (the one
        ending last when several do)."""
        if isinstance(target, str) or not self._nets:
            return None
        best: tuple[Target, ActiveBan] | None = None
        value = int(target.network_address)
        for version, prefix in self._nets:
            if version != target.version or prefix >= target.prefixlen:
                continue
            outer = type(target)((value, prefix), strict=False)
            ban = self._bans.get(outer)
            if ban is not None and (best is None or ends_later(ban.until, best[1].until)):
                best = (outer, ban)
        return best

    def _forget_key(self, ban: ActiveBan, target: Target) -> None:
        if self._keys.get(ban.key) == target:
            del self._keys[ban.key]

    def clear(self) -> list[tuple[Target, ActiveBan]]:
        """Remove every ban; return them."""
        removed = list(self._bans.items())
        self._bans.clear()
        self._nets.clear()
        self._heap.clear()
        self._keys.clear()
        return removed

    def expire(self, now: float) -> list[Target]:
        """Remove and return the bans that ended before ``now`` (fail2ban: ``now > end``)."""
        heap, bans = self._heap, self._bans
        ended: list[Target] = []
        while heap and heap[0][0] < now:
            _until, seq, target = heapq.heappop(heap)
            ban = bans.get(target)
            if ban is not None and ban.seq == seq:  # else unbanned or prolonged since
                del bans[target]
                self._forget_key(ban, target)
                self._count_net(target, -1)
                ended.append(target)
        return ended

    def next_expiry(self) -> float | None:
        """When the next ban ends, ``None`` if none will."""
        heap, bans = self._heap, self._bans
        while heap:
            until, seq, target = heap[0]
            ban = bans.get(target)
            if ban is not None and ban.seq == seq:
                return until
            heapq.heappop(heap)
        return None
