"""Old logs through the whole jail logic, with the logs' own time: ``warden replay``.

A :class:`Replay` drives real :class:`~warden.core.jail.Jail` objects (built as the daemon
builds them) with each failure at its own log time: the time is the ``now`` of the jail for
that failure, so findtime, maxretry, bantime.increment and the ends of bans are what live
operation gave. Bans that end are lifted (``Jail.expire``) before the first failure after
their end, as the daemon's timer does. Host names (``usedns``) and ``ignorecommand`` are
answered at once through the two callables given; nothing here does I/O.

:func:`compare` says how two replays of the same logs differ (a second configuration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from warden.core.addr import Network, Target
from warden.core.decisions import Ban, CheckIgnore, Decision, ResolveHost, Unban
from warden.core.filter import Failure
from warden.core.jail import Jail

__all__ = ["Difference", "JailTotals", "Replay", "ReplayBan", "compare"]

# How often (log seconds) the jails forget failures out of their window without a ban ending:
# memory only, the results do not depend on it.
_SWEEP = 60.0
# the most address texts kept (a memo: see Replay._record)
_TEXTS = 1 << 16


@dataclass(frozen=True, slots=True)
class ReplayBan:
    """A ban the replay made: from ``time`` for ``bantime`` seconds (``until`` None and
    ``bantime`` -1: for ever), the address' ``count``-th in the jail, after ``failures``
    failures. ``prolonged``: it was banned already and the ban now ends later."""

    jail: str
    address: str
    time: float
    until: float | None
    bantime: float
    count: int
    failures: int
    prolonged: bool = False


@dataclass(slots=True)
class JailTotals:
    """What one jail did during a replay: failures counted, new bans, bans prolonged (banned
    already, the new ban ends later), bans lifted, and the addresses banned."""

    jail: str
    failures: int = 0
    bans: int = 0
    prolonged: int = 0
    unbans: int = 0
    addresses: set[str] = field(default_factory=set)


class Replay:
    """Counts failures at their own time in ``jails`` and keeps the bans they decide.

    ``resolve(host)`` gives a host name's addresses (``usedns``), ``ignored(question)`` the
    ``ignorecommand`` answer. Failures outside ``[since, until)`` are not counted.
    """

    def __init__(self, jails: Mapping[str, Jail], *,
                 resolve: Callable[[str], Sequence[Network]] = lambda host: (),
                 ignored: Callable[[CheckIgnore], bool] = lambda question: False,
                 since: float | None = None, until: float | None = None) -> None:
        self.jails = dict(jails)
        self.resolve = resolve
        self.ignored = ignored
        self.since = since
        self.until = until
        self.bans: list[ReplayBan] = []
        self.totals = {name: JailTotals(name) for name in self.jails}
        self.first: float | None = None
        self.last: float | None = None
        self._due = float("-inf")  # the next time the jails have something to expire
        self._lowest = -math.inf if since is None else since
        self._highest = math.inf if until is None else until
        self._latest = -math.inf  # self.last, as a number
        self._texts: dict[Target, str] = {}  # the address text of each target banned

    def add(self, jail: str, item: Failure, time: float, *, success: bool = False
            ) -> list[ReplayBan]:
        """Count one failure (``success``: a successful login for ``trustsuccess``) that
        ``jail``'s filters found, at ``time``; return the bans it caused."""
        if not self._lowest <= time < self._highest:
            return []  # outside [since, until)
        if self.first is None:
            self.first = time
        if time > self._latest:
            self.last = self._latest = time
        if time >= self._due:
            self.advance(time)
        target = self.jails[jail]
        if success:
            target.add_success(item, time)
            return []
        before = target.total_failed
        decisions = target.add_failure(item, time)
        self.totals[jail].failures += target.total_failed - before
        return self._settle(target, decisions, time) if decisions else []

    def advance(self, now: float) -> None:
        """Lift the bans that ended by ``now`` and forget failures out of the windows.

        A ban that ends at the very time of a failure is over for it: the daemon's timer
        lifts it just after its end, and a log line stamped with that second was written
        during it, most likely after (``Jail.expire`` itself lifts only bans ended before)."""
        due = now + _SWEEP
        for jail in self.jails.values():
            self._note(jail.expire(math.nextafter(now, math.inf)))
            nxt = jail.next_expiry()
            if nxt is not None and nxt < due:
                due = nxt
        self._due = due

    def _settle(self, jail: Jail, decisions: list[Decision], now: float) -> list[ReplayBan]:
        made: list[ReplayBan] = []
        queue = list(decisions)
        while queue:
            decision = queue.pop(0)
            if isinstance(decision, Ban):
                made.append(self._record(decision))
            elif isinstance(decision, Unban):
                self._note([decision])
            elif isinstance(decision, ResolveHost):
                queue += jail.resolved(decision.host, self.resolve(decision.host), now)
            else:
                queue += jail.ignore_answer(decision.key, self.ignored(decision), now)
        if made:
            ends = [b.until for b in made if b.until is not None]
            if ends:
                self._due = min(self._due, *ends)
        return made

    def _record(self, ban: Ban) -> ReplayBan:
        # (the text of a network is costly to write, and most targets are banned many times)
        address = self._texts.get(ban.ip)
        if address is None:
            if len(self._texts) >= _TEXTS:
                self._texts.clear()
            address = self._texts[ban.ip] = ban.address
        done = ReplayBan(ban.jail, address, ban.time, ban.until, ban.bantime, ban.count,
                         ban.failures, ban.prolonged)
        self.bans.append(done)
        totals = self.totals[ban.jail]
        if ban.prolonged:
            totals.prolonged += 1
        else:
            totals.bans += 1
        totals.addresses.add(done.address)
        return done

    def _note(self, unbans: Iterable[Unban]) -> None:
        for unban in unbans:
            self.totals[unban.jail].unbans += 1


@dataclass(frozen=True, slots=True)
class Difference:
    """One way two replays differ for (jail, address): ``kind`` is ``only-first``,
    ``only-second``, ``earlier``, ``later``, ``longer`` or ``shorter`` (the second replay's
    ban against the first's); ``first``/``second`` are the bans compared (one may be None)."""

    kind: str
    jail: str
    address: str
    first: ReplayBan | None
    second: ReplayBan | None


def compare(first: Sequence[ReplayBan], second: Sequence[ReplayBan]) -> list[Difference]:
    """How the bans of ``second`` differ from those of ``first``: the n-th ban of an address
    in a jail is compared with its n-th ban in the other replay (prolongations left out)."""
    def grouped(bans: Sequence[ReplayBan]) -> dict[tuple[str, str], list[ReplayBan]]:
        out: dict[tuple[str, str], list[ReplayBan]] = {}
        for ban in bans:
            if not ban.prolonged:
                out.setdefault((ban.jail, ban.address), []).append(ban)
        return out

    a, b = grouped(first), grouped(second)
    found: list[Difference] = []
    for key in sorted(a.keys() | b.keys()):
        mine, theirs = a.get(key, []), b.get(key, [])
        for i in range(max(len(mine), len(theirs))):
            x = mine[i] if i < len(mine) else None
            y = theirs[i] if i < len(theirs) else None
            if y is None:
                found.append(Difference("only-first", *key, x, None))
            elif x is None:
                found.append(Difference("only-second", *key, None, y))
            else:
                if y.time != x.time:
                    found.append(Difference("earlier" if y.time < x.time else "later",
                                            *key, x, y))
                if y.bantime != x.bantime:
                    longer = x.bantime >= 0 and (y.bantime < 0 or y.bantime > x.bantime)
                    found.append(Difference("longer" if longer else "shorter", *key, x, y))
    found.sort(key=lambda d: (min(t.time for t in (d.first, d.second) if t is not None),
                              d.jail, d.address))
    return found
