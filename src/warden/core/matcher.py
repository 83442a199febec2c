"""One filter's matching step: compiled once, immutable, shared by every driver.

A :class:`Matcher` is built once per filter definition (its regexes compiled, screened and
indexed); the state a filter carries from line to line lives apart, in a :class:`FilterState`.
:meth:`Matcher.step` takes one line (line end stripped, cut to length), the date found in it
and ``now``, updates the state and returns a :class:`LineResult`. The offline tester
(``warden regex``), the daemon (``Jail.feed`` / ``feed_lines``) and the speculative chunks are
loops over this one step, so what one finds the others find.

Per line, in fail2ban's order (``processLine`` / ``findFailure``):

1. the date text is cut out of the line (or a recent date reused for an undated line);
2. multi-line filters append the line to their buffer, the text searched is the buffer joined
   with ``\\n``;
3. with fewer ignoreregexes than failregexes - 2, an ignoreregex match drops the line now;
4. ``prefregex`` must match; its ``<F-CONTENT>`` replaces the text the failregexes see;
5. the first failregex that matches wins, unless an ignoreregex matches its lines;
6. the match is merged into its ``<F-MLFID>`` session, if any, and its failure id derived.

Literal screens (:mod:`warden.core.prefilter`) let a benign line skip the regex searches.
Results follow fail2ban's daemon (the first match wins, pending and ``<F-NOFAIL>`` states
report nothing); the time of a failure is ``None`` when no date was known, the caller decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from warden.core.datedetect import DateMatch
from warden.core.failregex import ID_GROUPS, FilterRegex, compile_regex, failure_id
from warden.core.filterdef import FilterDefinition
from warden.core.prefilter import Screen, text_screen
from warden.core.sessions import Sessions
from warden.errors import RegexError

__all__ = ["LAST_DATE_WINDOW", "NOTHING", "Failure", "FilterState", "LineResult",
           "Matcher", "Step"]

#: How long a reused "last date" stays valid for a line without one (fail2ban: 60 s).
LAST_DATE_WINDOW = 60.0


class Failure(NamedTuple):
    """One failure, as fail2ban reports it (an immutable value).

    ``fid`` is the failure id (the ``<HOST>`` address, canonical if valid, else raw; or the
    ``<F-ID>``); ``time`` the epoch of the line (``None`` if unknown); ``fields`` every named
    capture, lower-case (for ``<F-MLFID>`` sessions the merged values, ``users`` a sorted
    tuple); ``matches`` the log lines making up the failure; ``regex`` the failregex index.
    """

    fid: str
    time: float | None
    fields: Mapping[str, object]
    matches: tuple[str, ...]
    regex: int


class LineResult(NamedTuple):
    """What one line did: its failures, which failregex matched it, which ignoreregex.

    ``failregex`` is set whenever a failregex matched, even if the match was then ignored or
    is not (yet) a failure (``<F-NOFAIL>``, a session still waiting for its host). ``found``
    is the number of failures: ``len(failures)``, or, from a matcher built with
    ``details=False``, the count alone (``failures`` stays empty). Results without failure
    details are shared values: a line that matched nothing gives :data:`NOTHING`.
    """

    failures: tuple[Failure, ...] = ()
    failregex: int | None = None
    ignoreregex: int | None = None
    found: int = 0

    @property
    def matched(self) -> bool:
        """True if a failregex matched the line (even if ignored or not yet a failure)."""
        return self.failregex is not None


#: The result of a line no failregex matched (one shared value: drivers test ``is NOTHING``).
NOTHING = LineResult()

# A buffered line: (text the regexes see, i.e. with the date cut out; the line as logged).
_Line = tuple[str, str]
# Session records as Sessions.items() gives them.
_SessionItems = list[tuple[object, tuple[dict[str, object], float]]]
# What a settled failregex match amounts to (see Matcher._settle).
_Settled = tuple[str, Mapping[str, object], tuple[str, ...]]
_NO_FIELDS: Mapping[str, object] = MappingProxyType({})
_NO_FAILURE = -1

#: The per-line step of a matcher (see :attr:`Matcher.step`).
Step = Callable[["FilterState", str, "DateMatch | None", float], LineResult]


def _lean_fields(fail: dict[str, object]) -> Mapping[str, object]:
    """A lean failure's fields: only the host name its id may be (``Jail.add_failure``
    resolves an id that is its ``dns`` capture)."""
    dns = fail.get("dns")
    return _NO_FIELDS if dns is None else MappingProxyType({"dns": dns})


def _joined(lines: list[_Line]) -> str:
    return "\n".join([ln[0] for ln in lines]) + "\n"


class FilterState:
    """What one filter carries from line to line: the last date, the multi-line buffer and
    the ``<F-MLFID>`` sessions. Owned by one driver; :meth:`Matcher.step` updates it."""

    __slots__ = ("buffer", "last_date", "sessions")

    def __init__(self) -> None:
        #: the last date found (reused for undated lines within ``LAST_DATE_WINDOW``)
        self.last_date: float | None = None
        #: multi-line filters: the buffered lines, oldest first
        self.buffer: list[_Line] = []
        self.sessions = Sessions()

    def snapshot(self) -> tuple[float | None, tuple[_Line, ...], _SessionItems]:
        """The state as a comparable value (the sessions' live dictionaries included: pickle
        it at once if it must outlive further lines)."""
        return self.last_date, tuple(self.buffer), self.sessions.items()

    def load(self, snapshot: tuple[float | None, tuple[_Line, ...], _SessionItems]) -> None:
        """Take over a :meth:`snapshot` (of a state of a matcher of the same definition)."""
        last_date, buffer, sessions = snapshot
        self.last_date = last_date
        self.buffer = list(buffer)
        self.sessions.load(list(sessions))


class Matcher:
    """One filter definition, compiled: the regexes, their screens and the per-line step.

    Built once per filter and never changed afterwards, so one matcher may serve any number
    of :class:`FilterState` values (a worker's, a jail's).
    """

    __slots__ = ("_counted", "_details", "_fail", "_ignore", "_ignore_first", "_ignored",
                 "_journal", "_lean", "_maxlines", "_multi", "_only", "_plan_any", "_plan_by_first",
                 "_pref", "_pref_content", "_pref_fields", "_pref_screen", "_screen_out",
                 "definition", "step")

    def __init__(self, definition: FilterDefinition, *, journal: bool = False,
                 details: bool = True, lean: bool = False) -> None:
        """Compile ``definition``; raise :class:`RegexError` for the first bad regex.

        With ``journal=True`` lines carry no date and every line's time is ``now``. With
        ``details=False`` a failure is reported by its count only (``LineResult.found``), for
        drivers that only count: building a failure's fields (for a session, a copy of its
        merged captures) is a tenth of a matched line's cost and changes no state. With
        ``lean=True`` a failure carries only what counting it reads: no log lines
        (``matches`` empty) and of its fields only ``dns`` (the host name its id is, if it
        is one), for drivers that count failures and show neither (``warden replay``).
        """
        self._details = details
        self._lean = lean
        if definition.maxlines < 1:
            raise RegexError("maxlines must be at least 1", option="maxlines")
        self.definition = definition
        self._journal = journal
        self._maxlines = definition.maxlines
        self._multi = self._maxlines > 1
        self._pref = (compile_regex(definition.prefregex, option="prefregex")
                      if definition.prefregex else None)
        self._fail = tuple(
            compile_regex(rx, option="failregex", index=i, multiline=self._multi)
            for i, rx in enumerate(definition.failregex)
        )
        self._ignore = tuple(
            compile_regex(rx, option="ignoreregex", index=i)
            for i, rx in enumerate(definition.ignoreregex)
        )
        pref_has_id = self._pref is not None and self._pref.has_group(*ID_GROUPS)
        for rx in self._fail:
            if not rx.has_group(*ID_GROUPS) and not pref_has_id:
                raise RegexError(
                    f"failregex #{rx.index + 1} has no <HOST>, <ADDR>, <F-ID> or <F-MLFID>: "
                    f"{rx.source!r}", option="failregex", index=rx.index)
        self._ignore_first = 0 < len(self._ignore) < len(self._fail) - 2
        # Per failregex, what the hot loop needs, looked up once: the cheapest screen test
        # first (one required literal), then the rest of the screen, then the search.
        plan = [(rx.screen.key, rx.screen if rx.screen.clauses else None, rx.search, rx)
                for rx in self._fail]
        # Anchored failregexes can only match text starting with certain characters: index
        # the plan by the first character so a line meets only the failregexes it could match.
        firsts = [rx.screen.first for rx in self._fail]
        self._plan_any = tuple(p for p, f in zip(plan, firsts, strict=True) if f is None)
        self._plan_by_first = {
            ch: tuple(p for p, f in zip(plan, firsts, strict=True) if f is None or ch in f)
            for ch in set().union(*(f for f in firsts if f is not None))
        }
        self._pref_content = self._pref is not None and self._pref.has_group("content")
        self._pref_fields = self._fields_of_prefregex()
        self._pref_screen: Screen | None = (
            None if self._pref is None or self._pref.screen.trivial else self._pref.screen)
        # Lines holding none of these literals cannot be matched by any failregex, whatever
        # part of them a prefregex hands on (prefilter.text_screen): they skip the prefregex.
        # Only where a skipped line changes no state: no buffer, no early ignoreregexes.
        self._screen_out = (None if self._multi or self._ignore_first
                            else text_screen([rx.pattern for rx in self._fail]))
        # Results without failures are shared values, allocated once.
        self._only = tuple(LineResult(failregex=i) for i in range(len(self._fail)))
        self._counted = tuple(LineResult((), i, None, 1) for i in range(len(self._fail)))
        self._ignored = tuple(
            tuple(LineResult(failregex=i, ignoreregex=j) for j in range(len(self._ignore)))
            for i in range(len(self._fail)))
        #: The per-line step: ``step(state, line, found, now)`` matches the next line of the
        #: log and updates ``state``. ``line`` has its line end stripped and is cut to
        #: length; ``found`` is the date the filter's date detector found in it (journal
        #: matchers ignore it); ``now`` completes missing times. Returns a :class:`LineResult`.
        self.step: Step = self._build_step()

    def _fields_of_prefregex(self) -> Callable[[re.Match[str]], dict[str, object]] | None:
        """What a prefregex match adds to a failure's fields: its groups but ``content``, as
        a new dictionary (None: no prefregex). Named groups are picked one by one where
        that is all fail2ban's dictionary holds, so the content is never copied out."""
        pref = self._pref
        if pref is None:
            return None
        names = tuple(n for n in pref.pattern.groupindex if n != "content")
        if pref.compound or len(names) > 2:
            generic = pref.groups

            def fields(pre: re.Match[str]) -> dict[str, object]:
                groups = generic(pre)
                groups.pop("content", None)
                return groups
            return fields
        if not names:
            return lambda _: {}
        if len(names) == 1:
            (name,) = names
            return lambda pre: {name: pre.group(name)}
        return lambda pre: dict(zip(names, pre.group(*names), strict=True))

    @property
    def keeps_lines(self) -> bool:
        """True if the state carries lines from line to line (a multi-line buffer, or
        ``<F-MLFID>`` sessions); else it is only the last date."""
        return self._multi or any(rx.has_group("mlfid") for rx in
                                  (*self._fail, *((self._pref,) if self._pref else ())))

    @property
    def screen_out(self) -> tuple[str, ...] | None:
        """Literals one of which a line must hold (its date cut out) for any failregex to
        match it; a line holding none is :data:`NOTHING` and changes no filter state, only
        its date does. None: no such screen (multi-line buffers, early ignoreregexes)."""
        return self._screen_out

    @property
    def failregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled failregexes, in order."""
        return self._fail

    @property
    def ignoreregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled ignoreregexes, in order."""
        return self._ignore

    def _build_step(self) -> Step:
        """The per-line step (see :attr:`step`), with everything it needs bound in."""
        # A closure rather than a method: the parts it reads for every line of a log are
        # local cells, not attribute lookups on the matcher (5-10% of a benign line's cost).
        journal, screen_out = self._journal, self._screen_out
        buffered = self._search_buffered if self._multi or self._ignore_first else None
        pref = self._pref
        pref_search = pref.search if pref is not None else None
        pref_screen, pref_content = self._pref_screen, self._pref_content
        plan_get, plan_any = self._plan_by_first.get, self._plan_any
        settle, only, ignored = self._settle, self._only, self._ignored
        counted = None if self._details else self._counted
        lean = self._lean

        window, nothing, new = LAST_DATE_WINDOW, NOTHING, tuple.__new__
        proxy, failure_type, result_type = MappingProxyType, Failure, LineResult

        def step(state: FilterState, line: str, found: DateMatch | None,
                 now: float) -> LineResult:
            # fail2ban's processLine: the time the line gets, and the date text cut out of
            # it (line[start:end], when ``end``; the text searched is the rest)
            date: float | None
            start = end = 0
            if journal:
                state.last_date = date = now
            elif found is None:
                last = state.last_date
                date = last if last and last > now - window else None
            else:
                start, end, date, _ = found
                if start == end:
                    # An optional date matched nothing: reuse a recent one, else take "now".
                    last = state.last_date
                    date = last if last and last > now - window else now
                    start = end = 0
                elif date is not None:
                    state.last_date = date
                else:
                    # No valid date: reuse a recent one (the line is then searched whole).
                    last = state.last_date
                    if last and last > now - window:
                        date, start, end = last, 0, 0
            if buffered is not None:
                return buffered(state, line[:start] + line[end:] if end else line, line,
                                date, now)
            # fail2ban's findFailure for one line at a time (no buffer), the common case
            if screen_out is not None:
                # Lines holding none of the literals: see __init__. The literals hold no
                # newline, and a text that is the line or its end holds one only if the line
                # does: then the test needs no string made (a cut-out date at the start).
                seen = line if not start else line[:start] + line[end:]
                for literal in screen_out:
                    if literal in seen:
                        break
                else:
                    return nothing
                buf = (seen if not end or start else line[end:]) + "\n"
            elif not end:
                buf = line + "\n"
            elif start:
                buf = line[:start] + line[end:] + "\n"
            else:
                buf = line[end:] + "\n"
            pre: re.Match[str] | None = None
            if pref_search is not None:
                if pref_screen is not None and not pref_screen.admits(buf):
                    return nothing
                pre = pref_search(buf)
                if pre is None:
                    return nothing
                if pref_content:
                    start, end = pre.span("content")
                    if end > start:
                        # content + "\n", in one copy when the content ends the line
                        buf = buf[start:] if end == len(buf) - 1 else buf[start:end] + "\n"
            for key, screen, search, rx in plan_get(buf[0], plan_any):
                if key is not None and key not in buf:
                    continue
                if screen is not None and not screen.admits(buf):
                    continue
                m = search(buf)
                if m is None:
                    continue
                settled = settle(state, rx, m, pre, (line,), now, m.string)
                if settled is None:
                    buf = "\n"  # fail2ban: the next failregexes see an empty buffer
                    continue
                if type(settled) is int:
                    return ignored[rx.index][settled] if settled >= 0 else only[rx.index]
                assert isinstance(settled, tuple)
                if counted is not None:
                    return counted[rx.index]
                # tuple.__new__ straight away: a NamedTuple's own __new__ is a Python frame
                # (lean: the fields are a shared value already, see _settle)
                fields = settled[1] if lean else proxy(settled[1])
                hit = new(failure_type, (settled[0], date, fields, settled[2], rx.index))
                return new(result_type, ((hit,), rx.index, None, 1))
            return nothing

        return step

    def _search_buffered(self, state: FilterState, text: str, line: str,
                         date: float | None, now: float) -> LineResult:
        """findFailure with a multi-line buffer or early ignoreregexes."""
        multi = self._multi
        original: list[_Line] | None = None
        if multi:
            buffer = state.buffer
            buffer.append((text, line))
            del buffer[: -self._maxlines]
            original = list(buffer)
            buf = _joined(original)
        else:
            buf = text + "\n"
        if self._ignore_first:
            for ig in self._ignore:
                if ig.screen.admits(buf) and ig.search(buf) is not None:
                    return LineResult(ignoreregex=ig.index)
        pre: re.Match[str] | None = None
        if self._pref is not None:
            if self._pref_screen is not None and not self._pref_screen.admits(buf):
                return NOTHING
            pre = self._pref.search(buf)
            if pre is None:
                return NOTHING
            content = pre.group("content") if self._pref_content else None
            if content:
                if multi:
                    state.buffer = [(content, content)]
                buf = content + "\n"
        for key, screen, search, rx in self._plan_by_first.get(buf[0], self._plan_any):
            if key is not None and key not in buf:
                continue
            if screen is not None and not screen.admits(buf):
                continue
            m = search(buf)
            if m is None:
                continue
            if original is None:
                settled = self._settle(state, rx, m, pre, (line,), now, m.string)
            else:
                matched_ix, unmatched_ix = rx.split_lines(m, [ln[0] for ln in original])
                matched = [original[i] for i in matched_ix]
                state.buffer = [original[i] for i in unmatched_ix]
                settled = self._settle(state, rx, m, pre, tuple([ln[1] for ln in matched]),
                                       now, _joined(matched))
            if settled is None:
                buf = _joined(state.buffer) if multi else "\n"
                continue
            return self._result(rx, settled, date)
        return NOTHING

    def _result(self, rx: FilterRegex, settled: int | _Settled, date: float | None
                ) -> LineResult:
        """The line's result once failregex ``rx`` settled (see :meth:`_settle`)."""
        if type(settled) is int:
            if settled >= 0:
                return self._ignored[rx.index][settled]
            return self._only[rx.index]
        assert isinstance(settled, tuple)
        if not self._details:
            return self._counted[rx.index]
        fid, fields, matches = settled
        if not self._lean:
            fields = MappingProxyType(fields)
        return LineResult((Failure(fid, date, fields, matches, rx.index),), rx.index, None, 1)

    # (positional: it runs for every matched line, and keywords cost a call its fast path)
    def _settle(self, state: FilterState, rx: FilterRegex, m: re.Match[str],  # noqa: PLR0917
                pre: re.Match[str] | None, lines: tuple[str, ...], now: float, text: str
                ) -> int | _Settled | None:
        """What failregex ``rx`` matching ``text`` (the lines ``lines``) amounts to, with
        every effect on the sessions.

        None: try the next failregex; an int ``>= 0``: the ignoreregex that drops the match;
        ``_NO_FAILURE``: matched but no failure (yet); else ``(failure id, fields, matches)``,
        the fields a dictionary of the failure's own (lean: a shared mapping, no matches).
        """
        for ig in self._ignore:
            if ig.screen.admits(text) and ig.search(text) is not None:
                return ig.index
        fail = rx.groups(m)
        if pre is not None:
            assert self._pref_fields is not None
            groups = self._pref_fields(pre)
            if groups:
                groups.update(fail)
                fail = groups
        mlfid = fail.get("mlfid")
        if mlfid is None:
            if fail.get("nofail"):
                # Not a failure. Without a session fail2ban's own daemon would still count
                # it, but fail2ban-regex and its tests do not, and neither do we.
                return _NO_FAILURE
            fid = failure_id(fail)
            if fid is None:
                return None  # the id group did not take part: fail2ban moves on
            if self._lean:
                return fid, _lean_fields(fail), ()
            fail.pop("matches", None)  # (a capture of that name gives way to the lines)
            return fid, fail, lines
        fail = state.sessions.merge(mlfid, fail, lines, now)
        if fail.get("nofail"):
            return _NO_FAILURE  # not a failure yet
        fid = failure_id(fail)
        if fid is None:
            # A session line that names no host yet: the failure is pending on the session.
            fail["mlfpending"] = 1
            return _NO_FAILURE
        if not self._details:
            return fid, fail, lines  # counted only: nothing to copy
        if self._lean:
            return fid, _lean_fields(fail), ()  # nothing to copy either
        fields = dict(fail)  # the session's dict lives on: copy
        matches = fields.pop("matches")
        fields.pop("nofail-matches", None)
        users = fields.get("users")
        if isinstance(users, set):
            # (sorted only when there is an order to make: most sessions try one user)
            fields["users"] = tuple(users) if len(users) == 1 else tuple(sorted(users, key=str))
        assert isinstance(matches, list)
        return fid, fields, tuple(matches)
