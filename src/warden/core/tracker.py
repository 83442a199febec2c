"""Failures per address: an exact ``findtime`` sliding window with the ``maxretry`` rule.

fail2ban keeps one ticket per address whose count it *estimates* once the first failure
leaves the window (``FailTicket.adjustTime`` scales the count by the rate). warden counts
exactly: an address reaches ``maxretry`` when ``maxretry`` failures lie within ``findtime``
of its newest one, i.e. in ``(newest - findtime, newest]`` as fail2ban's clean-up keeps them;
failures at the very time of the newest always count together (so ``findtime = 0`` still
counts simultaneous failures, as fail2ban does). When it does, its failures are handed out as
a :class:`Ticket` and
forgotten, as fail2ban's ``toBan`` does: counting starts again from zero.

Memory is what matters here (a flood brings millions of distinct addresses). An address costs
one dictionary slot, its id string (shared with the filter) and its failure times. Without
``maxmatches`` (no action prints log lines) those are the bare time of a single failure, or a
tuple of times sorted, and equal times share one float object (a flood logs many failures in
the same second), so an address with one failure costs no more than its slot and id. With
``maxmatches`` they are one flat tuple ``(time1, lines1, time2, lines2, ...)`` sorted by time,
where ``lines`` is ``None``, the one log line of the failure, or a tuple of lines. At most
``maxretry - 1`` failures are ever kept per address. The dictionary is ordered by last update;
past ``max_tracked`` addresses the least recently updated are evicted in batches (counted in
:attr:`Tracker.evicted`), and :meth:`Tracker.expire` drops addresses from the front while their
newest failure is out of the window.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from itertools import islice
from typing import NamedTuple, cast

__all__ = ["Ticket", "Tracker"]

_Lines = str | tuple[str, ...] | None
# one address' failures: a bare time, a tuple of times, or (time, lines) pairs flattened
_Entry = float | tuple[float | _Lines, ...]


class Ticket(NamedTuple):
    """An address that reached ``maxretry``: its newest failure time, the number of failures in
    the window, and the log lines of those failures (at most ``maxmatches``, the latest)."""

    time: float
    failures: int
    matches: tuple[str, ...]


def _lines(matches: tuple[str, ...], maxmatches: int) -> _Lines:
    if not maxmatches or not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    return matches[-maxmatches:]


class Tracker:
    """Failure windows of every address of one jail (keys are failure ids)."""

    __slots__ = ("_batch", "_entries", "_last", "evicted", "findtime", "max_tracked",
                 "maxmatches", "maxretry")

    def __init__(self, maxretry: int, findtime: float, maxmatches: int = 5,
                 max_tracked: int = 200_000) -> None:
        self.maxretry = maxretry
        self.findtime = findtime
        self.maxmatches = maxmatches
        self.max_tracked = max_tracked
        #: addresses evicted because the tracker was full
        self.evicted = 0
        # Evicting in batches keeps the cost per eviction constant: each batch walks the
        # deleted slots at the front of the dictionary once.
        self._batch = max(1, max_tracked // 64)
        self._entries: dict[str, _Entry] = {}
        self._last = 0.0  # the latest time seen: equal times share this object

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def ids(self) -> list[str]:
        """The ids with failures kept, least recently updated first."""
        return list(self._entries)

    def count(self, key: str) -> int:
        """Failures of ``key`` currently kept (within the window of its newest failure)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        if not isinstance(entry, tuple):
            return 1
        return len(entry) // 2 if self.maxmatches else len(entry)

    def add(self, key: str, time: float, matches: tuple[str, ...] = (),
            weight: int = 1, limit: int = 0) -> Ticket | None:
        """Count a failure of ``key`` at ``time`` (as ``weight`` failures); return a ticket and
        forget ``key`` if it now has ``maxretry`` (or ``limit``, if given) failures within
        ``findtime``.

        A failure older than the window of the address' newest failure is not counted.
        """
        maxretry = limit or self.maxretry
        if not self.maxmatches:
            return self._add_times(key, time, weight, maxretry)
        entries = self._entries
        lines = _lines(matches, self.maxmatches)
        old = entries.pop(key, None)
        if old is None:
            if weight >= maxretry:
                return self._ticket((time, lines), weight)
            if len(entries) >= self.max_tracked:
                self._evict()
            entries[key] = (time, lines) + (time, None) * (weight - 1)
            return None
        assert isinstance(old, tuple)
        newest = old[-2]
        assert isinstance(newest, float | int)
        newest = max(newest, time)
        floor = newest - self.findtime
        if time <= floor and time != newest:
            entries[key] = old  # a stale failure: the window is unchanged
            return None
        kept: list[float | _Lines] = []
        placed = False
        for i in range(0, len(old), 2):
            t = old[i]
            assert isinstance(t, float | int)
            if not placed and time < t:
                kept += (time, lines) + (time, None) * (weight - 1)
                placed = True
            if t > floor or t == newest:
                kept += (t, old[i + 1])
        if not placed:
            kept += (time, lines) + (time, None) * (weight - 1)
        count = len(kept) // 2
        if count >= maxretry:
            return self._ticket(tuple(kept), count)
        entries[key] = tuple(kept)
        return None

    def _add_times(self, key: str, time: float, weight: int, maxretry: int) -> Ticket | None:
        """:meth:`add` without log lines: the same window, only times kept."""
        if time == self._last:
            time = self._last  # share one float object among equal times
        else:
            self._last = time
        entries = self._entries
        old = entries.pop(key, None)
        if old is None:
            if weight >= maxretry:
                return Ticket(float(time), weight, ())
            if len(entries) >= self.max_tracked:
                self._evict()
            entries[key] = time if weight == 1 else (time,) * weight
            return None
        times = cast("tuple[float, ...]", old if isinstance(old, tuple) else (old,))
        newest = times[-1]
        findtime = self.findtime
        if weight == 1 and time >= newest and findtime > 0:
            # The common case, a failure newer than the address' others: the window is the
            # times after ``time - findtime`` (sorted: found by bisection), then this one.
            floor = time - findtime
            start = bisect_right(times, floor) if times[0] <= floor else 0
            count = len(times) - start + 1
            if count >= maxretry:
                return Ticket(float(time), count, ())
            entries[key] = time if count == 1 else (*times[start:], time)
            return None
        newest = max(newest, time)
        floor = newest - findtime
        if time <= floor and time != newest:
            entries[key] = old  # a stale failure: the window is unchanged
            return None
        kept = [t for t in times if t > floor or t == newest]
        for _ in range(weight):
            insort(kept, time)  # after equal times, as the flat form places it
        count = len(kept)
        if count >= maxretry:
            return Ticket(float(newest), count, ())
        entries[key] = kept[0] if count == 1 else tuple(kept)
        return None

    def _ticket(self, flat: tuple[float | _Lines, ...], failures: int) -> Ticket:
        newest = flat[-2]
        assert isinstance(newest, float | int)
        collected: list[str] = []
        if self.maxmatches:
            for item in flat[1::2]:
                if isinstance(item, str):
                    collected.append(item)
                elif item is not None:
                    assert isinstance(item, tuple)
                    collected.extend(item)
        return Ticket(float(newest), failures, tuple(collected[-self.maxmatches:])
                      if self.maxmatches else ())

    def _evict(self) -> None:
        entries = self._entries
        victims = list(islice(entries, self._batch))
        for key in victims:
            del entries[key]
        self.evicted += len(victims)

    def drop(self, key: str) -> bool:
        """Forget the failures of ``key``; True if there were any."""
        return self._entries.pop(key, None) is not None

    def expire(self, now: float) -> int:
        """Forget addresses whose newest failure is out of the window at ``now``; return how
        many. Walks from the least recently updated and stops at the first live one, so the
        cost is the number dropped (an address updated out of time order may wait for a
        later call)."""
        floor = now - self.findtime
        entries = self._entries
        stale: list[str] = []
        lean = not self.maxmatches
        for key, entry in entries.items():
            newest = entry if not isinstance(entry, tuple) else entry[-1] if lean else entry[-2]
            assert isinstance(newest, float | int)
            if newest > floor:
                break
            stale.append(key)
        for key in stale:
            del entries[key]
        return len(stale)

    def clear(self) -> None:
        """Forget every failure."""
        self._entries.clear()
