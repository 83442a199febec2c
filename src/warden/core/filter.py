"""The per-line filter state machine: fail2ban's ``processLine``/``findFailure``, sans I/O.

Feed every line of a log, in order, to one :class:`Filter` with :meth:`Filter.process`; it
returns a :class:`LineResult` with the failures found on that line.  State carried from line to
line, as in fail2ban: the last known date (reused by lines without one), the ``maxlines``
buffer, and the ``<F-MLFID>`` sessions that join the lines of one connection into one failure.

Per line, in fail2ban's order:

1. cut the line to ``max_line_length``; find its date and cut the date text out of it;
2. append it to the multi-line buffer, the text searched is the buffer joined with ``\\n``;
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
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

from warden.core.datedetect import DateDetector
from warden.core.failregex import ID_GROUPS, FilterRegex, compile_regex, failure_id
from warden.core.filterdef import FilterDefinition
from warden.core.sessions import Sessions
from warden.errors import RegexError

__all__ = ["DateSource", "Failure", "Filter", "LineResult"]

# How long a reused "last date" stays valid for a line without one (fail2ban: 60 s).
_LAST_DATE_WINDOW = 60.0


class _DateMatch(Protocol):
    """The parts of ``warden.core.datedetect.DateMatch`` the filter uses."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def time(self) -> float | None: ...


class DateSource(Protocol):
    """What the filter needs of a date detector (``warden.core.datedetect.DateDetector``)."""

    def match(self, line: str, now: float) -> _DateMatch | None:
        """The date found in ``line``, or ``None``."""


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
    is not (yet) a failure (``<F-NOFAIL>``, a session still waiting for its host).
    """

    failures: tuple[Failure, ...] = ()
    failregex: int | None = None
    ignoreregex: int | None = None

    @property
    def matched(self) -> bool:
        """True if a failregex matched the line (even if ignored or not yet a failure)."""
        return self.failregex is not None


_NOTHING = LineResult()
_EOL = ("\n", "\r")

# A buffered line: (text the regexes see, i.e. with the date cut out; the line as logged).
_Line = tuple[str, str]


def _joined(lines: list[_Line]) -> str:
    return "\n".join([ln[0] for ln in lines]) + "\n"


class Filter:
    """One filter instance: compiled regexes plus the state carried between lines."""

    def __init__(self, definition: FilterDefinition, *, dates: DateSource | None = None,
                 journal: bool = False, max_line_length: int = 8192) -> None:
        """Compile ``definition``; raise :class:`RegexError` for the first bad regex.

        ``dates`` finds dates in lines; by default a :class:`DateDetector` for the filter's
        ``datepattern`` and ``logtimezone``.  With ``journal=True`` there is no date detection
        and every line's time is ``now``.  Lines are cut to ``max_line_length`` characters
        before anything else looks at them.
        """
        if definition.maxlines < 1:
            raise RegexError("maxlines must be at least 1", option="maxlines")
        if dates is None and not journal:
            dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone)
        self.definition = definition
        self.journal = journal
        self.max_line_length = max_line_length
        self._dates = dates
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
        self._pref_screen = (None if self._pref is None or self._pref.screen.trivial
                             else self._pref.screen)
        # Results without failures are shared values, allocated once.
        self._only = tuple(LineResult(failregex=i) for i in range(len(self._fail)))
        self._buffer: list[_Line] = []
        self._last_text = ""
        self._last_date: float | None = None
        self._sessions = Sessions()

    @property
    def failregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled failregexes, in order."""
        return self._fail

    @property
    def ignoreregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled ignoreregexes, in order."""
        return self._ignore

    def decisive_state(self) -> tuple[object, ...] | None:
        """The filter's state between lines, as a comparable value; None if its date source
        cannot tell its own (only a :class:`DateDetector` can).

        Two filters of one definition with equal decisive states give identical results on the
        same lines, provided neither date detector moves a template (``reorders``) meanwhile.
        """
        dates = self._dates
        if dates is not None and not isinstance(dates, DateDetector):
            return None
        return (
            None if dates is None else dates.decisive_state(),
            self._last_date,
            tuple(self._buffer),
            tuple(self._sessions.items()),
        )

    def restore(self, state: tuple[object, ...], counts: list[tuple[int, float]]) -> None:
        """Take over the :meth:`decisive_state` of a filter of the same definition, and the
        date template statistics ``counts`` (see ``DateDetector.hit_counts``)."""
        dates_state, last_date, buffer, sessions = state
        if isinstance(self._dates, DateDetector):
            assert isinstance(dates_state, tuple)
            self._dates.restore(dates_state, counts)
        self._last_date = last_date  # type: ignore[assignment]
        self._buffer = list(buffer)  # type: ignore[call-overload]
        self._sessions.load(sessions)  # type: ignore[arg-type]

    def clean(self, line: str) -> str:
        """``line`` as the filter sees it: line end stripped, cut to ``max_line_length``."""
        if line.endswith(_EOL):
            line = line.rstrip("\r\n")
        if len(line) > self.max_line_length:
            line = line[: self.max_line_length]
        return line

    def process(self, line: str, now: float) -> LineResult:
        """Process the next log line (its line end may still be attached)."""
        if line.endswith(_EOL):
            line = line.rstrip("\r\n")
        if len(line) > self.max_line_length:
            line = line[: self.max_line_length]
        if self.journal:
            self._last_text, self._last_date = "", now
            return self._find(line, line, now, now)
        assert self._dates is not None
        return self.process_dated(line, self._dates.match(line, now), now)

    def process_dated(self, line: str, found: _DateMatch | None, now: float) -> LineResult:
        """Process the next line whose date was already looked up (``found``).

        For callers that share one date lookup among the filters of a file: ``line`` must be
        ``clean(line)`` and ``found`` what this filter's date source says about it.
        """
        if found is None:
            text, date = line, None
        else:
            start, end = found.start, found.end
            text = line[:start] + line[end:]
            if start != end:
                date = found.time
                if date is not None:
                    self._last_text, self._last_date = line[start:end], date
                    return self._find(text, line, date, now)
            else:
                # An optional date matched nothing: reuse a recent one, else assume "now".
                last = self._last_date
                if last and last > now - _LAST_DATE_WINDOW:
                    return self._find(line, line, last, now)
                return self._find(text, line, now, now)
        # No usable date: reuse a recent one (the line is then searched whole).
        last = self._last_date
        if last and last > now - _LAST_DATE_WINDOW:
            return self._find(line, line, last, now)
        return self._find(text, line, None, now)

    def _find(self, text: str, line: str, date: float | None, now: float) -> LineResult:
        if self._multi:
            buffer = self._buffer
            buffer.append((text, line))
            del buffer[: -self._maxlines]
            original = list(buffer)
            buf = _joined(original)
        else:
            # Single-line filters carry no buffer from line to line.
            original = None
            buf = text + "\n"
        if self._ignore_first:
            for ig in self._ignore:
                if ig.screen.admits(buf) and ig.search(buf) is not None:
                    return LineResult(ignoreregex=ig.index)
        pre: re.Match[str] | None = None
        if self._pref is not None:
            if self._pref_screen is not None and not self._pref_screen.admits(buf):
                return _NOTHING
            pre = self._pref.search(buf)
            if pre is None:
                return _NOTHING
            # Only the content is needed now; the other captures when a failregex matches.
            content = pre.group("content") if self._pref_content else None
            if content:
                if self._multi:
                    self._buffer = [(content, content)]
                buf = content + "\n"
        for key, screen, search, rx in self._plan_by_first.get(buf[0], self._plan_any):
            if key is not None and key not in buf:
                continue
            if screen is not None and not screen.admits(buf):
                continue
            m = search(buf)
            if m is None:
                continue
            result = self._failure(rx, m, pre, line if original is None else original,
                                   (date, now))
            if result is not None:
                return result
            buf = _joined(self._buffer) if self._multi else "\n"
        return _NOTHING

    def _failure(self, rx: FilterRegex, m: re.Match[str], pre: re.Match[str] | None,
                 original: list[_Line] | str, when: tuple[float | None, float]
                 ) -> LineResult | None:
        """The result of failregex ``rx`` matching, or None to try the next failregex.

        ``pre`` is the prefregex match, if any; ``original`` the line buffer before the match
        (just the line for single-line filters); ``when`` is ``(line time, now)``.
        """
        if isinstance(original, str):
            lines = [original]
            text = m.string
        else:
            matched_ix, unmatched_ix = rx.split_lines(m, [ln[0] for ln in original])
            matched = [original[i] for i in matched_ix]
            self._buffer = [original[i] for i in unmatched_ix]
            lines = [ln[1] for ln in matched]
            text = _joined(matched)
        found = self._settle(rx, m, pre, lines, when[1], text=text)
        if found is None:
            return None
        if type(found) is int:
            if found >= 0:
                return LineResult(failregex=rx.index, ignoreregex=found)
            return self._only[rx.index]
        assert isinstance(found, tuple)
        fid, fail, session = found
        if session:
            fields = dict(fail)  # the session's dict lives on: copy
            matches = fields.pop("matches")
            fields.pop("nofail-matches", None)
            users = fields.get("users")
            if isinstance(users, set):
                fields["users"] = tuple(sorted(users, key=str))
        else:
            fields = fail  # a fresh dict, ours alone
            matches = fields.pop("matches")
        assert isinstance(matches, list)
        failure = Failure(fid, when[0], MappingProxyType(fields), tuple(matches), rx.index)
        return LineResult((failure,), rx.index)

    def _settle(self, rx: FilterRegex, m: re.Match[str], pre: re.Match[str] | None,
                lines: list[str], now: float, *, text: str | None = None
                ) -> int | tuple[str, dict[str, object], bool] | None:
        """What failregex ``rx`` matching ``text`` amounts to, with every effect on the state.

        None: try the next failregex; an int ``>= 0``: the ignoreregex that drops the match;
        ``_NO_FAILURE``: matched but no failure (yet); else ``(failure id, captures, in a
        session)``, the captures holding ``matches`` (for a session, the session's own dict).
        Counting callers stop here and skip building the :class:`Failure`.
        """
        if self._ignore:
            if text is None:
                text = m.string
            for ig in self._ignore:
                if ig.screen.admits(text) and ig.search(text) is not None:
                    return ig.index
        fail = rx.groups(m)
        if pre is not None:
            assert self._pref is not None
            groups = self._pref.groups(pre)
            groups.pop("content", None)
            if groups:
                groups.update(fail)
                fail = groups
        mlfid = fail.get("mlfid")
        if mlfid is not None:
            fail = self._sessions.merge(mlfid, fail, lines, now)
        else:
            fail["matches"] = lines
        if fail.get("nofail"):
            # Not a failure (yet).  Without a session fail2ban's own daemon would still count
            # it, but fail2ban-regex and its tests do not, and neither do we.
            return _NO_FAILURE
        fid = failure_id(fail)
        if fid is None:
            if mlfid is None:
                return None  # the id group did not take part: fail2ban moves on
            # A session line that names no host yet: the failure is pending on the session.
            fail["mlfpending"] = 1
            return _NO_FAILURE
        return fid, fail, mlfid is not None


_NO_FAILURE = -1
