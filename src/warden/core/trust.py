"""Trust: addresses that logged in successfully lately (``successregex``, ``trustsuccess``).

A user who logged in this morning and mistypes his password three times tonight is no
attacker. :class:`TrustList` remembers the latest successful login per counting key (the
address, or its counting network with ``countprefix``); the jail asks :meth:`TrustList.trusted`
for each failure and, if so, counts it against ``trustmaxretry`` instead of ``maxretry``.

Bounded like the tracker: at most ``max_size`` keys, the least recently successful dropped
first.
"""

from __future__ import annotations

import dataclasses

from warden.core.filterdef import FilterDefinition

__all__ = ["TrustList", "success_definition"]


def success_definition(definition: FilterDefinition) -> FilterDefinition:
    """The filter that finds ``definition``'s success lines: its ``successregex`` as the
    regexes to match, with the same prefix regex, dates and ``maxlines``."""
    return dataclasses.replace(definition, name=f"{definition.name} (success)",
                               failregex=definition.successregex, ignoreregex=(),
                               successregex=())


class TrustList:
    """Latest success time per key, trusted for ``duration`` seconds after it."""

    __slots__ = ("_seen", "duration", "max_size")

    def __init__(self, duration: float, max_size: int = 100_000) -> None:
        self.duration = duration
        self.max_size = max_size
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def record(self, key: str, time: float) -> None:
        """A successful login of ``key`` at ``time``."""
        seen = self._seen
        old = seen.pop(key, None)
        if old is None and len(seen) >= self.max_size:
            del seen[next(iter(seen))]
        seen[key] = time if old is None else max(old, time)

    def trusted(self, key: str, time: float) -> bool:
        """Whether a failure of ``key`` at ``time`` follows a success within ``duration``
        (a success logged after the failure does not count for it)."""
        last = self._seen.get(key)
        return last is not None and last <= time <= last + self.duration

    def forget(self, key: str) -> None:
        """Drop the trust of ``key``."""
        self._seen.pop(key, None)

    def expire(self, now: float) -> int:
        """Forget successes older than ``duration`` at ``now``; return how many."""
        floor = now - self.duration
        stale: list[str] = []
        for key, time in self._seen.items():  # least recently successful first
            if time >= floor:
                break
            stale.append(key)
        for key in stale:
            del self._seen[key]
        return len(stale)
