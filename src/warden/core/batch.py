"""Many lines at once: fail2ban-regex's statistics (:func:`tally`) and the daemon's failures
(:class:`Scanner`), without a result object per line.

:func:`tally` feeds lines to a :class:`~warden.core.filter.Filter` exactly as
:meth:`Filter.process <warden.core.filter.Filter.process>` would, one after another, with the
same effect on its state (dates, sessions, last date), but only counts what happened. For the
common single-line filter the per-line steps of ``process``, ``process_dated`` and ``_find`` are
inlined here and no :class:`~warden.core.filter.Failure` is built; everything else (multi-line
buffers, journal mode, early ignoreregexes) goes through ``process`` itself. The inlined loop
must stay in step with ``Filter._find``: ``tests/cli/test_batch.py`` compares the two.
:meth:`Scanner.scan` is the same loop for the daemon: it returns the failures themselves
(built by the filter's own code), compared with ``process`` by ``tests/core/test_scanner.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from warden.core.datedetect import DateDetector
from warden.core.filter import _LAST_DATE_WINDOW, Failure, Filter
from warden.core.prefilter import text_screen

__all__ = ["Scanner", "Tally", "is_comment", "tally"]

# Lines handled per step (dates are found for a whole block first: see DateDetector.match_all).
_BLOCK = 2048


def is_comment(line: str) -> bool:
    """fail2ban-regex skips blank lines and lines starting with ``#`` (they are not counted)."""
    return not line or line[0] == "#"


class Tally:
    """fail2ban-regex's line statistics, and optionally the matched / missed lines."""

    __slots__ = ("fail_hits", "ignore_hits", "ignored", "lines", "matched", "matched_lines",
                 "missed", "missed_lines")

    def __init__(self, failregexes: int, ignoreregexes: int, *, keep_matched: bool = False,
                 keep_missed: bool = False) -> None:
        self.lines = self.matched = self.ignored = self.missed = 0
        self.fail_hits = [0] * failregexes
        self.ignore_hits = [0] * ignoreregexes
        self.matched_lines: list[str] | None = [] if keep_matched else None
        self.missed_lines: list[str] | None = [] if keep_missed else None

    def add(self, other: Tally) -> None:
        """Add the counts (and listed lines, after ours) of the lines that followed ours."""
        self.lines += other.lines
        self.matched += other.matched
        self.ignored += other.ignored
        self.missed += other.missed
        self.fail_hits = [a + b for a, b in zip(self.fail_hits, other.fail_hits, strict=True)]
        self.ignore_hits = [a + b for a, b in zip(self.ignore_hits, other.ignore_hits,
                                                  strict=True)]
        if self.matched_lines is not None and other.matched_lines is not None:
            self.matched_lines += other.matched_lines
        if self.missed_lines is not None and other.missed_lines is not None:
            self.missed_lines += other.missed_lines

    def counts(self) -> tuple[int, int, int, int]:
        """``(lines, ignored, matched, missed)``."""
        return self.lines, self.ignored, self.matched, self.missed


def tally(flt: Filter, lines: Iterable[str], now: float, into: Tally) -> None:
    """Process ``lines`` (line ends already stripped) with ``flt`` and count them ``into``."""
    if flt.journal or flt._multi or flt._ignore_first or not isinstance(flt._dates, DateDetector):
        _tally_generic(flt, lines, now, into)
    else:
        _tally_single(flt, lines, now, into)


def _tally_generic(flt: Filter, lines: Iterable[str], now: float, into: Tally) -> None:
    process = flt.process
    fail_hits, ignore_hits = into.fail_hits, into.ignore_hits
    matched_lines, missed_lines = into.matched_lines, into.missed_lines
    for line in lines:
        if not line or line[0] == "#":
            continue
        into.lines += 1
        result = process(line, now)
        if result.failregex is not None:
            fail_hits[result.failregex] += 1
        if result.ignoreregex is not None:
            ignore_hits[result.ignoreregex] += 1
            into.ignored += 1
        elif result.failures:
            into.matched += 1
            if matched_lines is not None:
                matched_lines.append(line)
        elif result.failregex is not None:
            into.ignored += 1
        else:
            into.missed += 1
            if missed_lines is not None:
                missed_lines.append(line)


def _tally_single(flt: Filter, lines: Iterable[str], now: float, into: Tally) -> None:
    """``process`` inlined for single-line filters (see ``Filter.process_dated``/``_find``)."""
    assert isinstance(flt._dates, DateDetector)
    maxlen = flt.max_line_length
    window = now - _LAST_DATE_WINDOW
    pref = flt._pref
    pref_search = pref.search if pref is not None else None
    pref_screen = flt._pref_screen
    pref_content = flt._pref_content
    plan_get = flt._plan_by_first.get
    plan_any = flt._plan_any
    settle = flt._settle
    fail_hits, ignore_hits = into.fail_hits, into.ignore_hits
    matched_lines, missed_lines = into.matched_lines, into.missed_lines
    last_text, last = flt._last_text, flt._last_date
    count = matched = ignored = missed = 0
    match_all = flt._dates.match_all
    # Lines holding none of these literals cannot be matched by any failregex, whatever part
    # of them a prefregex hands on: they skip the prefregex (see prefilter.text_screen).
    screen_out = text_screen([rx.pattern for rx in flt._fail])
    source = iter(lines)
    try:
        while block := list(islice(source, _BLOCK)):
            raw = [line for line in block if line and line[0] != "#"]
            if not raw:
                continue
            count += len(raw)
            cut = raw
            if max(map(len, raw)) > maxlen:
                cut = [line[:maxlen] for line in raw]
            for orig, line, found in zip(raw, cut, match_all(cut, now), strict=True):
                if found is None:
                    text = line
                else:
                    start, end, date = found[0], found[1], found[2]
                    if start == end:
                        text = line  # the date matched nothing: nothing to cut
                    elif date is not None:
                        last_text, last = line[start:end], date
                        text = line[end:] if start == 0 else line[:start] + line[end:]
                    elif last and last > window:
                        text = line  # no valid date: a recent one is reused, line kept whole
                    else:
                        text = line[:start] + line[end:]
                buf = text + "\n"
                if screen_out is not None:
                    # (the literals hold no newline: testing buf is testing text)
                    for literal in screen_out:
                        if literal in buf:
                            break
                    else:  # no failregex can match any part of this line
                        missed += 1
                        if missed_lines is not None:
                            missed_lines.append(orig)
                        continue
                pre = None
                if pref_search is not None:
                    if pref_screen is not None and not pref_screen.admits(buf):
                        pre = None
                    else:
                        pre = pref_search(buf)
                    if pre is None:
                        missed += 1
                        if missed_lines is not None:
                            missed_lines.append(orig)
                        continue
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
                    outcome = settle(rx, m, pre, [line], now)
                    if outcome is None:
                        buf = "\n"  # as Filter._find: the next failregexes see an empty buffer
                        continue
                    fail_hits[rx.index] += 1
                    if type(outcome) is tuple:
                        matched += 1
                        if matched_lines is not None:
                            matched_lines.append(orig)
                    else:
                        assert isinstance(outcome, int)
                        if outcome >= 0:
                            ignore_hits[outcome] += 1
                        ignored += 1
                    break
                else:
                    missed += 1
                    if missed_lines is not None:
                        missed_lines.append(orig)
    finally:
        flt._last_text, flt._last_date = last_text, last
        into.lines += count
        into.matched += matched
        into.ignored += ignored
        into.missed += missed


class Scanner:
    """One filter's failures for whole batches of lines (the daemon's read blocks).

    :meth:`scan` gives what :meth:`Filter.process` line by line gives, with the same effect on
    the filter's state; single-line filters with a :class:`DateDetector` take the inlined
    path (dates found for the block at once, lines holding none of the failregexes' literals
    skipped before the prefregex), every other filter goes line by line.
    """

    __slots__ = ("_fast", "_screen", "filter")

    def __init__(self, flt: Filter) -> None:
        self.filter = flt
        self._fast = not (flt.journal or flt._multi or flt._ignore_first
                          or not isinstance(flt._dates, DateDetector))
        # worked out once per filter: see prefilter.text_screen
        self._screen = text_screen([rx.pattern for rx in flt._fail]) if self._fast else None

    def scan(self, lines: Sequence[str], now: float) -> list[tuple[int, Failure]]:
        """The failures found in ``lines`` (line ends may be attached), each with the index of
        its line, in order."""
        flt = self.filter
        out: list[tuple[int, Failure]] = []
        if not self._fast:
            process = flt.process
            for i, line in enumerate(lines):
                hits = process(line, now).failures
                if hits:
                    out.extend((i, failure) for failure in hits)
            return out
        if not lines:
            return out
        cut = [flt.clean(line) for line in lines] if _needs_cleaning(
            lines, flt.max_line_length) else list(lines)
        assert isinstance(flt._dates, DateDetector)
        window = now - _LAST_DATE_WINDOW
        pref = flt._pref
        pref_search = pref.search if pref is not None else None
        pref_screen = flt._pref_screen
        pref_content = flt._pref_content
        plan_get = flt._plan_by_first.get
        plan_any = flt._plan_any
        failure = flt._failure
        screen_out = self._screen
        append = out.append
        # the date text of the last dated line, cut out only once at the end
        last_line, last_span = None, (0, 0)
        last_text, last = flt._last_text, flt._last_date
        try:
            for i, (line, found) in enumerate(zip(cut, flt._dates.match_all(cut, now),
                                                  strict=True)):
                # Filter.process_dated: which text is searched, and the time it gets
                date: float | None
                if found is None:
                    if last and last > window:
                        text, date = line, last
                    else:
                        text, date = line, None
                else:
                    start, end, date = found[0], found[1], found[2]
                    if start == end:
                        if last and last > window:
                            text, date = line, last
                        else:
                            text, date = line, now
                    elif date is not None:
                        last_line, last_span, last = line, (start, end), date
                        text = line[end:] if start == 0 else line[:start] + line[end:]
                    elif last and last > window:
                        text, date = line, last
                    else:
                        text = line[:start] + line[end:]
                buf = text + "\n"
                if screen_out is not None:
                    for literal in screen_out:
                        if literal in buf:
                            break
                    else:  # no failregex can match any part of this line
                        continue
                pre = None
                if pref_search is not None:
                    if pref_screen is not None and not pref_screen.admits(buf):
                        continue
                    pre = pref_search(buf)
                    if pre is None:
                        continue
                    if pref_content:
                        start, end = pre.span("content")
                        if end > start:
                            buf = buf[start:] if end == len(buf) - 1 else buf[start:end] + "\n"
                # Filter._find: the first failregex that settles wins
                for key, screen, search, rx in plan_get(buf[0], plan_any):
                    if key is not None and key not in buf:
                        continue
                    if screen is not None and not screen.admits(buf):
                        continue
                    m = search(buf)
                    if m is None:
                        continue
                    result = failure(rx, m, pre, line, (date, now))
                    if result is None:
                        buf = "\n"
                        continue
                    for one in result.failures:
                        append((i, one))
                    break
        finally:
            if last_line is not None:
                last_text = last_line[last_span[0]:last_span[1]]
            flt._last_text, flt._last_date = last_text, last
        return out


def _needs_cleaning(lines: Sequence[str], limit: int) -> bool:
    # sources hand out lines without their ends and already cut: usually nothing to do
    return max(map(len, lines)) > limit or any(
        line.endswith(("\n", "\r")) for line in lines)
