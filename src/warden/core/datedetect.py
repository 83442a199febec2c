"""Find and convert the date of a log line, with fail2ban 1.0.2's results.

:class:`DateDetector` holds an ordered list of templates (:mod:`warden.core.datetemplates`).
Like fail2ban it first retries the template that won last time, at the same place in the line,
and otherwise searches the list in order, preferring a date near the line start; a template
that keeps winning is moved towards the front. This adaptation changes results (a line can
hold two dates), so it is reproduced step by step.

Speed: a match is one regex search plus a dictionary lookup; the epoch of everything but the
seconds is cached per distinct text (date, hour and minute), so the full conversion runs about
once per minute of log. Classic syslog stamps skip even the regex (see ``_SYSLOG_TEMPLATE``).
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple

from warden.core import datetemplates as dt
from warden.core.strptime import NowContext, parse_timezone, resolve, year_window_regex
from warden.errors import ConfigError, RegexError

__all__ = ["DateDetector", "DateMatch"]

# fail2ban reads the clock once at start-up to size the %ExY year window (2000 up to the end of
# the decade of that year + 3). warden never shrinks it below the window of this release so
# that old logs replayed with an old `now` still find their dates.
_RELEASE_YEAR = 2026
_BIG = 0x7FFFFFFF
_UNUSED_AFTER = 300.0  # seconds after which a template counts as unused when reordering
_CACHE_LIMIT = 4096
# The default syslog template, line-start anchored. For it, a line whose first 13 characters
# ("Nov 27 21:31:") equal those of an earlier line that the regex matched as exactly
# month-space-day-space-hour:minute: (no weekday), followed by two digits 00-59 and then a space
# not followed by "2" (no year, no fraction) or the end of the line, is matched by the regex
# again with the same fields and span (0, 15): the month, day, hour and minute alternatives
# are decided by those 13 characters, the seconds by the next two, and the optional
# fraction/year by the next two. The prefix cache maps such 13-character keys to the minute.
_SYSLOG_TEMPLATE = "{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?"
_SYSLOG_PREFIX = 13
_SECONDS = {f"{n:02d}": n for n in range(60)}
_KEY_FIELDS = ("y", "Y", "m", "b", "B", "d", "H", "I", "p", "M", "j", "U", "W", "z", "Z")


class DateMatch(NamedTuple):
    """Where the date is in the line and what time it says (an immutable value).

    A NamedTuple rather than a frozen dataclass: one is made per log line, and building a
    tuple costs a third of a frozen dataclass' ``__init__``.
    """

    start: int  # line[start:end] is the date text, cut out before failregex runs
    end: int
    time: float | None  # epoch seconds; None: empty match, or text that is no valid date
    template: str  # name of the template that matched


class _Entry:
    """A template in one detector's list, with that detector's statistics for it."""

    __slots__ = (
        "anchored",
        "cache",
        "distance",
        "hits",
        "key_groups",
        "last_used",
        "name",
        "number",
        "prefix_cache",
        "search",
        "sec_group",
        "template",
    )

    def __init__(self, template: dt.Template) -> None:
        self.template = template
        self.name = template.name
        self.search = template.regex.search
        self.number = template.kind is not dt.Kind.PATTERN  # epoch or TAI64N
        self.hits = 0
        self.last_used = 0.0
        self.distance = _BIG  # where its last date started in the line
        # Conversion cache: text of every group but the seconds -> (epoch at :00, valid from
        # now-wall); see DateDetector._convert.
        self.cache: dict[object, tuple[float, float]] = {}
        index = template.regex.groupindex
        self.sec_group = index.get("S", 0)
        # The fields the time depends on, seconds aside (weekday names only count with a week
        # number; fractions and separators never).
        used = set(_KEY_FIELDS)
        if "U" in index or "W" in index:
            used |= {"a", "A", "w"}
        self.key_groups = tuple(i for n, i in index.items() if n in used) or (0,)
        self.anchored = template.anchored
        # Classic syslog stamps ("Nov 27 21:31:57 ") skip even the regex: see _SYSLOG_PREFIX.
        self.prefix_cache: dict[str, tuple[float, float]] | None = (
            {} if template.pattern == _SYSLOG_TEMPLATE else None
        )

    @property
    def weight(self) -> float:
        return self.hits * self.template.weight / max(1, self.distance)


class DateDetector:
    """Finds dates in log lines with a filter's ``datepattern`` (or the default templates)."""

    def __init__(
        self, pattern: str | None = None, *, default_tz: str | None = None, now: float | None = None
    ) -> None:
        """Build the template list.

        ``pattern``: the filter's ``datepattern`` (one template per line; ``{^LN-BEG}``,
        ``{DEFAULT}``, ``{DATE}``, ``{NONE}``, ``EPOCH``... as in fail2ban); None or blank for the
        default list. ``default_tz``: ``logtimezone`` (``UTC``, ``UTC+0200``, ``CEST``...), the
        zone of dates written without one. ``now``: the clock at load time, only used to size
        the ``%ExY`` year window. Raises RegexError for an invalid pattern, ConfigError (message
        starting with ``logtimezone:``) for an unknown zone.
        """
        try:
            self._default_tz = parse_timezone(default_tz)
        except ValueError as exc:
            raise ConfigError(f"logtimezone: {exc}") from None
        year = time.localtime(now).tm_year if now is not None else _RELEASE_YEAR
        self._year_regex = year_window_regex(max(year, _RELEASE_YEAR) + 3)
        try:
            templates = dt.build_templates(pattern or "", self._year_regex)
        except dt.PatternError as exc:
            raise RegexError(str(exc), option="datepattern", index=exc.index) from None
        self._entries = [_Entry(t) for t in templates]
        self._ordinal = {id(e): i for i, e in enumerate(self._entries)}
        self._by_ordinal = list(self._entries)
        #: How often a template was moved (the only step that reads hit counts and last use).
        self.reorders = 0
        # Matching state (see _find): last winner, where its date was, first never-won slot.
        self._last_idx = _BIG
        self._last_line = ""
        self._last_dist = 1
        self._last_end = _BIG
        self._first_unused = 0
        # Now-context cache: for now in [lo, hi), wall clock = now + off and the date is `day`.
        self._ctx_lo = self._ctx_hi = 0.0
        self._ctx_off = 0.0
        self._ctx_day: tuple[int, int, int] = (0, 0, 0)

    # --- public -----------------------------------------------------------------------------
    def hits(self) -> list[tuple[str, int]]:
        """(template name, number of lines it matched), in the current try order."""
        return [(e.template.name, e.hits) for e in self._entries]

    @property
    def templates(self) -> list[str]:
        """Template names in the current try order."""
        return [e.template.name for e in self._entries]

    def match(self, line: str, now: float) -> DateMatch | None:
        """Find the date in ``line``; ``now`` (epoch seconds) completes partial dates.

        None: no template matched. A template that matches empty text gives start == end and
        time None; text that is no valid date (Feb 30) gives time None.
        """
        i = self._last_idx
        entries = self._entries
        if i < len(entries):
            # Hot path: the last winner wins again (the first steps of _find, inlined). On a
            # miss, _find starts over from the same state. The winner keeps its index, so no
            # reordering, and _first_unused needs no update: after _find it never equals the
            # winner's index (it is moved past it, or past every template that has won).
            entry = entries[i]
            if entry.anchored:
                pc = entry.prefix_cache
                if pc is not None and self._ctx_lo <= now < self._ctx_hi:
                    hit = pc.get(line[:_SYSLOG_PREFIX])
                    tail = line[15:17]
                    if (
                        hit is not None
                        and ((tail[:1] == " " and tail[1:] != "2") or len(line) == 15)
                        and (sec_value := _SECONDS.get(line[13:15])) is not None
                        and now + self._ctx_off >= hit[1]
                    ):
                        entry.hits += 1
                        entry.last_used = now
                        entry.distance = 0
                        self._last_line, self._last_dist, self._last_end = line, 0, 15
                        return _new_tuple(DateMatch, (0, 15, hit[0] + sec_value, entry.name))
                m = entry.search(line)
            else:
                m = None
                ll, d, e = self._last_line, self._last_dist, self._last_end
                if (
                    line[d - 1 : d] == ll[d - 1 : d]
                    or (line[d : d + 1] == (c := ll[d : d + 1]) and not c.isalnum())
                ) and (
                    line[e : e + 1] == ll[e : e + 1]
                    or (line[e - 1 : e] == (c := ll[e - 1] if ll else "") and not c.isalnum())
                ):
                    m = entry.search(line, d, e)
                    if m is not None and len(entries) != 1 and m.span() != (d, e):
                        m = None
            if m is not None:
                dist, end = m.span()
                entry.hits += 1
                entry.last_used = now
                entry.distance = dist
                self._last_line, self._last_dist, self._last_end = line, dist, end
                start, stop = m.span(1)
                if entry.number and start != stop:
                    value = dt.number_value(m, entry.template)
                    return _new_tuple(DateMatch, (start, stop, value, entry.name))
                sg = entry.sec_group
                if sg and start != stop and self._ctx_lo <= now < self._ctx_hi:
                    hit = entry.cache.get(m.group(*entry.key_groups))
                    sec = m.group(sg)
                    if hit is not None and sec is not None and now + self._ctx_off >= hit[1]:
                        seconds = int(sec)
                        if seconds < 60:
                            return _new_tuple(
                                DateMatch, (start, stop, hit[0] + seconds, entry.name)
                            )
                return self._finish(m, entry, now)
        found = self._find(line, now)
        if found is None:
            return None
        return self._finish(*found, now)

    def match_all(self, lines: list[str], now: float) -> list[DateMatch | None]:
        """``[self.match(line, now) for line in lines]``, with the same effect on the state.

        While the last winner is the classic syslog template and its prefix cache answers
        (see ``_SYSLOG_PREFIX``), the steps of :meth:`match`'s first branch run here with the
        lookups hoisted out of the loop and the bookkeeping (hits, last line) done once per
        run of such lines; any other line goes through :meth:`match` itself.
        """
        out: list[DateMatch | None] = []
        append = out.append
        match = self.match
        pos, count = 0, len(lines)
        while pos < count:
            i = self._last_idx
            entry = self._entries[i] if i < len(self._entries) else None
            pc = entry.prefix_cache if entry is not None and entry.anchored else None
            if entry is None or not self._ctx_lo <= now < self._ctx_hi:
                append(match(lines[pos], now))
                pos += 1
                continue
            if pc is None:
                if entry.anchored and entry.sec_group and not entry.number:
                    pos = self._run_anchored(entry, lines, pos, now, out)
                    if pos < count:
                        append(match(lines[pos], now))
                        pos += 1
                else:
                    append(match(lines[pos], now))
                    pos += 1
                continue
            wall, name, seconds = now + self._ctx_off, entry.name, _SECONDS
            last = None
            start = pos
            while pos < count:
                line = lines[pos]
                hit = pc.get(line[:_SYSLOG_PREFIX])
                if (
                    hit is None
                    or not ((line[15:16] == " " and line[16:17] != "2") or len(line) == 15)
                    or (sec_value := seconds.get(line[13:15])) is None
                    or wall < hit[1]
                ):
                    break
                append(_new_tuple(DateMatch, (0, 15, hit[0] + sec_value, name)))
                last = line
                pos += 1
            if last is not None:
                entry.hits += pos - start
                entry.last_used = now
                entry.distance = 0
                self._last_line, self._last_dist, self._last_end = last, 0, 15
            if pos < count:
                append(match(lines[pos], now))  # may change the winner or the caches
                pos += 1
        return out

    def _run_anchored(self, entry: _Entry, lines: list[str], pos: int, now: float,
                      out: list[DateMatch | None]) -> int:
        """:meth:`match` for ``lines[pos:]`` while the last winner is an anchored pattern
        template whose conversion is cached (nginx's ``^[^\\[]*\\[`` dates): the steps of
        its first branch with the lookups hoisted and the bookkeeping done once per run.
        Returns the position of the first line not handled (it changes no state)."""
        search, cache, key_groups, sg = entry.search, entry.cache, entry.key_groups, entry.sec_group
        wall, name, append, count = now + self._ctx_off, entry.name, out.append, len(lines)
        new = _new_tuple
        first, last = pos, None
        while pos < count:
            m = search(lines[pos])
            if m is None:
                break
            start, stop = m.span(1)
            if start == stop:
                break
            hit = cache.get(m.group(*key_groups))
            sec = m.group(sg)
            if hit is None or sec is None or wall < hit[1]:
                break
            seconds = int(sec)
            if seconds >= 60:
                break
            append(new(DateMatch, (start, stop, hit[0] + seconds, name)))
            last = m
            pos += 1
        if last is not None:
            dist, end = last.span()
            entry.hits += pos - first
            entry.last_used = now
            entry.distance = dist
            self._last_line, self._last_dist, self._last_end = last.string, dist, end
        return pos

    def _finish(self, m: re.Match[str], entry: _Entry, now: float) -> DateMatch:
        start, end = m.span(1)
        if start == end:
            return self._result(start, end, None, entry.name)
        return self._result(start, end, self._convert(m, entry, now), entry.name)

    @staticmethod
    def _result(start: int, end: int, value: float | None, name: str) -> DateMatch:
        return _new_tuple(DateMatch, (start, end, value, name))

    # --- state, for checking speculative runs (warden.cli.chunks) -----------------------------
    def decisive_state(self) -> tuple[object, ...]:
        """Everything future matches depend on, except hit counts and times of last use.

        Those two are read only when a template is moved (``reorders`` counts that), and the
        conversion caches only memoise pure results. So two detectors with equal decisive
        states give identical results on the same lines, as long as neither moves a template.
        """
        ordinal = self._ordinal
        return (
            tuple(ordinal[id(e)] for e in self._entries),
            tuple(e.distance for e in self._entries),
            self._last_idx, self._last_line, self._last_dist, self._last_end,
            self._first_unused,
        )

    def hit_counts(self) -> list[tuple[int, float]]:
        """``(hits, last use)`` of each template, in the order of the original list."""
        return [(e.hits, e.last_used) for e in self._by_ordinal]

    def restore(self, state: tuple[object, ...], counts: list[tuple[int, float]]) -> None:
        """Take over a :meth:`decisive_state` and :meth:`hit_counts` of a detector that was
        built from the same pattern (for instance in a forked process)."""
        order, distances, last_idx, last_line, last_dist, last_end, first_unused = state
        assert isinstance(order, tuple) and isinstance(distances, tuple)
        entries = [self._by_ordinal[i] for i in order]
        for entry, distance in zip(entries, distances, strict=True):
            entry.distance = distance
        for entry, (hits, last_used) in zip(self._by_ordinal, counts, strict=True):
            entry.hits, entry.last_used = hits, last_used
        self._entries = entries
        self._last_idx, self._last_line = last_idx, last_line  # type: ignore[assignment]
        self._last_dist, self._last_end = last_dist, last_end  # type: ignore[assignment]
        self._first_unused = first_unused  # type: ignore[assignment]

    # --- finding ----------------------------------------------------------------------------
    def _find(self, line: str, now: float) -> tuple[re.Match[str], _Entry] | None:
        entries = self._entries
        count = len(entries)
        found: tuple[re.Match[str], int, int, int] | None = None
        skip = _BIG
        m = None
        d, e = self._last_dist, self._last_end
        i = self._last_idx
        if i < count:
            entry = entries[i]
            t = entry.template
            if t.flags & 12:  # anchored at line start/end: its place cannot move
                m = t.regex.search(line)
                skip = i
            else:
                # Same surroundings as last time: search only there (cheap, and keeps a date
                # in the message body from winning); otherwise search the whole line.
                ll = self._last_line
                before, at = ll[d - 1 : d], ll[d : d + 1]
                end_before, end_at = (ll[e - 1] if ll else ""), ll[e : e + 1]
                if (line[d - 1 : d] == before or (line[d : d + 1] == at and not at.isalnum())) and (
                    line[e : e + 1] == end_at
                    or (line[e - 1 : e] == end_before and not end_before.isalnum())
                ):
                    m = t.regex.search(line, d, e)
                else:
                    m = t.regex.search(line)
                    skip = i
            if m is not None:
                dist, end = m.span()
                if not (count == 1 or t.flags & 12 or (dist == d and end == e)):
                    found = (m, dist, end, i)  # moved: keep as fallback, look for better
                    m = None
        if m is None:
            i = 0
            while i < count:
                if i == skip:
                    i += 1
                    continue
                entry = entries[i]
                t = entry.template
                m = t.regex.search(line)
                if m is not None:
                    dist, end = m.span()
                    if i + 1 >= count or t.flags & 12:
                        break
                    # A date further into the line than usual may be part of the message:
                    # remember the nearest such and keep looking.
                    if dist > entry.distance or dist > self._last_dist:
                        if found is None or dist < found[1]:
                            found = (m, dist, end, i)
                        m = None
                        i += 1
                        continue
                    break
                i += 1
            if m is None:
                if found is None:
                    return None
                m, dist, end, i = found
                entry = entries[i]
        else:
            dist, end = m.span()
        entry.hits += 1
        entry.last_used = now
        entry.distance = dist
        if self._first_unused == i:
            self._first_unused += 1
        self._last_line, self._last_dist, self._last_end = line, dist, end
        if i and i != self._last_idx:
            i = self._reorder(i)
        self._last_idx = i
        return m, entry

    def _reorder(self, num: int) -> int:
        """Move a winning template forward when it has earned it; return its new index."""
        self.reorders += 1
        entries = self._entries
        entry = entries[num]
        stale = entry.last_used - _UNUSED_AFTER
        weight = entry.weight
        pos = self._first_unused if self._first_unused < num else num // 2

        def movable(p: int) -> bool:
            return weight > entries[p].weight or stale > entries[p].last_used

        if not movable(pos):
            if pos == num - 1:
                return num
            pos = num - 1
            if not movable(pos):
                return num
        del entries[num]
        entries.insert(pos, entry)
        while self._first_unused < len(entries) and entries[self._first_unused].hits:
            self._first_unused += 1
        return pos

    # --- converting -------------------------------------------------------------------------
    def _wall(self, now: float) -> float:
        """``now`` as local wall-clock seconds; refreshes the cached hour when now leaves it."""
        if not self._ctx_lo <= now < self._ctx_hi:
            lo = now // 3600 * 3600
            first, last = time.localtime(lo), time.localtime(lo + 3599)
            day = (first.tm_year, first.tm_mon, first.tm_mday)
            if first.tm_gmtoff == last.tm_gmtoff and day == (
                last.tm_year,
                last.tm_mon,
                last.tm_mday,
            ):
                self._ctx_lo, self._ctx_hi = lo, lo + 3600
            else:  # offset or date changes inside this hour: do not cache
                self._ctx_lo = self._ctx_hi = 0.0
                lt = time.localtime(now)
                day = (lt.tm_year, lt.tm_mon, lt.tm_mday)
                first = lt
            self._ctx_off = float(first.tm_gmtoff)
            if day != self._ctx_day:
                self._ctx_day = day
                for e in self._entries:  # cached conversions assumed the old date
                    e.cache.clear()
                    if e.prefix_cache is not None:
                        e.prefix_cache.clear()
        return now + self._ctx_off

    def _convert(self, m: re.Match[str], entry: _Entry, now: float) -> float | None:
        if entry.number:
            return dt.number_value(m, entry.template)
        wall = now + self._ctx_off if self._ctx_lo <= now < self._ctx_hi else self._wall(now)
        sec_text = m.group(entry.sec_group) if entry.sec_group else "0"
        key = m.group(*entry.key_groups)
        cached = entry.cache.get(key)
        if cached is not None and sec_text is not None and wall >= cached[1]:
            sec = int(sec_text)
            if sec < 60:
                return cached[0] + sec
        fields = m.groupdict()
        ctx = NowContext(wall, *self._ctx_day) if self._ctx_hi else NowContext.at(now)
        try:
            value = resolve(fields, ctx, self._default_tz)
        except (ValueError, KeyError, TypeError, OverflowError):
            return None
        if entry.sec_group and sec_text is not None:
            self._remember(entry, key, fields, ctx, m)
        return value

    def _remember(
        self,
        entry: _Entry,
        key: object,
        fields: dict[str, str | None],
        ctx: NowContext,
        m: re.Match[str],
    ) -> None:
        """Cache the epoch of second 0 of this minute, if second 59 is exactly 59 s later and
        neither needed a "yesterday"/"last year" correction (those depend on now)."""
        fields = dict(fields)
        try:
            fields["S"] = "0"
            first = resolve(fields, ctx, self._default_tz)
            fields["S"] = "59"
            last = resolve(fields, ctx, self._default_tz)
        except (ValueError, KeyError, TypeError, OverflowError):
            return
        if last - first != 59:
            return
        # Corrections apply when the date is after now (+1 day without a year); a minute that
        # needed none keeps needing none as now grows, until the date changes (cache cleared).
        year = fields.get("Y") or fields.get("y")
        day_given = fields.get("d") or fields.get("j")
        if year and day_given:
            valid_from = float("-inf")
        else:
            # The same fields as `last` with no correction possible (so no error either).
            ahead = resolve(
                fields, NowContext(float("inf"), ctx.year, ctx.month, ctx.day), self._default_tz
            )
            if ahead != last:
                return  # a correction was applied at ctx: not cacheable
            # Wall-clock now from which no correction applies to any second of the minute.
            valid_from = ctx.wall
        if len(entry.cache) >= _CACHE_LIMIT:
            entry.cache.clear()
        entry.cache[key] = (first, valid_from)
        pc = entry.prefix_cache
        if (
            pc is not None
            and m.span(1) == (0, 15)
            and m.start("S") == _SYSLOG_PREFIX
            and m.start("b") == 0
            and fields.get("a") is None
            and len(pc) < _CACHE_LIMIT
        ):
            pc[m.string[:_SYSLOG_PREFIX]] = (first, valid_from)


_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__
