"""One jail as a pure state machine: log lines and ``now`` in, decisions out.

Drive it with :meth:`Jail.feed` for each line of a watched log and :meth:`Jail.expire` on a
timer; the daemon carries out the returned :mod:`warden.core.decisions` (store first, then the
backends) and answers :class:`ResolveHost`/:class:`CheckIgnore` queries through
:meth:`Jail.resolved`/:meth:`Jail.ignore_answer`. Nothing here reads a clock or does I/O.

What a failure goes through, in fail2ban 1.0.2's order:

1. its time: the log's time; none or a future one counts as ``now``; one already out of the
   window (``< now - findtime``) is dropped, as fail2ban drops old lines;
2. its id: an address or network (``<HOST>``, ``<CIDR>``), a host name (``usedns = yes|warn``:
   parked, and the daemon asked to resolve it; ``no``: dropped; ``raw``: used as text), or a
   raw ``<F-ID>``;
3. ``ignoreip``/``ignoreself``, then ``ignorecommand`` (parked until answered, answers cached
   per ``ignorecache``);
4. counted in the :class:`Tracker`; at ``maxretry`` failures within ``findtime`` it is banned for
   the :class:`BanPolicy`'s time. An address already banned is banned again only if that ends
   later (the ban is prolonged, as fail2ban's ``addBanTicket`` does), otherwise nothing happens.

warden's own options (issue 14; off by default, so a fail2ban tree behaves as in fail2ban):

- ``countprefix4``/``countprefix6``: step 4 counts per covering network (an attacker rotating
  addresses inside his /64 is one counter); ``banprefix4``/``banprefix6``: the ban is of the
  covering network, unless that network holds an ignored address (then the address alone);
  an address inside a network the jail bans already for longer is not banned again;
- ``escalate``: after each new ban, :class:`Escalator` says whether enough targets of one
  network were banned within ``findtime``; then that network is banned until the latest end of
  its members' bans (``Ban.members`` lists them), unless it holds an ignored address;
- ``trustsuccess``: ``successregex`` lines record a successful login per counting key
  (:class:`TrustList`); a failure within ``trustsuccess`` after one counts against
  ``trustmaxretry`` and is banned for the plain ``bantime`` (``Ban.trusted``).

Over a restart the daemon gives back what the store kept: :meth:`Jail.restore` takes the
active bans (with the members of escalated ones) and rebuilds the escalation groups from the
recent bans; :meth:`Jail.restore_trust` takes the logins :meth:`Jail.collect_trust` handed
out.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address
from operator import itemgetter
from types import MappingProxyType
from typing import Protocol, TypeVar

from warden.core.addr import (
    Network,
    Target,
    contains,
    covering,
    format_target,
    host_network,
    network_text,
    parse_address,
    parse_network,
)
from warden.core.banlist import ActiveBan, BanList, ends_later
from warden.core.batch import Scanner, holding
from warden.core.datedetect import DateMatch
from warden.core.decisions import (
    Ban,
    BannedEntry,
    BanRecord,
    CheckIgnore,
    Decision,
    JailStatus,
    ResolveHost,
    Unban,
)
from warden.core.escalate import Escalator
from warden.core.filter import Failure, Filter
from warden.core.filterdef import FilterDefinition
from warden.core.history import BanHistory, HistoryRecord
from warden.core.ignore import IgnoreCache, IgnoreList, render_key
from warden.core.matcher import Matcher
from warden.core.policy import BanPolicy
from warden.core.prefilter import text_screen
from warden.core.spec import JailSpec
from warden.core.tracker import Tracker
from warden.core.trust import TrustList, success_definition

__all__ = ["Jail", "RecentBan"]


_NO_FIELDS: Mapping[str, object] = MappingProxyType({})
# fail2ban takes a live line more than this many seconds old for a clock or time zone problem
_SKEW = 60.0
# the most ids Jail._remember keeps (about 170 bytes each: 2.8 MB at most; a flood of new
# addresses empties it now and then, repeat offenders are what it is for)
_KNOWN_MAX = 1 << 14
_V = TypeVar("_V")
_Address = IPv4Address | IPv6Address | Network


class RecentBan(HistoryRecord, Protocol):
    """A ban of the history as :meth:`Jail.restore` reads it (``warden.store.StoredBan``
    fits): with whether the jail made it for failures it counted."""

    @property
    def counted(self) -> bool: ...
# A failure on its way: (id, its address/network or None, time, fields, matches)
_Parked = tuple[str, _Address | None, float, Mapping[str, object], tuple[str, ...]]


def _parse(fid: str) -> _Address | None:
    return parse_network(fid) if "/" in fid else parse_address(fid)


def _narrow_first(item: tuple[float, Target]) -> tuple[float, int]:
    # at one time, a member's ban comes before the network it completes
    time, target = item
    return (time, 0 if isinstance(target, str) else -target.prefixlen)


def _keep(memory: dict[str, _V], fid: str, value: _V) -> None:
    """Remember ``value`` for ``fid`` in one of the jail's per-address memories, at most
    ``_KNOWN_MAX`` entries (a flood of new addresses empties it rather than grow it)."""
    if len(memory) >= _KNOWN_MAX:
        memory.clear()
    memory[fid] = value


class Jail:
    """The failure counting and ban state of one jail."""

    def __init__(self, spec: JailSpec, *, history: BanHistory | None = None,
                 random: Callable[[], float] = _random.random,
                 filters: Sequence[Filter] | None = None) -> None:
        """Build the jail's filters (``RegexError`` on a bad one) and ban policy
        (``FormulaError`` on a bad ``bantime.formula``). ``history`` is shared by the jails of
        a daemon (needed for ``bantime.overalljails``); ``random`` draws ``bantime.rndtime``."""
        self.spec = spec
        self.name = spec.name
        self._random = random
        self.policy = BanPolicy(spec.bantime, spec.increment, random)
        self.history = history if history is not None else BanHistory()
        self._lean = False  # see count_only
        self.filters: tuple[Filter, ...] = tuple(filters) if filters is not None else tuple(
            self._filter(d, spec) for d in spec.filters)
        self._scanners = tuple(Scanner(f) for f in self.filters)
        # line_counts of the filters a reconfigure replaced, and of copies of the filters
        # elsewhere (add_line_counts)
        self._lines_before = (0, 0)
        self.tracker = Tracker(spec.maxretry, spec.findtime, spec.maxmatches, spec.max_tracked)
        self.ignore = IgnoreList(spec.ignore)
        cache = spec.ignorecache
        self._cache = IgnoreCache(cache.max_count, cache.max_time) if cache else None
        self.bans = BanList()
        self.escalator = Escalator(spec.escalate, spec.findtime) if spec.escalate else None
        self.trust = TrustList(spec.trustsuccess or 0.0) if spec.trusting else None
        #: the filters of the ``successregex`` lines (only with ``trustsuccess``)
        self.success_filters: tuple[Filter, ...] = ()
        self._success_scanners: tuple[Scanner, ...] = ()
        self._success_screens: tuple[tuple[str, ...] | None, ...] = ()
        self._build_success_filters()
        self._smart = self._plain4 = self._plain6 = self._trusting = False
        self._set_modes()
        #: networks banned by escalation
        self.escalations = 0
        # the members of each active escalated ban (explain, the fleet)
        self._members: dict[Target, tuple[str, ...]] = {}
        # logins noted since the last collect_trust (None: nobody collects them)
        self._logins: dict[str, float] | None = None
        self._pending: dict[tuple[str, str], list[_Parked]] = {}
        # ids counted before that are addresses nobody ignores: (address, counting key), so
        # that their next failures are neither parsed nor tested against ignoreip again
        # (emptied whenever what it depends on changes: ignoreip, the options, a reload)
        self._known: dict[str, tuple[_Address, str]] = {}
        # by failure id, what a failure of it bans: (target, its key), see _banned_as (the
        # network of an address is costly to build and to write)
        self._targets: dict[str, tuple[Target, str]] = {}
        self._dropped = 0
        self.total_failed = 0
        #: live failures whose log time was more than a minute off (taken as ``now``)
        self.skewed = 0
        # (id, time) of each counted failure, kept only while someone collects them
        self._counted: list[tuple[str, float]] | None = None
        #: fail2ban's ``set JAIL idle on``: log lines are not looked at (bans still expire)
        self.idle = False

    def reconfigure(self, spec: JailSpec, filters: Sequence[Filter] | None = None) -> None:
        """Run on ``spec`` from now on (a runtime ``set JAIL option``), keeping the failures
        counted, the bans and the totals. ``filters`` are the compiled filters of
        ``spec.filters`` (built here when not given; a bad regex raises before anything
        changes). Bans already decided keep their end; new bans use the new ban time."""
        if spec.name != self.name:
            raise ValueError(f"a spec of jail {spec.name!r} cannot reconfigure {self.name!r}")
        old = self.spec
        lean = self._lean
        if lean and spec.ignorecommand:
            self._lean = False  # the command is given the failures' fields and lines
        if filters is None and (spec.filters != old.filters or lean != self._lean):
            filters = [self._filter(d, spec) for d in spec.filters]
        if filters is not None:
            self._lines_before = self.line_counts()
            self.filters = tuple(filters)
            self._scanners = tuple(Scanner(f) for f in self.filters)
        if (spec.bantime, spec.increment) != (old.bantime, old.increment):
            self.policy = BanPolicy(spec.bantime, spec.increment, self._random)
        if (spec.maxmatches == 0) != (old.maxmatches == 0) or spec.max_tracked != old.max_tracked:
            # the windows keep their lines only when maxmatches is positive: start them anew
            self.tracker = Tracker(spec.maxretry, spec.findtime, spec.maxmatches,
                                   spec.max_tracked)
        else:
            self.tracker.maxretry = spec.maxretry
            self.tracker.findtime = spec.findtime
            self.tracker.maxmatches = spec.maxmatches
        if spec.ignorecache != old.ignorecache:
            cache = spec.ignorecache
            self._cache = IgnoreCache(cache.max_count, cache.max_time) if cache else None
        self.spec = spec
        if spec.ignore != old.ignore:
            self.set_ignore(spec.ignore)
        if (spec.escalate, spec.findtime) != (old.escalate, old.findtime):
            self.escalator = Escalator(spec.escalate, spec.findtime) if spec.escalate else None
        if spec.trustsuccess != old.trustsuccess:
            self.trust = TrustList(spec.trustsuccess or 0.0) if spec.trusting else None
        if self.trust is None or spec.filters != old.filters or not self.success_filters or \
                lean != self._lean:
            self._build_success_filters()
        self._set_modes()

    def _set_modes(self) -> None:
        spec = self.spec
        self._known, self._targets = {}, {}
        trusting = self.trust is not None and bool(self.success_filters)
        # any of warden's own counting options (issue 14): failures take the slower path ...
        self._smart = spec.by_network or trusting or bool(spec.escalate)
        # ... except those of a family counted and banned per address as ever (IPv4 beside
        # banprefix6 = 64), which keep fail2ban's path (with the trust test if trusting)
        self._plain4 = spec.prefixes(4) == (32, 32) and not spec.escalate
        self._plain6 = spec.prefixes(6) == (128, 128) and not spec.escalate
        self._trusting = trusting

    def _filter(self, definition: FilterDefinition, spec: JailSpec) -> Filter:
        matcher = Matcher(definition, journal=spec.journal, lean=True) if self._lean else None
        return Filter(definition, journal=spec.journal, max_line_length=spec.max_line_length,
                      matcher=matcher)

    def count_only(self) -> bool:
        """From now on report failures with only what counting them reads: no log lines,
        no fields but a host name (a lean :class:`~warden.core.matcher.Matcher`), for a
        driver that shows neither (``warden replay``); the decisions are the same, but for
        their ``matches`` and ``fields``. The filters are built anew: call it before the
        first line. Not with ``ignorecommand``, which is given both: False then."""
        if self.spec.ignorecommand:
            return False
        if not self._lean:
            self._lean = True
            self.filters = tuple(self._filter(d, self.spec) for d in self.spec.filters)
            self._scanners = tuple(Scanner(f) for f in self.filters)
            self._build_success_filters()
        return True

    def _build_success_filters(self) -> None:
        spec = self.spec
        self.success_filters = tuple(
            self._filter(success_definition(d), spec)
            for d in spec.filters if d.successregex) if self.trust is not None else ()
        self._success_scanners = tuple(Scanner(f) for f in self.success_filters)
        # Success lines are rare: a line without one of these literals cannot be one, and
        # is not offered to the success filter (which would find its date again). Only for
        # one-line filters, whose result on a line does not depend on the lines before it.
        self._success_screens = tuple(
            text_screen([rx.pattern for rx in f.failregexes])
            if f.definition.maxlines == 1 else None for f in self.success_filters)

    # -- log lines -------------------------------------------------------------------------

    def feed(self, line: str, now: float, date: DateMatch | None = None, *,
             live: bool = False) -> list[Decision]:
        """Process one log line. ``date`` is the line's date as the daemon found it once for
        every jail of the file (the filters' date patterns must be the one it used); without
        it each filter looks for the date itself. ``live``: see :meth:`add_failure`."""
        out: list[Decision] = []
        if self.idle:
            return out
        for flt in self.filters:
            if date is None or flt.journal:
                result = flt.process(line, now)
            else:
                result = flt.process_dated(flt.clean(line), date, now)
            for failure in result.failures:
                self.add_failure(failure, now, out, live=live)
        for flt, screen in zip(self.success_filters, self._success_screens, strict=True):
            if screen is not None and not any(lit in line for lit in screen):
                continue
            if date is None or flt.journal:
                result = flt.process(line, now)
            else:
                result = flt.process_dated(flt.clean(line), date, now)
            for success in result.failures:
                self.add_success(success, now, live=live)
        return out

    def feed_lines(self, lines: Sequence[str], now: float, *,
                   live: bool = False) -> list[Decision]:
        """Process a batch of log lines: the decisions :meth:`feed` would give for each line
        in turn (each filter finds the dates itself), at a fraction of the cost per line."""
        out: list[Decision] = []
        if self.idle:
            return out
        add = self.add_failure
        if self._success_scanners:
            for _index, kind, item in self.scan(lines, now):
                if kind:
                    self.add_success(item, now, live=live)
                else:
                    add(item, now, out, live=live)
            return out
        for _index, failure in self._found(lines, now):
            add(failure, now, out, live=live)
        return out

    def scan(self, lines: Sequence[str], now: float) -> list[tuple[int, int, Failure]]:
        """What :meth:`feed_lines` finds in ``lines``, without counting it: ``(line index,
        kind, item)`` in the order it counts them, ``kind`` 0 for a failure (for
        :meth:`add_failure`), 1 for a success (:meth:`add_success`). A driver with a time
        of its own per failure (``warden replay``: the log's) counts them itself."""
        if self._success_scanners and self._shared_dates():
            return self._scan_sharing_dates(lines, now)
        found = self._found(lines, now)
        if self._success_scanners:
            return self._with_successes(found, lines, now)
        return [(index, 0, failure) for index, failure in found]

    def line_counts(self) -> tuple[int, int]:
        """Lines the failure filters matched (a failure) and ignored (an ignoreregex, or no
        failure by itself), as ``warden regex`` counts them, since the jail was made."""
        matched, ignored = self._lines_before
        for scanner in self._scanners:
            matched += scanner.matched
            ignored += scanner.ignored
        return matched, ignored

    def add_line_counts(self, matched: int, ignored: int) -> None:
        """Add to :meth:`line_counts` lines that copies of the jail's failure filters
        matched and ignored elsewhere (the daemon's worker processes, whose findings
        are counted here)."""
        before_matched, before_ignored = self._lines_before
        self._lines_before = (before_matched + matched, before_ignored + ignored)

    def _found(self, lines: Sequence[str], now: float) -> list[tuple[int, Failure]]:
        scanners = self._scanners
        if len(scanners) == 1:
            return scanners[0].scan(lines, now)
        # line by line, and on one line in the order of the filters, as feed
        return sorted((item for sc in scanners for item in sc.scan(lines, now)),
                      key=itemgetter(0))

    def _shared_dates(self) -> bool:
        """Whether the success filter may take the dates its failure filter finds: one
        filter of each, screened, with the same date settings (the same definition)."""
        if len(self.filters) != 1 or len(self.success_filters) != 1:
            return False
        flt, success = self.filters[0].definition, self.success_filters[0].definition
        return (self._success_screens[0] is not None and not self.filters[0].journal
                and (flt.datepattern, flt.logtimezone) ==
                (success.datepattern, success.logtimezone))

    def _scan_sharing_dates(self, lines: Sequence[str],
                            now: float) -> list[tuple[int, int, Failure]]:
        """:meth:`scan` with the one failure filter (what its Scanner does) and the success
        filter given the dates the failure filter found: a success line's date is not
        looked for twice."""
        flt = self.filters[0]
        cut = [flt.clean(line) for line in lines]
        dates = flt.dates_of(cut, now)
        items: list[tuple[int, int, Failure]] = [
            (i, 0, failure) for i, failure in self._scanners[0].scan_dated(cut, dates, now)]
        success = self.success_filters[0]
        screen = self._success_screens[0]
        assert screen is not None
        succeeded = [(i, 1, item) for i in holding(cut, screen)
                     for item in success.process_dated(cut[i], dates[i], now).failures]
        if not succeeded:
            return items
        return sorted(items + succeeded, key=itemgetter(0, 1))

    def _with_successes(self, found: list[tuple[int, Failure]], lines: Sequence[str],
                        now: float) -> list[tuple[int, int, Failure]]:
        # successes and failures in the order of their lines (a login, then mistypes)
        succeeded: list[tuple[int, int, Failure]] = []
        for sc, screen in zip(self._success_scanners, self._success_screens, strict=True):
            if screen is None:
                succeeded += [(index, 1, item) for index, item in sc.scan(lines, now)]
                continue
            picked = holding(lines, screen)
            if picked:
                chosen = [lines[i] for i in picked]
                succeeded += [(picked[index], 1, item) for index, item in sc.scan(chosen, now)]
        failures = [(i, 0, f) for i, f in found]
        if not succeeded:
            return failures
        return sorted(failures + succeeded, key=itemgetter(0, 1))

    def add_success(self, success: Failure, now: float, *, live: bool = False) -> None:
        """Note a successful login found by a success filter (``trustsuccess``): its
        counting key is trusted for ``trustsuccess`` from the line's time."""
        if self.trust is None:
            return
        time = success.time
        if time is None or time > now or (live and time < now - _SKEW):
            time = now
        key = self._count_key(success.fid, _parse(success.fid))
        self.trust.record(key, time)
        logins = self._logins
        if logins is not None and logins.get(key, time) <= time:
            logins[key] = time

    def collect_trust(self) -> list[tuple[str, float]]:
        """The (key, time) of the latest login of each key noted since the last call (the
        first call starts the collecting; the daemon keeps them in the store so that trust
        survives a restart). Empty without ``trustsuccess``."""
        if self.trust is None:
            return []
        found, self._logins = self._logins or {}, {}
        return list(found.items())

    def restore_trust(self, logins: Iterable[tuple[str, float]], now: float) -> int:
        """Trust again the keys of ``logins`` (key, time; as :meth:`collect_trust` gave
        them) whose login is still within ``trustsuccess`` at ``now``; return how many."""
        trust = self.trust
        if trust is None:
            return 0
        floor = now - trust.duration
        taken = 0
        for key, time in sorted(logins, key=itemgetter(1)):
            if floor <= time <= now:
                trust.record(key, time)
                taken += 1
        return taken

    def add_failure(self, failure: Failure, now: float, out: list[Decision] | None = None, *,
                    live: bool = False) -> list[Decision]:
        """Count one failure found by a filter; decisions are appended to ``out``.

        ``live`` says the line was just written (the daemon is following the file, not reading
        what was there at start): as in fail2ban, a time more than a minute off is then a
        clock or time zone problem and the failure counts as happening ``now`` (counted in
        ``status().skewed``). Otherwise the log's own time counts and a failure older than
        ``findtime`` is dropped, so that replaying a log gives what live operation gave.
        """
        if out is None:
            out = []
        time = failure.time
        if time is None or time > now:
            time = now
        elif live and time < now - _SKEW:
            self.skewed += 1
            time = now
        elif time < now - self.spec.findtime:
            return out
        fid = failure.fid
        known = self._known.get(fid)
        if known is not None:
            # an address counted before and not ignored (see _remember): count it at once
            self._count(fid, known[0], known[1], time, failure.fields, failure.matches, now,
                        out)
            return out
        if fid in self.tracker and (
                not self._smart or (self._plain6 if ":" in fid else self._plain4)) and \
                not self.spec.ignorecommand and \
                failure.fields.get("dns") != fid:
            # Counted before, so not ignored (set_ignore forgets ids it ignores) and not a
            # host name to resolve: the address is parsed only if this failure bans it.
            self._count(fid, None, fid, time, failure.fields, failure.matches, now, out)
            return out
        # a plain address object is a third of the cost of a network: make the network only
        # when banning (an address banned already has its network)
        banned = self.bans.target_of(fid)
        net = banned if banned is not None and not isinstance(banned, str) else _parse(fid)
        if net is None and failure.fields.get("dns") == fid:
            usedns = self.spec.usedns
            if usedns == "no":
                return out
            if usedns != "raw":
                self._park(("dns", fid), (fid, None, time, failure.fields, failure.matches),
                           out, ResolveHost(self.name, fid, usedns == "warn"))
                return out
        self._check((fid, net, time, failure.fields, failure.matches), now, out)
        return out

    def _check(self, parked: _Parked, now: float, out: list[Decision]) -> None:
        fid, net, time, fields, matches = parked
        if self.ignore and (net if net is not None else fid) in self.ignore:
            return
        if self.spec.ignorecommand:
            cache = self._cache
            spec = self.spec.ignorecache
            key = render_key(spec.key, fid, fields) if spec is not None else fid
            answer = cache.get(key, now) if cache is not None else None
            if answer:
                return
            if answer is None:
                self._park(("cmd", key), parked, out,
                           CheckIgnore(self.name, key, fid, time, fields, matches))
                return
        self._count(fid, net, None, time, fields, matches, now, out)

    def _remember(self, fid: str, net: _Address, key: str) -> None:
        """Note that ``fid`` (the address ``net``, counted under ``key``) passed the ignore
        tests: its next failures skip them. Not with ``ignorecommand``, whose answers are
        cached for ``ignorecache`` only."""
        if self.spec.ignorecommand:
            return
        _keep(self._known, fid, (net, key))

    # (positional: this runs for every failure counted)
    def _count(self, fid: str, net: _Address | None, key: str | None,  # noqa: PLR0917
               time: float, fields: Mapping[str, object], matches: tuple[str, ...],
               now: float, out: list[Decision]) -> None:
        """Count a failure of ``fid`` (its address ``net`` if parsed already) that passed
        the ignore tests; ``key``: its counting key when known (see :meth:`_remember`)."""
        self.total_failed += 1
        if self._counted is not None:
            self._counted.append((fid, time))
        if self._smart and not (self._plain6 if ":" in fid else self._plain4):
            if net is None:
                net = _parse(fid)
            if key is None:
                key = self._count_key(fid, net)
                if net is not None:
                    self._remember(fid, net, key)
            self._count_by_network(fid, net, key, time, fields, matches, now, out)
            return
        if key is None and net is not None:
            self._remember(fid, net, fid)
        trust = self.trust if self._trusting else None
        trusted = trust is not None and trust.trusted(fid, time)
        weight = 1
        if self.policy.increments and not trusted:
            prev = self.history.lookup(fid, self.name, self.spec.increment.overalljails)
            if prev is not None and time > prev.last:
                weight = self.policy.weight(prev.bans, self.spec.maxretry)
        ticket = self.tracker.add(fid, time, matches, weight,
                                  self.spec.trust_limit if trusted else 0)
        if ticket is not None:
            known = self._targets.get(fid)
            if known is not None:
                target: Target = known[0]
            else:
                if net is None:  # not parsed yet (add_failure), or a raw id (None again)
                    banned = self.bans.target_of(fid)
                    net = banned if banned is not None and not isinstance(banned, str) \
                        else _parse(fid)
                target = (fid if net is None else
                          host_network(net) if isinstance(net, IPv4Address | IPv6Address)
                          else net)
                if net is not None:
                    _keep(self._targets, fid, (target, fid))
            ban = self._ban(target, fid, ticket.time, now, failures=ticket.failures,
                            matches=ticket.matches, fields=fields,
                            bantime=self.policy.bantime if trusted else None, trusted=trusted)
            if ban is not None:
                out.append(ban)

    # -- counting and banning by network, trust, escalation (issue 14) ---------------------

    def _count_key(self, fid: str, net: _Address | None) -> str:
        """What a failure (or success) of ``fid`` is counted under: its covering network
        at ``countprefix``, or ``fid`` itself."""
        if net is None:
            return fid
        version = net.version
        width = 32 if version == 4 else 128
        prefix = self.spec.prefixes(version)[0]
        if prefix >= width:
            return fid
        if isinstance(net, IPv4Address | IPv6Address):
            value = int(net)
        else:
            if prefix >= net.prefixlen:
                return fid
            value = int(net.network_address)
        shift = width - prefix
        return network_text(version, value >> shift << shift, prefix)

    def count_key(self, fid: str) -> str:
        """The tracker key failures of ``fid`` are counted under (``fid`` itself unless
        ``countprefix`` counts its covering network)."""
        return self._count_key(fid, _parse(fid)) if self._smart else fid

    def ban_of(self, target: Target) -> ActiveBan | None:
        """The active ban that holds ``target``: its own, else that of a wider network
        (``banprefix``, ``escalate`` or a manual CIDR ban)."""
        own = self.bans.get(target)
        if own is not None:
            return own
        wider = self.bans.covering(target)
        return wider[1] if wider is not None else None

    def _ban_target(self, fid: str, net: _Address | None) -> Target:
        """What a failure of ``fid`` bans: its covering network at ``banprefix``, unless
        that holds an ignored address (ignoreip wins: then the address alone)."""
        if net is None:
            return fid
        single = host_network(net) if isinstance(net, IPv4Address | IPv6Address) else net
        wide = covering(net, self.spec.prefixes(net.version)[1])
        if wide != single and self.ignore and self.ignore.overlaps(wide):
            return single
        return wide

    def _banned_as(self, fid: str, net: _Address | None) -> tuple[Target, str]:
        """:meth:`_ban_target` and its text, kept per address (it depends on ignoreip and
        the prefixes only, and a network is costly to build and to write)."""
        found = self._targets.get(fid)
        if found is None:
            target = self._ban_target(fid, net)
            found = (target, format_target(target))
            if net is not None:
                _keep(self._targets, fid, found)
        return found

    def _count_by_network(self, fid: str, net: _Address | None, key: str,  # noqa: PLR0917
                          time: float, fields: Mapping[str, object],
                          matches: tuple[str, ...], now: float, out: list[Decision]) -> None:
        trusted = self.trust is not None and self.trust.trusted(key, time)
        weight = 1
        if self.policy.increments and not trusted:
            ban_key = self._banned_as(fid, net)[1]
            prev = self.history.lookup(ban_key, self.name, self.spec.increment.overalljails)
            if prev is not None and time > prev.last:
                weight = self.policy.weight(prev.bans, self.spec.maxretry)
        ticket = self.tracker.add(key, time, matches, weight,
                                  self.spec.trust_limit if trusted else 0)
        if ticket is None:
            return
        target, ban_key = self._banned_as(fid, net)
        wider = self.bans.covering(target)
        if wider is not None:
            until = ticket.time + self.policy.bantime if self.policy.bantime >= 0 else None
            if not ends_later(until, wider[1].until):
                return  # a network banned for longer holds it already
        ban = self._ban(target, ban_key, ticket.time, now, failures=ticket.failures,
                        matches=ticket.matches, fields=fields,
                        bantime=self.policy.bantime if trusted else None, trusted=trusted)
        if ban is None:
            return
        out.append(ban)
        if self.escalator is not None and not ban.prolonged:
            self._escalate(ban, now, out)

    def _escalate(self, ban: Ban, now: float, out: list[Decision]) -> None:
        """Ban the networks that ``ban`` completes (and those their bans complete)."""
        assert self.escalator is not None
        work = [ban]
        while work:
            done = work.pop()
            for _rule, network, members in self.escalator.note(done.ip, done.time):
                if self.ignore and self.ignore.overlaps(network):
                    continue  # ignoreip wins: the members stay banned one by one
                held = [(m, a) for m in members if (a := self.bans.get(m)) is not None]
                if not held:
                    continue
                ends = [a.until for _m, a in held]
                until = None if None in ends else max(e for e in ends if e is not None)
                if until is not None and until <= now:
                    continue
                wide = self._ban(network, format_target(network), done.time, now,
                                 failures=sum(1 for _ in held), fields=done.fields,
                                 bantime=-1.0 if until is None else until - done.time,
                                 members=tuple(format_target(m) for m, _a in held))
                if wide is not None:
                    out.append(wide)
                    self._members[network] = wide.members
                    self.escalations += 1
                    if not wide.prolonged:
                        work.append(wide)

    def _park(self, key: tuple[str, str], parked: _Parked, out: list[Decision],
              query: Decision) -> None:
        waiting = self._pending.get(key)
        if waiting is not None:
            waiting.append(parked)
            if len(waiting) > self.spec.maxretry:
                del waiting[0]
                self._dropped += 1
            return
        pending = self._pending
        if len(pending) >= self.spec.max_pending:
            oldest = next(iter(pending))
            self._dropped += len(pending.pop(oldest))
        pending[key] = [parked]
        out.append(query)

    def collect_failures(self) -> list[tuple[str, float]]:
        """The (id, time) of every failure counted since the last call (the first call
        starts the collecting; a daemon that shares failure counts calls it regularly)."""
        found, self._counted = self._counted or [], []
        return found

    # -- answers from the daemon -----------------------------------------------------------

    def resolved(self, host: str, addresses: Iterable[IPv4Address | IPv6Address | Network | str],
                 now: float) -> list[Decision]:
        """The addresses ``host`` resolved to (none if it did not): count its parked failures
        for each of them."""
        out: list[Decision] = []
        parked = self._pending.pop(("dns", host), None)
        if not parked:
            return out
        floor = now - self.spec.findtime
        for address in addresses:
            if isinstance(address, str):
                net = parse_network(address)
                if net is None:
                    continue
            elif isinstance(address, IPv4Address | IPv6Address):
                net = parse_network(str(address))
                assert net is not None
            else:
                net = address
            fid = format_target(net)
            for _host, _net, time, fields, matches in parked:
                if time >= floor:
                    self._check((fid, net, time, fields, matches), now, out)
        return out

    def ignore_answer(self, key: str, ignored: bool, now: float) -> list[Decision]:
        """The ``ignorecommand`` answer for ``key`` (as in :class:`CheckIgnore`): cache it and
        count the failures that waited for it unless they are to be ignored."""
        out: list[Decision] = []
        if self._cache is not None:
            self._cache.put(key, ignored, now)
        parked = self._pending.pop(("cmd", key), None)
        if not parked or ignored:
            return out
        floor = now - self.spec.findtime
        for fid, net, time, fields, matches in parked:
            if time >= floor:
                self._count(fid, net, None, time, fields, matches, now, out)
        return out

    def set_ignore(self, entries: Iterable[Network | str]) -> None:
        """Replace the ignored networks (the daemon re-resolved ``ignoreip`` host names)."""
        self.ignore = IgnoreList(entries)
        self._known, self._targets = {}, {}
        # tracked ids skip the ignore test (add_failure): forget those ignored from now on
        for key in [k for k in self.tracker.ids() if self._ignored(k)]:
            self.tracker.drop(key)

    def _ignored(self, fid: str) -> bool:
        net = _parse(fid)
        return (net if net is not None else fid) in self.ignore

    # -- bans ------------------------------------------------------------------------------

    def _ban(self, target: Target, key: str, time: float, now: float, *,
             failures: int = 0, matches: tuple[str, ...] = (),
             fields: Mapping[str, object] | None = None,
             bantime: float | None = None, members: tuple[str, ...] = (),
             trusted: bool = False) -> Ban | None:
        active = self.bans.get(target)
        if active is not None:
            # Already banned (lines logged while the ban was being applied, or a manual ban):
            # prolong only if the new ban would end later.
            length = self.policy.bantime if bantime is None else bantime
            until = None if length < 0 else time + length
            if not ends_later(until, active.until):
                return None
            active = self.bans.prolong(target, until)
            return Ban(self.name, target, active.time, until, active.bantime, active.count,
                       failures, matches, prolonged=True, fields=fields or _NO_FIELDS,
                       members=members, trusted=trusted)
        # ``count`` is per jail (what the store keeps); the ban time grows with the bans in
        # this jail or, with overalljails, in all of them. fail2ban stores the overall count
        # per jail and then sums those, counting earlier bans twice; warden does not.
        own = self.history.lookup(key, self.name)
        prev = (self.history.lookup(key, self.name, True)
                if self.spec.increment.overalljails else own)
        prior = prev.bans if prev is not None else 0
        count = (own.bans if own is not None else 0) + 1
        repeat = own is not None and time <= own.last
        if repeat:
            # The failures are older than the latest ban: a log read again after a restart.
            # fail2ban treats this as the same ban (no new count, not stored again).
            prior -= 1
            count -= 1
        if bantime is None:
            bantime = self.policy.duration(prior)
        until = None if bantime < 0 else time + bantime
        if until is not None and until < now:
            return None  # ended already (old log lines): nothing to enforce
        active = ActiveBan(key, time, until, count=count)
        self.bans.put(target, active)
        if not repeat:
            self.history.record(key, self.name, count, time)
        return Ban(self.name, target, time, until, active.bantime, count, failures, matches,
                   restored=repeat, fields=fields or _NO_FIELDS, members=members,
                   trusted=trusted)

    def ban(self, ip: str | Target, now: float, bantime: float | None = None, *,
            members: Sequence[str] = ()) -> list[Ban]:
        """Ban ``ip`` (an address or network) by hand from ``now``, for ``bantime`` seconds or
        the jail's (growing) ban time. Raise ValueError if ``ip`` is no address or network.
        ``members``: the addresses another host escalated this network for (the fleet)."""
        target = self._target(ip)
        ban = self._ban(target, format_target(target), now, now, bantime=bantime,
                        members=tuple(members))
        if ban is None:
            return []
        if ban.members:
            self._members[target] = ban.members
        elif not ban.prolonged:
            self._members.pop(target, None)
        return [ban]

    def members_of(self, target: Target) -> tuple[str, ...]:
        """The members of the active escalated ban of ``target`` (empty for any other)."""
        return self._members.get(target, ()) if target in self.bans else ()

    def unban(self, ip: str | Target, now: float) -> list[Unban]:
        """Lift the ban of ``ip`` by hand (a network lifts every ban inside it) and forget its
        history in this jail and its failures. Empty if nothing was banned."""
        target = ip if isinstance(ip, str) and ip in self.bans else self._target(ip)
        if target in self.bans:
            victims = [target]
        elif isinstance(target, str) or target.prefixlen == target.max_prefixlen:
            victims = []
        else:
            victims = [t for t in self.bans if contains(target, t)]
        out: list[Unban] = []
        for victim in victims:
            self._members.pop(victim, None)
            active = self.bans.pop(victim)
            assert active is not None
            self.history.forget(active.key, self.name)
            self.tracker.drop(active.key)
            if self.escalator is not None:
                self.escalator.forget(victim)
            out.append(Unban(self.name, victim, now, "manual"))
        return out

    def unban_all(self, now: float, forget: bool = True) -> list[Unban]:
        """Lift every ban (``forget``: and their history in this jail, as ``unban --all``)."""
        removed = self.bans.clear()
        self._members.clear()
        if self.escalator is not None:
            self.escalator.clear()
        if forget:
            for _target, active in removed:
                self.history.forget(active.key, self.name)
        return [Unban(self.name, target, now, "flush") for target, _active in removed]

    @staticmethod
    def _target(ip: str | Target) -> Target:
        if isinstance(ip, str):
            net = parse_network(ip)
            if net is None:
                raise ValueError(f"not an IP address or network: {ip!r}")
            return net
        return ip

    def is_banned(self, ip: str | Target) -> bool:
        """True if exactly this address or network is banned."""
        target = parse_network(ip) if isinstance(ip, str) else ip
        return target in self.bans if target is not None else ip in self.bans

    def restore(self, bans: Iterable[BanRecord], now: float, *,
                members: Mapping[str, Sequence[str]] | None = None,
                recent: Iterable[RecentBan] = ()) -> list[Ban]:
        """Take back the active bans the store kept over a restart (the daemon reconciles the
        firewall with them). Bans of ignored addresses and bans already over are left out;
        bans longer than the jail now gives are cut to its longest, as fail2ban does.

        ``members``: of the escalated network bans among them, their members by address.
        ``recent``: the bans of the history (of any jail; this one's are taken) that started
        within ``findtime``: noted again in their order, they give back the escalation
        groups (``escalate``) as they were before the restart."""
        out: list[Ban] = []
        members = members or {}
        longest = self.policy.max_duration()
        for record in bans:
            net = parse_network(record.addr)
            target: Target = net if net is not None else record.addr
            if target in self.ignore:
                continue
            bantime = -1.0 if record.bantime < 0 else float(record.bantime)
            if longest >= 0 and (bantime < 0 or bantime > longest):
                bantime = longest
            until = None if bantime < 0 else record.start + bantime
            if until is not None and until <= now:
                continue
            key = format_target(target)
            old = self.bans.get(target)
            if old is not None and not ends_later(until, old.until):
                continue
            self.bans.put(target, ActiveBan(key, record.start, until, count=record.count))
            self.history.record(key, self.name, record.count, record.start)
            inside = tuple(members.get(record.addr, ()))
            if inside:
                if target not in self._members:  # status counts the restored escalations
                    self.escalations += 1
                self._members[target] = inside
            else:
                self._members.pop(target, None)
            out.append(Ban(self.name, target, record.start, until, bantime, record.count,
                           restored=True, members=inside))
        if self.escalator is not None:
            self._regroup(recent, now)
        return out

    def _regroup(self, recent: Iterable[RecentBan], now: float) -> None:
        """Note the recent bans of this jail in the escalator again, in the order they were
        decided: the groups that completed then complete (and are forgotten) again, the
        others are left as they were. Bans by hand or from the fleet are left out, as
        they were when they were made (only the jail's own counting notes a ban)."""
        assert self.escalator is not None
        floor = now - self.spec.findtime
        found: list[tuple[float, Target]] = []
        for record in recent:
            if record.jail != self.name or record.start < floor or not record.counted:
                continue
            net = parse_network(record.addr)
            if net is not None:
                found.append((record.start, net))
        for time, target in sorted(found, key=_narrow_first):
            self.escalator.note(target, time)

    # -- time ------------------------------------------------------------------------------

    def expire(self, now: float) -> list[Unban]:
        """Lift the bans that ended before ``now`` and forget failures out of the window."""
        out = [Unban(self.name, target, now, "expired") for target in self.bans.expire(now)]
        if self._members:
            for unban in out:
                self._members.pop(unban.ip, None)
        self.tracker.expire(now)
        if self.escalator is not None:
            self.escalator.expire(now)
        if self.trust is not None:
            self.trust.expire(now)
        floor = now - self.spec.findtime
        for key in [k for k, v in self._pending.items() if v[-1][2] < floor]:
            self._dropped += len(self._pending.pop(key))
        return out

    def next_expiry(self) -> float | None:
        """When the next ban ends (call :meth:`expire` just after), ``None`` if none will."""
        return self.bans.next_expiry()

    def status(self, now: float) -> JailStatus:
        """Counts and the banned list (oldest ban first), with the time left of each ban."""
        banned = tuple(
            BannedEntry(format_target(target), a.time, a.until,
                        None if a.until is None else max(0.0, a.until - now), a.count)
            for target, a in self.bans.items())
        return JailStatus(self.name, len(self.tracker), self.total_failed, len(self.bans),
                          self.bans.total, banned, self.tracker.evicted + self._dropped,
                          sum(len(v) for v in self._pending.values()), self.skewed,
                          self.escalations, len(self.trust) if self.trust is not None else 0)

